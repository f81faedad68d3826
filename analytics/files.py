"""Atomic file writes: write beside the target, then rename, so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import os
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
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
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
