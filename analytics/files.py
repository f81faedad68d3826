"""Atomic file writes: write beside the target, then rename, so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """Open a temporary file in `path`'s folder; on success it replaces `path`, on error it vanishes.

    A device or named pipe (/dev/stdout, a FIFO) is written in place: a rename would replace the
    device node itself (root may even replace /dev/null), and a reader on the pipe gets nothing.
    """
    target = Path(path)
    mode, text = ("wb", {}) if binary else ("w", {"encoding": "utf-8", "newline": ""})
    if target.exists() and not target.is_file() and not target.is_dir():
        with open(target, mode, **text) as fh:
            yield fh
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **text) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _prefix(target: Path) -> str:
    return f".{target.name}."


def remove_leftovers(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files atomic_write left beside `path` when its writer was killed.

    A process killed with SIGKILL (or by a power cut) between mkstemp and the rename cannot clean
    up. Call this only while no other writer of `path` can be running (the report calls it under
    the state's lock): a live writer's temporary file looks the same. Only names atomic_write
    makes (".NAME." + tempfile's 8 random characters + ".tmp") are removed; returns their names.
    """
    target = Path(path)
    pattern = re.compile(re.escape(_prefix(target)) + r"[a-z0-9_]{8}\.tmp")
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(target.parent):
            if pattern.fullmatch(entry.name) and not entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed
