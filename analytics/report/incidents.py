"""Incidents: related findings grouped into one, each with the toolkit command to run next.

One attack shows as several findings (a mass delete, a delete spike in the prefix it emptied, a
new requester, a new source IP); on call, they are one thing to handle. Two findings are related
when they name the same actor (requester or source IP) or the same place (bucket and prefix), at
times no more than NEAR apart; relation is transitive, so each incident is a connected group.
Everything is read from the findings alone (evidence `requester`, `source_ip`, `prefix`, sample
keys, and the finding's bucket and first and last sighting), so a detector added later groups
with the others as soon as its evidence names those facts.

An AWS service principal (S3 Lifecycle's s3.amazonaws.com, GuardDuty's role) is the same name in
every bucket, for unrelated rules and scans: it relates findings of one bucket only.

Each incident carries next steps: `s3meta` commands, shell-quoted, chosen by what its findings
found (a mass delete: the restore plan for exactly that actor and time; a new IP: what it did).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from ..detectors import Finding, severity_rank, worst_first
from ..values import display, jsonable

NEAR = timedelta(hours=1)  # findings this close in time (or overlapping) can be one incident
MAX_STEPS = 3
SECOND = timedelta(seconds=1)


# --- what a finding names ------------------------------------------------------------------------

@dataclass(frozen=True)
class Facts:
    """The grouping keys of one finding."""

    bucket: str | None
    requester: str | None
    source_ip: str | None
    prefix: str | None
    first_seen: datetime | None
    last_seen: datetime | None


def facts(f: Finding) -> Facts:
    ev = f.evidence
    return Facts(f.bucket, _text(ev.get("requester")), _text(ev.get("source_ip")), _prefix(ev),
                 f.first_seen or _time(ev.get("first_seen")), f.last_seen or _time(ev.get("last_seen")))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def top_level(key: str) -> str:
    """A key's top-level prefix as the report's queries compute it: up to its first '/', or ''."""
    return key[: key.index("/") + 1] if "/" in key else ""


def _prefix(ev: dict[str, Any]) -> str | None:
    """The prefix a finding is about: its evidence's, else the one top-level prefix all its keys share."""
    if isinstance(ev.get("prefix"), str):
        return ev["prefix"]
    keys = [k for k in ([ev.get("key")] + list(ev.get("sample_keys") or [])) if isinstance(k, str)]
    shared = {top_level(k) for k in keys}
    return shared.pop() if len(shared) == 1 else None


def _service(requester: str) -> bool:
    return requester.endswith(".amazonaws.com")


def related(a: Facts, b: Facts, near: timedelta = NEAR) -> bool:
    """Whether two findings are about one thing: the same actor or place, at (nearly) the same time."""
    if a.first_seen and b.first_seen and a.last_seen and b.last_seen:
        if a.last_seen + near < b.first_seen or b.last_seen + near < a.first_seen:
            return False
    same_bucket = a.bucket is None or b.bucket is None or a.bucket == b.bucket
    if a.requester and a.requester == b.requester and (same_bucket or not _service(a.requester)):
        return True
    if a.source_ip and a.source_ip == b.source_ip:
        return True
    if same_bucket and a.prefix is not None and b.prefix is not None:
        if a.prefix == b.prefix:
            return True
        return bool(a.prefix and b.prefix) and (a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix))
    return False


# --- incidents -------------------------------------------------------------------------------------

@dataclass
class Step:
    """One thing to run next: the command as typed (shell-quoted), its argv, and why."""

    why: str
    argv: list[str]

    @property
    def command(self) -> str:
        return " ".join(shell_quote(a) for a in self.argv)

    def words(self) -> list[str]:
        """The command in pieces a line may break between: the program and its subcommand, then each
        option with its value (so a narrow screen never splits `-p` from what follows it)."""
        pieces: list[list[str]] = [[]]
        for a in self.argv:
            if a.startswith("-") and pieces[-1] and (len(pieces) > 1 or pieces[0]):
                pieces.append([])
            pieces[-1].append(shell_quote(a))
        return [" ".join(p) for p in pieces]

    def options(self) -> dict[str, str]:
        """The command's options and query parameters by name (`--ip X` and `-p ip=X` both give ip),
        to make the same call through the API: `restore.plan(session, **step.options())`."""
        out: dict[str, str] = {}
        args = iter(self.argv[2:])
        for a in args:
            if a == "-p":
                name, _, value = next(args, "").partition("=")
            elif a.startswith("--"):
                name, eq, value = a[2:].partition("=")
                value = value if eq else next(args, "")
            else:
                continue  # the query's name
            out[name.replace("-", "_")] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "argv": list(self.argv), "why": self.why}


