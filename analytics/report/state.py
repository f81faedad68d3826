"""Report state between scheduled runs: watermark, first-seen sets, reported findings, and a lock.

The state is one JSON file (`s3meta report --state FILE`), always replaced atomically, so a crash
mid-write leaves the previous state whole. Beside it, FILE.lock is flock()ed by the run that owns
it; a second run refuses to start while it is held (exit 3). The kernel drops the lock when its
holder exits, so a crash or a reboot leaves nothing to clean up.

FILE is resolved to its real path once, so a state reached through a symbolic link is locked and
written where it lives (the link stays a link, and runs naming the link or its target exclude each
other). Every write holds the lock and checks that the file is still the one this state was read
from: a run never overwrites what another run recorded meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..errors import BadInput, EngineError
from ..files import atomic_write, remove_leftovers

if TYPE_CHECKING:
    from ..detectors import Finding
    from .run import Report

FORMAT_VERSION = 1


class StateLocked(EngineError):
    """Another run holds the state's lock (exit 3: try again later; nothing was changed)."""


class StateChanged(EngineError):
    """The state file changed after this run read it: another run recorded itself (exit 3; not overwritten)."""


def real_path(path: str | os.PathLike) -> Path:
    """The state file's real path: symbolic links (of the file and its folders) resolved, once."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise BadInput(f"cannot resolve state file {path}: {exc}") from None


def _revision(path: Path) -> str | None:
    """A digest of the file's bytes (None when it does not exist): what a later write compares."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def event_id(bucket: str, key: str, sequence_number: str) -> str:
    """A short stable id for one journal record: (bucket, key, sequence_number) is unique."""
    return hashlib.sha256("\0".join((bucket, key, sequence_number)).encode("utf-8")).hexdigest()[:20]


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class State:
    """What one run leaves for the next. Times are naive UTC, like the journal's."""

    path: Path | None = None
    watermark: datetime | None = None
    first_seen_ips: dict[str, datetime] = field(default_factory=dict)
    first_seen_requesters: dict[str, datetime] = field(default_factory=dict)
    reported: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> facts of the last report
    events: dict[str, datetime] = field(default_factory=dict)  # event_id -> record_timestamp, already reported
    runs: int = 0
    revision: str | None = field(default=None, repr=False)  # digest of the file as read (None: no file)
    _held: bool = field(default=False, repr=False)  # this process holds the lock (State.locked)

    def __post_init__(self) -> None:
        if self.path is not None:
            self.path = real_path(self.path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "State":
        """The state in `path` (its real path); an empty state when the file does not exist yet."""
        target = real_path(path)
        if not target.exists():
            return cls(path=target)
        if not target.is_file():
            raise BadInput(f"cannot read state file {target}: not a regular file")
        try:
            raw = target.read_bytes()
            doc = json.loads(raw.decode("utf-8"))
            if doc.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"unsupported format_version {doc.get('format_version')!r}")
            return cls(
                path=target, watermark=_time(doc.get("watermark")),
                first_seen_ips={k: _time(v) for k, v in doc.get("first_seen_ips", {}).items()},
                first_seen_requesters={k: _time(v) for k, v in doc.get("first_seen_requesters", {}).items()},
                reported=dict(doc.get("reported", {})),
                events={k: _time(v) for k, v in doc.get("events", {}).items()},
                runs=int(doc.get("runs", 0)), revision=hashlib.sha256(raw).hexdigest())
        except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
            raise BadInput(f"cannot read state file {target}: {exc}") from exc

    def to_json(self) -> str:
        doc = {
            "format_version": FORMAT_VERSION,
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "runs": self.runs,
            "first_seen_ips": {k: v.isoformat() for k, v in sorted(self.first_seen_ips.items())},
            "first_seen_requesters": {k: v.isoformat() for k, v in sorted(self.first_seen_requesters.items())},
            "reported": dict(sorted(self.reported.items())),
            "events": {k: v.isoformat() for k, v in sorted(self.events.items())},
        }
        return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"

    @classmethod
    @contextlib.contextmanager
    def locked(cls, path: str | os.PathLike) -> Iterator["State"]:
        """Hold the state's lock, and yield the state read under it; saves inside need no other lock."""
        with lock(path):
            state = cls.load(path)
            state._held = True
            try:
                yield state
            finally:
                state._held = False

    def save(self, path: str | os.PathLike | None = None) -> None:
        """Write the state atomically, under its lock: the previous file stays whole if anything fails.

        StateChanged if the file is no longer the one this state was read from (another run has
        recorded itself since): it is left as it is rather than overwritten.
        """
        with self.updating(path):
            pass

    @contextlib.contextmanager
    def updating(self, path: str | os.PathLike | None = None) -> Iterator["State"]:
        """Take the lock (unless held), check the file is the one read, let the caller change the state, save it.

        Nothing is changed in memory or on disk when the lock is held elsewhere or the file has changed.
        """
        target = real_path(path) if path is not None else self.path
        if target is None:
            raise ValueError("state has no path")
        with contextlib.nullcontext() if self._held and target == self.path else lock(target):
            if target == self.path and _revision(target) != self.revision:
                raise StateChanged(f"state {target} was changed by another run after this one read it: "
                                   "not overwritten; run the report again")
            yield self
            try:
                with atomic_write(target) as fh:
                    text = self.to_json()
                    fh.write(text)
            except OSError as exc:
                raise EngineError(f"cannot write state file {target}: {exc.strerror or exc}") from exc
            if target == self.path:
                self.revision = hashlib.sha256(text.encode("utf-8")).hexdigest()

    # --- the rules a run follows --------------------------------------------------------------------
    def is_new(self, finding: "Finding", renotify_after: timedelta) -> bool:
        """Whether `finding` should page: never reported, or quiet for `renotify_after` since it last was."""
        previous = self.reported.get(finding.fingerprint)
        if previous is None:
            return True
        last = _time(previous.get("last_seen"))
        if last is None or finding.first_seen is None:
            return False
        return finding.first_seen - last > renotify_after

    def record(self, report: "Report") -> None:
        """Record a finished run: sightings, reported findings and events, watermark, then prune."""
        ips, requesters = report.sightings
        self.see(dict(ips), dict(requesters))
        for f in report.findings:
            previous = self.reported.get(f.fingerprint, {})
            last = max(filter(None, [f.last_seen, _time(previous.get("last_seen"))]), default=None)
            self.reported[f.fingerprint] = {
                "detector": f.detector, "bucket": f.bucket, "severity": f.severity, "title": f.title,
                "first_reported": previous.get("first_reported", report.generated_at.isoformat()),
                "last_seen": last.isoformat() if last else None}
            self.remember_events(((e, f.last_seen or report.until) for e in f.events))
        config = report.config
        if self.watermark is not None and self.watermark > report.generated_at + config.clock_skew:
            # A watermark after now came from a future --until or a wrong clock: a run given an
            # explicit --since replaces it rather than keeping it as the maximum.
            self.watermark = report.until
        self.watermark = max(filter(None, [self.watermark, report.until]))
        self.runs += 1
        self.prune(keep_events_after=report.until - config.overlap - timedelta(days=1),
                   keep_reported_after=report.until - config.state_retention)

    # --- updates after a successful run ---------------------------------------------------------
    def see(self, ips: dict[str, datetime], requesters: dict[str, datetime]) -> None:
        """Remember first sightings (the earliest time wins)."""
        for name, seen in (("first_seen_ips", ips), ("first_seen_requesters", requesters)):
            known = getattr(self, name)
            for value, first in seen.items():
                if value is not None and (value not in known or first < known[value]):
                    known[value] = first

    def remember_events(self, events: Iterable[tuple[tuple[str, str, str], datetime]]) -> None:
        for (bucket, key, seq), at in events:
            self.events[event_id(bucket, key, seq)] = at

    def prune(self, keep_events_after: datetime, keep_reported_after: datetime) -> None:
        """Forget events no later run can re-read, and findings not seen for a long time."""
        self.events = {k: v for k, v in self.events.items() if v >= keep_events_after}
        self.reported = {k: v for k, v in self.reported.items()
                         if (_time(v.get("last_seen")) or keep_reported_after) >= keep_reported_after}


