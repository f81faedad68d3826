"""Whether Parquet files share one schema, told from a few bytes of each footer.

A folder of ten thousand small files needs the answer before DuckDB reads it (2025 and 2026 exports
side by side are read by column name), and asking DuckDB (parquet_schema) reads and decodes every
footer: as much work again as the scan itself. Files that one writer wrote with one schema have
byte-identical schemas, though. A footer is Thrift's compact encoding of FileMetaData, whose first
two fields are the format version and the schema; this module decodes them in the first file only,
then compares that many bytes at the start of every other footer: two preads a file, about 1/50 of
DuckDB's own pass over tiny files.

Equal bytes mean an equal schema, since decoding is deterministic and the encoding says where each
field ends. Unequal bytes prove nothing (another writer, another version number): the caller then
asks DuckDB, which compares column names. Any surprise here (a short file, an encrypted footer, an
unexpected first field) answers False for the same reason, never an error.
"""

from __future__ import annotations

import os

_MAGIC = b"PAR1"  # an encrypted footer ends in PARE instead: never compared here
# Compact protocol type ids: field headers carry a bool's value, a list's bool elements take a byte.
_BOOLS, _BYTE, _INTS, _DOUBLE, _BINARY, _LISTS, _MAP, _STRUCT = (1, 2), 3, (4, 5, 6), 7, 8, (9, 10), 11, 12
_I32, _LIST = 5, 9
_READ_AT_MOST = 1 << 20  # of the first footer: a schema of thousands of columns takes a tenth of it


def same_schema(files: list[str]) -> bool:
    """True when every file's footer holds the first file's schema, byte for byte; False when that
    is not so or cannot be told this way (then compare the schemas by their meaning)."""
    try:
        first = _footer(files[0], _READ_AT_MOST, exact=False)
        end = _schema_end(first) if first is not None else None
        if end is None:
            return False
        prefix = first[:end]
        return all(_footer(path, len(prefix)) == prefix for path in files[1:])
    except (OSError, IndexError, ValueError, RecursionError):
        return False


def _footer(path: str, length: int, exact: bool = True) -> bytes | None:
    """The first `length` bytes of the file's footer (FileMetaData), or all of a shorter one unless
    `exact`; None if the file is not plain Parquet or its footer is shorter than an exact length."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size < 12:
            return None
        tail = os.pread(fd, 8, size - 8)
        footer = int.from_bytes(tail[:4], "little")
        if tail[4:] != _MAGIC or footer > size - 12:
            return None
        if length > footer:
            if exact:
                return None
            length = footer
        return os.pread(fd, length, size - 8 - footer)
    finally:
        os.close(fd)


def _schema_end(footer: bytes) -> int | None:
    """Where FileMetaData's field 2 (the schema) ends, when fields 1 (version) and 2 come first."""
    pos = 0
    for kind in (_I32, _LIST):  # fields 1 and 2, each a delta of 1 from the last field id
        header = footer[pos]
        pos += 1
        if header != (1 << 4 | kind):
            return None
        pos = _skip(footer, pos, kind)
    return pos


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _skip(buf: bytes, pos: int, kind: int) -> int:
    """The position after a value of compact type `kind` that starts at `pos`."""
    if kind in _BOOLS or kind == _BYTE:
        return pos + 1
    if kind in _INTS:
        return _varint(buf, pos)[1]
    if kind == _DOUBLE:
        return pos + 8
    if kind == _BINARY:
        size, pos = _varint(buf, pos)
        return pos + size
    if kind in _LISTS:
        header = buf[pos]
        pos += 1
        size, element = header >> 4, header & 0x0F
        if size == 15:
            size, pos = _varint(buf, pos)
        for _ in range(size):
            pos = _skip(buf, pos, element)
        return pos
    if kind == _MAP:
        size, pos = _varint(buf, pos)
        if size:
            types = buf[pos]
            pos += 1
            for _ in range(size):
                pos = _skip(buf, _skip(buf, pos, types >> 4), types & 0x0F)
        return pos
    if kind == _STRUCT:
        while True:
            header = buf[pos]
            pos += 1
            if header == 0:  # the struct's end
                return pos
            if header >> 4 == 0:  # a field id too far from the last for a delta: given in full
                pos = _varint(buf, pos)[1]
            if header & 0x0F not in _BOOLS:  # a bool field's value is its header's type
                pos = _skip(buf, pos, header & 0x0F)
    raise ValueError(f"unknown Thrift compact type {kind}")