@dataclass
class Incident:
    """Related findings (worst first) and what to run next."""

    number: int
    findings: list[Finding]
    steps: list[Step] = field(default_factory=list)

    @property
    def worst(self) -> Finding:
        return self.findings[0]

    @property
    def severity(self) -> str:
        return self.worst.severity

    @property
    def title(self) -> str:
        return self.worst.title

    @property
    def new(self) -> bool:
        return any(f.new for f in self.findings)

    @property
    def id(self) -> str:
        """Stable while the same findings make it up: a hash of their fingerprints."""
        joined = ",".join(sorted(f.fingerprint for f in self.findings))
        return hashlib.sha256(joined.encode("ascii")).hexdigest()[:16]

    def _all(self, name: str) -> list[Any]:
        values = [getattr(facts(f), name) for f in self.findings]
        return sorted({v for v in values if v is not None})

    @property
    def buckets(self) -> list[str]:
        return sorted({f.bucket for f in self.findings if f.bucket})

    @property
    def requesters(self) -> list[str]:
        return self._all("requester")

    @property
    def source_ips(self) -> list[str]:
        return self._all("source_ip")

    @property
    def prefixes(self) -> list[str]:
        return self._all("prefix")

    @property
    def first_seen(self) -> datetime | None:
        return min(self._all("first_seen"), default=None)

    @property
    def last_seen(self) -> datetime | None:
        return max(self._all("last_seen"), default=None)

    def to_dict(self) -> dict[str, Any]:
        first, last = self.first_seen, self.last_seen
        return {"id": self.id, "number": self.number, "severity": self.severity, "title": self.title,
                "new": self.new, "buckets": self.buckets, "requesters": self.requesters,
                "source_ips": self.source_ips, "prefixes": self.prefixes,
                "first_seen": jsonable(first), "last_seen": jsonable(last),
                "duration_seconds": (last - first).total_seconds() if first and last else None,
                "findings": [f.fingerprint for f in self.findings],
                "next_steps": [s.to_dict() for s in self.steps]}


def group(findings: Iterable[Finding], near: timedelta = NEAR) -> list[Incident]:
    """Related findings as incidents, worst first; each finding is in exactly one incident."""
    items = list(findings)
    known = [facts(f) for f in items]
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if root(i) != root(j) and related(known[i], known[j], near):
                parent[root(j)] = root(i)
    groups: dict[int, list[Finding]] = {}
    for i, f in enumerate(items):
        groups.setdefault(root(i), []).append(f)
    ordered = sorted((worst_first(g) for g in groups.values()), key=_rank)
    incidents = [Incident(n, members) for n, members in enumerate(ordered, 1)]
    for incident in incidents:
        incident.steps = next_steps(incident)
    return incidents


def _rank(members: list[Finding]) -> tuple:
    worst = members[0]
    first = min((f.first_seen for f in members if f.first_seen), default=datetime.max)
    return (-severity_rank(worst.severity), -sum(1 for f in members if f.severity == worst.severity),
            -len(members), first, worst.detector, worst.title)


# --- next steps ------------------------------------------------------------------------------------