# --- the lock ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def lock(state_path: str | os.PathLike) -> Iterator[Path]:
    """Hold STATE.lock for the duration; StateLocked if another run holds it.

    An advisory flock on STATE.lock beside the state's real path: the kernel releases it when its
    holder exits, however it exits, so a crash or a reboot leaves no stale lock to detect and no
    race in taking one over. The file also records "PID HOST TIME" of the holder, for the message
    a second run prints. It is opened with O_NOFOLLOW and must be a regular file: a lock planted as
    a symbolic link would otherwise have its target overwritten with that line. Once the lock is
    held, no other run writes the state, so temporary files a killed run left beside it are removed.
    (flock is local: put the state on a local file system, not NFS.)
    """
    state = real_path(state_path)
    path = state.with_name(state.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadInput(f"state lock {path} is a symbolic link: refusing to follow it (remove it; "
                           "the report creates the lock file itself)") from None
        raise EngineError(f"cannot open state lock {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadInput(f"state lock {path} is not a regular file: remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            who = f"process {holder[0]} on {holder[1]} since {holder[2]}" if holder else "another process"
            raise StateLocked(f"state {state} is locked by {who}: another report is running") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {datetime.now().isoformat(timespec='seconds')}\n"
                  .encode("utf-8"), 0)
        remove_leftovers(state)
        yield path
    finally:
        os.close(fd)  # closing releases the flock


def _holder(fd: int) -> tuple[int, str, str] | None:
    try:
        parts = os.pread(fd, 512, 0).decode("utf-8").split()
        return int(parts[0]), parts[1], parts[2] if len(parts) > 2 else "?"
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        return None


__all__ = ["State", "StateChanged", "StateLocked", "lock", "event_id", "real_path"]