def shell_quote(arg: str) -> str:
    """`arg` as one shell word that shows what it is: plain quoting (shlex), or bash's $'...' with
    escapes when it holds a control or bidirectional character, which would otherwise break the line
    or make the text display as something else."""
    if display(arg, width=len(arg) + 1) == arg:
        return shlex.quote(arg)
    out = []
    for ch in arg:
        code = ord(ch)
        if ch in "\\'":
            out.append("\\" + ch)
        elif display(ch) != ch:
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def _stamp(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat()


def _span(f: Finding) -> list[str] | None:
    """--since/--until covering the finding: from its first second to one second past its last (exclusive)."""
    known = facts(f)
    if known.first_seen is None or known.last_seen is None:
        return None
    return [_stamp(known.first_seen), _stamp(known.last_seen.replace(microsecond=0) + SECOND)]


def _option(name: str, value: str) -> list[str]:
    # A value that starts with '-' would be read as an option: glue it to its flag.
    return [f"{name}={value}"] if value.startswith("-") else [name, value]


def _query(name: str, why: str, **params: str | None) -> Step:
    argv = ["s3meta", "query", name]
    for key, value in params.items():
        if value is not None:
            argv += ["-p", f"{key}={value}"]
    return Step(why, argv)


def _restore(f: Finding, incident: Incident) -> list[Step]:
    """The restore plan for the markers of exactly this actor, bucket and time."""
    span, known, ev = _span(f), facts(f), f.evidence
    if span is None or not (known.requester or known.source_ip):
        return []
    argv = ["s3meta", "restore-plan"]
    if ev.get("actor_type") == "ip" or not known.requester:
        argv += _option("--ip", known.source_ip or "")
    else:
        argv += _option("--requester", known.requester)
        ips = ev.get("source_ips")
        if known.source_ip and (not isinstance(ips, dict) or len(ips) <= 1):
            argv += _option("--ip", known.source_ip)  # its only address: the plan cannot miss a marker
    if f.bucket:
        argv += _option("--bucket", f.bucket)
    argv += ["--since", span[0], "--until", span[1], "--output", f"incident-{incident.number}"]
    return [Step("Write the restore plan for these delete markers: incident-"
                 f"{incident.number}.json to review, incident-{incident.number}.sh to run (nothing is run "
                 "against S3 until you run it).", argv)]


def _who_deleted(f: Finding, incident: Incident) -> list[Step]:
    span = _span(f)
    if span is None:
        return []
    return [_query("delete_markers_by_actor", "See who placed the delete markers, per requester and source IP.",
                   since=span[0], until=span[1], bucket=f.bucket)]


def _permanent_deletes(f: Finding, incident: Incident) -> list[Step]:
    span = _span(f)
    if span is None:
        return []
    return [_query("recent_deletes", "List the permanent deletes (the journal records no requester for them: "
                   "match keys and times in CloudTrail data events).", since=span[0], until=span[1],
                   bucket=f.bucket)]


def _actor(f: Finding, incident: Incident) -> list[Step]:
    span, known = _span(f), facts(f)
    if span is None:
        return []
    if known.requester and not _service(known.requester):
        return [_query("requester_activity", f"See everything {known.requester} did in that time.",
                       requester=known.requester, since=span[0], until=span[1])]
    if known.source_ip:
        return [_query("ip_activity", f"See everything done from {known.source_ip} in that time.",
                       ip=known.source_ip, since=span[0], until=span[1])]
    return []


def _ip(f: Finding, incident: Incident) -> list[Step]:
    span, known = _span(f), facts(f)
    if span is None or not known.source_ip:
        return _actor(f, incident)
    return [_query("ip_activity", f"See everything done from {known.source_ip} in that time.",
                   ip=known.source_ip, since=span[0], until=span[1])]


def _unencrypted(f: Finding, incident: Incident) -> list[Step]:
    span = _span(f)
    if span is None:
        return []
    prefix = f.evidence.get("prefix") if isinstance(f.evidence.get("prefix"), str) else None
    return [_query("unencrypted_uploads", "List the uploads stored unencrypted, with who wrote them.",
                   since=span[0], until=span[1], bucket=f.bucket, prefix=prefix or None)]


def _downgrade(f: Finding, incident: Incident) -> list[Step]:
    span = _span(f)
    if span is None:
        return []
    return [_query("detect_encryption_changes", "List each overwrite with its previous and new encryption.",
                   since=span[0], until=span[1])]


def _malware(f: Finding, incident: Incident) -> list[Step]:
    key = f.evidence.get("key")
    if isinstance(key, str) and "\x00" not in key:
        return [_query("key_version_history", "See who wrote this object, from where, and every change since.",
                       key=key, bucket=f.bucket), *_actor(f, incident)]
    span = _span(f)
    if span is None:
        return []
    return [_query("malware_scan_results", "List the scans with this status and who uploaded each object.",
                   since=span[0], until=span[1], bucket=f.bucket, status=_text(f.evidence.get("scan_status")))]


# What to run next, by detector; any other detector (a rule, a detector added later) gets _actor.
STEPS: dict[str, Callable[[Finding, Incident], list[Step]]] = {
    "mass_delete": _restore,
    "slow_deletes": _restore,
    "delete_spike": _who_deleted,
    "unattributed_deletes": _permanent_deletes,
    "new_requester": _actor,
    "change_surge": _actor,
    "new_source_ip": _ip,
    "unencrypted_upload": _unencrypted,
    "encryption_rule": _unencrypted,
    "encryption_downgrade": _downgrade,
    "malware": _malware,
}


def next_steps(incident: Incident) -> list[Step]:
    """Up to MAX_STEPS commands, from the worst finding down. The same command for several findings
    (the same query over other times) is given once, over the span that covers them all; a command
    with a value bash cannot carry (a NUL) is left out."""
    steps: list[Step] = []
    for f in incident.findings:
        for step in STEPS.get(f.detector, _actor)(f, incident):
            if any("\x00" in a for a in step.argv):
                continue
            same = next((s for s in steps if _shape(s.argv) == _shape(step.argv)), None)
            if same is None:
                steps.append(step)
            else:
                same.argv = _cover(same.argv, step.argv)
    return steps[:MAX_STEPS]


_TIMES = {"--since": min, "--until": max, "since=": min, "until=": max}


def _time_slots(argv: list[str]) -> dict[int, tuple[str, Callable]]:
    """Which argv positions hold a time (the value after --since/--until, or a -p since=/until=)."""
    slots = {}
    for n, a in enumerate(argv):
        if a in ("--since", "--until") and n + 1 < len(argv):
            slots[n + 1] = ("", _TIMES[a])
        elif a.startswith(("since=", "until=")) and n and argv[n - 1] == "-p":
            slots[n] = (a[:6], _TIMES[a[:6]])
    return slots


def _shape(argv: list[str]) -> tuple:
    slots = _time_slots(argv)
    return tuple(None if n in slots else a for n, a in enumerate(argv))


def _cover(a: list[str], b: list[str]) -> list[str]:
    """`a` with its times widened to cover `b`'s (ISO 8601 strings of one form compare as times)."""
    out = list(a)
    for n, (head, pick) in _time_slots(a).items():
        out[n] = head + pick(a[n][len(head):], b[n][len(head):])
    return out


__all__ = ["Facts", "Incident", "NEAR", "STEPS", "Step", "facts", "group", "next_steps", "related", "shell_quote",
           "top_level"]
