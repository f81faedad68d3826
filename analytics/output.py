"""Writing answers as table, csv, json, jsonl, markdown or parquet: batch by batch, never truncated silently.

An answer is a pyarrow Table, or a stream of record batches with a schema (a RecordBatchReader, or an
engine's Stream). Every format but the table reads it front to back once and writes each batch as it
comes, converted by vectorized code (analytics.values), so memory does not grow with the answer. The
table format reads only the rows it shows.
"""

from __future__ import annotations

import collections
import html
import json
import os
import shutil
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

import pyarrow as pa

from . import kernels as pc
from .values import display, display_texts, field_texts, join, json_texts, literal, replace_chars, strings

FORMATS = ("table", "csv", "json", "jsonl", "markdown", "parquet")
BINARY_FORMATS = frozenset({"parquet"})
# Input bytes converted to text at once: bounds the memory a batch takes, and keeps a batch's text
# within the 2 GiB that a string array's 32-bit offsets address.
TEXT_BATCH_BYTES = 16 << 20
ROW_GROUP_ROWS = 122_880  # DuckDB's own row group size, so files read back as fast as its own
WORKERS = min(2, os.cpu_count() or 1)  # pyarrow.compute releases the GIL: convert on both cores
_MARKDOWN_ESCAPES = [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")]  # as html.escape(quote=False)


def write(answer: Any, fmt: str, out: IO[bytes], max_rows: int | None = None, width: int | None = None) -> None:
    """Write `answer` to the binary stream `out`. `max_rows` and `width` (the terminal's) apply to the
    table format only."""
    if fmt == "table":
        out.write(text_table(head(answer, max_rows), width).encode("utf-8"))
        return
    schema, batches = _source(answer)
    if fmt == "csv":
        _write_csv(schema, batches, out)
    elif fmt == "jsonl":
        _write_json(schema, batches, out, array=False)
    elif fmt == "json":
        _write_json(schema, batches, out, array=True)
    elif fmt == "markdown":
        _write_markdown(schema, batches, out)
    elif fmt == "parquet":
        _write_parquet(schema, batches, out)
    else:  # the CLI offers only FORMATS
        raise ValueError(f"unknown format {fmt!r}")


def _source(answer: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    if isinstance(answer, pa.Table):
        return answer.schema, iter(answer.to_batches())
    return answer.schema, iter(answer)


# --- the table: only the rows it shows -------------------------------------------------------------

@dataclass
class Head:
    """The first rows of an answer, and its row count if reading them told it (None: more were left unread)."""

    table: pa.Table
    total: int | None
    read: int  # rows fetched: all of them, or a lower bound of the total


def head(answer: Any, max_rows: int | None) -> Head:
    """Read batches until more than `max_rows` rows are seen, then one batch more (to learn whether the
    answer ended there, so a small answer gets its count), then stop: the rest is never fetched."""
    if isinstance(answer, pa.Table):  # already in memory: the count is free
        shown = answer if max_rows is None else answer.slice(0, max_rows)
        return Head(shown, answer.num_rows, answer.num_rows)
    schema, batches = _source(answer)
    kept: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        if max_rows is not None and rows - batch.num_rows > max_rows:
            return Head(pa.Table.from_batches(kept, schema).slice(0, max_rows), None, rows)
        kept.append(batch)
    shown = pa.Table.from_batches(kept, schema)
    return Head(shown if max_rows is None else shown.slice(0, max_rows), rows, rows)


# Columns that say which object a row is about: kept when a narrow terminal drops others, and cut in
# the middle (a key's prefix and its file name both matter) rather than at the end.
# Each with the width it keeps before other columns are left out (a timestamp to the second, plus "…").
KEY_COLUMNS = {"bucket": 16, "key": 30, "object_key": 30, "version_id": 12, "record_timestamp": 20,
               "record_type": 12}
_MIDDLE_CUT = frozenset({"key", "object_key"})
CELL_WIDTH = 48  # the widest a cell is shown when no terminal width limits the table
_COMFORT = 10  # other columns are left out before any is narrower than this
_NARROWEST = 6  # and when the key columns alone overflow, none is squeezed below this
MORE_ROWS = "--max-rows 0 or another --format shows all"
_UNCUT = 10_000  # display_texts' cut when the table's layout cuts instead


def text_table(first: Head, width: int | None = None, more: str = MORE_ROWS) -> str:
    """An aligned text table for a terminal, with the row count (or a lower bound) and any truncation stated.

    Numbers are right-aligned. With a `width` (the terminal's), columns share it: the widest give
    way first, long cells end in '…', and when even the narrowest layout does not fit, columns on
    the right are left out (never the key columns) and named below the table. `more` says how to
    see the rows left out.
    """
    shown, total = first.table, first.total
    names = shown.column_names
    # Escaped as every display is (controls, bidi), uncut: the layout decides where to cut.
    columns = [display_texts(column.combine_chunks(), _UNCUT).to_pylist() if shown.num_rows else []
               for column in shown.columns]
    cells = list(zip(*columns, strict=True)) if columns else []
    natural = [min(max([_width(n)] + [_width(r[i]) for r in cells]), width or CELL_WIDTH)
               for i, n in enumerate(names)]
    keep = list(range(len(names)))
    widths = list(natural)
    if width is not None and names:
        keep, widths = _layout(names, natural, width)
    numeric = [_is_number(shown.schema.field(i).type) for i in range(len(names))]

    def fmt(values) -> str:
        out = []
        for i, w in zip(keep, widths, strict=True):
            text = _fit(values[i], w, middle=names[i] in _MIDDLE_CUT)
            pad = " " * (w - _width(text))
            out.append(pad + text if numeric[i] else text + pad)
        return "| " + " | ".join(out) + " |\n"

    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"
    parts = [line, fmt(names), line, *(fmt(r) for r in cells), line] if names else []
    n = shown.num_rows
    if total is None:
        footer = f"at least {first.read} rows (showing the first {n}; the rest was not read: {more})"
    else:
        footer = f"{total} row{'s' if total != 1 else ''}"
        if total > n:
            footer += f" (showing the first {n}; {more})"
    parts.append(footer + "\n")
    left_out = [names[i] for i in range(len(names)) if i not in keep]
    if left_out:
        parts.append(f"{len(left_out)} column{'s' if len(left_out) != 1 else ''} left out to fit the terminal: "
                     f"{', '.join(left_out)} (a wider terminal or another format shows them)\n")
    return "".join(parts)


def _layout(names: list[str], natural: list[int], width: int) -> tuple[list[int], list[int]]:
    """Which columns to show and how wide, so that a line of the table is at most `width` cells."""
    keep = list(range(len(names)))
    comfort = [min(w, KEY_COLUMNS.get(n, _COMFORT)) for n, w in zip(names, natural, strict=True)]
    floors = [min(w, _NARROWEST) for w in natural]

    def room(columns: list[int]) -> int:
        return width - (3 * len(columns) + 1)  # "| " + " | " between + " |"

    # Leave out columns from the right, never a key column or the first, until each can keep a
    # readable width; then the widest give way.
    while sum(comfort[i] for i in keep) > room(keep):
        droppable = [i for i in keep[1:] if names[i] not in KEY_COLUMNS]  # the first column stays
        if not droppable:
            break
        keep.remove(droppable[-1])
    available = max(room(keep), 0)
    want = [natural[i] for i in keep]
    if sum(want) <= available:
        return keep, want
    # The widest columns give way first: the largest cap under which everything fits (over the
    # comfortable widths if they fit, else over the narrowest).
    floor = comfort if sum(comfort[i] for i in keep) <= available else floors
    low, high = 0, max(want)
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(natural[i], max(floor[i], cap)) for i in keep) <= available:
            low = cap
        else:
            high = cap - 1
    return keep, [min(natural[i], max(floor[i], low)) for i in keep]


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _char_width(c: str) -> int:
    if unicodedata.combining(c) or c in "\u200b\u200c\u200d\ufe0e\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


def _width(text: str) -> int:
    """Terminal cells `text` takes: wide (CJK, emoji) characters take two, combining marks none."""
    return text.isascii() and len(text) or sum(_char_width(c) for c in text)


def _fit(text: str, width: int, middle: bool = False) -> str:
    """`text` cut to `width` cells with '…' (in the middle for keys), unchanged if it fits."""
    if _width(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    if middle:
        head = _take(text, (width - 1) // 2)
        tail = _take(text[::-1], width - 1 - _width(head))[::-1]
        return head + "…" + tail
    return _take(text, width - 1) + "…"


def _take(text: str, width: int) -> str:
    """The longest start of `text` that fits in `width` cells."""
    used = 0
    for i, c in enumerate(text):
        used += _char_width(c)
        if used > width:
            return text[:i]
    return text


# --- text formats, batch by batch ------------------------------------------------------------------

def _slices(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if batch.nbytes <= TEXT_BATCH_BYTES or batch.num_rows <= 1:
            yield batch
            continue
        step = max(1, batch.num_rows * TEXT_BATCH_BYTES // batch.nbytes)
        for start in range(0, batch.num_rows, step):
            yield batch.slice(start, step)


def _pipelined(batches: Iterable[pa.RecordBatch], convert: Callable[[pa.RecordBatch], Any],
               write: Callable[[Any], None]) -> None:
    """convert() each batch on a pool of threads while the next is read; write the results in order.

    At most WORKERS batches are in flight, so memory stays bounded whatever the answer's size.
    """
    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(WORKERS) as pool:
        for batch in _slices(batches):
            pending.append(pool.submit(convert, batch))
            if len(pending) > WORKERS:
                write(pending.popleft().result())
        while pending:
            write(pending.popleft().result())


def _write_texts(out: IO[bytes], texts: pa.Array, trim: int = 0) -> None:
    """Write a string array's values back to back (its data buffer, without a copy), less `trim` bytes."""
    if not len(texts):
        return
    _, offsets, data = texts.buffers()
    bounds = memoryview(offsets)[:4 * (texts.offset + len(texts) + 1)].cast("i")
    out.write(memoryview(data)[bounds[texts.offset]:bounds[texts.offset + len(texts)] - trim])


def _write_csv(schema: pa.Schema, batches: Iterator[pa.RecordBatch], out: IO[bytes]) -> None:
    """RFC 4180 by pyarrow's CSV writer: text in quotes (doubled inside), NULL an empty field."""
    import pyarrow.csv as pacsv

    names = schema.names
    if not names:
        return
    only = len(names) == 1
    options = pacsv.WriteOptions(include_header=False)

    def convert(batch: pa.RecordBatch) -> pa.Buffer:
        columns = [_csv_column(column) for column in batch.columns]
        if only and columns[0].null_count:
            # A lone empty field would be an empty line, which CSV readers skip: write "" instead.
            columns = [pc.fill_null(field_texts(columns[0]), literal(""))]
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.RecordBatch.from_arrays(columns, names), sink, options)
        return sink.getvalue()

    # Column names are quoted only when they must be, so a header reads as plainly as it did before.
    plain = not any(char in name for name in names for char in ',"\r\n')
    header = pa.BufferOutputStream()
    pacsv.write_csv(pa.RecordBatch.from_arrays([pa.nulls(0, pa.string())] * len(names), names), header,
                    pacsv.WriteOptions(quoting_header="none" if plain else "needed"))
    out.write(header.getvalue())
    _pipelined(batches, convert, out.write)


def _csv_column(column: pa.Array) -> pa.Array:
    # Arrow writes these as `text` does (booleans as true/false, dates in ISO 8601, integral decimals
    # as integers), with no conversion here, so a plain aggregate calls no compute function at all.
    # Everything else is converted first (ISO timestamps, maps as JSON, NaN as NULL).
    kind, t = column.type, pa.types
    if (t.is_string(kind) or t.is_large_string(kind) or t.is_integer(kind) or t.is_boolean(kind)
            or t.is_null(kind) or t.is_date32(kind) or (t.is_decimal(kind) and kind.scale == 0)):
        return column
    return field_texts(column)


def _write_json(schema: pa.Schema, batches: Iterator[pa.RecordBatch], out: IO[bytes], array: bool) -> None:
    """JSON Lines, or one JSON array of objects: `[`, the objects separated by `,` and a newline, `]`."""
    end = ",\n" if array else "\n"
    keys = [json.dumps(name, ensure_ascii=False) + ": " for name in schema.names]
    prefixes = [literal(("{" if i == 0 else ", ") + key) for i, key in enumerate(keys)]
    closing = literal("}" + end)
    started = False

    def convert(batch: pa.RecordBatch) -> pa.Array:
        if not keys:
            return strings(["{}" + end] * batch.num_rows)
        parts: list = []
        for prefix, column in zip(prefixes, batch.columns, strict=True):
            parts += [prefix, json_texts(column)]
        return join(*parts, closing)

    def emit(texts: pa.Array) -> None:
        nonlocal started
        if array and len(texts):
            out.write(b",\n" if started else b"\n")
            started = True
        _write_texts(out, texts, trim=2 if array else 0)  # the array's separators go between objects

    if array:
        out.write(b"[")
    _pipelined(batches, convert, emit)
    if array:
        out.write(b"\n]\n" if started else b"]\n")


def _md_cell(value: object) -> str:
    # Escaped for Markdown and for the HTML that Markdown renderers pass through: a key such as
    # <script>…</script> must show as text in a ticket, not run.
    return html.escape(display(value, width=200), quote=False).replace("|", "\\|")


def _write_markdown(schema: pa.Schema, batches: Iterator[pa.RecordBatch], out: IO[bytes]) -> None:
    names = schema.names
    out.write(("| " + " | ".join(_md_cell(n) for n in names) + " |\n").encode("utf-8"))
    out.write(("|" + "|".join(" --- " for _ in names) + "|\n").encode("utf-8"))
    if not names:
        return
    separator, opening, closing = literal(" | "), literal("| "), literal(" |\n")

    def convert(batch: pa.RecordBatch) -> pa.Array:
        parts: list = [opening]
        for i, column in enumerate(batch.columns):
            parts += [separator] if i else []
            parts.append(replace_chars(display_texts(column, width=200), _MARKDOWN_ESCAPES))
        return join(*parts, closing)

    _pipelined(batches, convert, lambda texts: _write_texts(out, texts))


def _write_parquet(schema: pa.Schema, batches: Iterator[pa.RecordBatch], out: IO[bytes]) -> None:
    """Types kept as they are; batches gathered into row groups of ROW_GROUP_ROWS rows."""
    import pyarrow.parquet as pq

    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        group: list[pa.RecordBatch] = []
        rows = 0
        for batch in batches:
            group.append(batch)
            rows += batch.num_rows
            while rows >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(group, schema)
                writer.write_table(table.slice(0, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS)
                group, rows = table.slice(ROW_GROUP_ROWS).to_batches(), rows - ROW_GROUP_ROWS
        if rows:
            writer.write_table(pa.Table.from_batches(group, schema), row_group_size=ROW_GROUP_ROWS)


# --- paging, as the AWS CLI does on a terminal ---------------------------------------------------------

def pager(env: Mapping[str, str] = os.environ) -> str | None:
    """The pager command: $S3META_PAGER, else $PAGER, else `less` when installed; None when the chosen
    one is empty (`S3META_PAGER=` turns paging off, as `AWS_PAGER=` does for the AWS CLI)."""
    for name in ("S3META_PAGER", "PAGER"):
        if name in env:
            return env[name].strip() or None
    return "less" if shutil.which("less") else None


def page(text: str, command: str) -> bool:
    """Show `text` through the pager `command` (a shell command line, as git and the AWS CLI run it);
    False when the pager cannot be started, so that the caller prints the text itself."""
    # less: quit at once when the text fits one screen (-F), keep it on screen afterwards (-X), and
    # show the escapes we never write anyway raw (-R); the user's own $LESS wins.
    import subprocess  # here: only a terminal's table is paged

    env = {**os.environ, "LESS": os.environ.get("LESS", "FRX")}
    try:
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)
    except OSError:
        return False
    try:
        assert proc.stdin is not None
        proc.stdin.write(text.encode("utf-8"))
        proc.stdin.close()
    except BrokenPipeError:  # the user quit the pager before reading it all
        pass
    while True:
        try:
            proc.wait()
            break
        except KeyboardInterrupt:  # Ctrl-C belongs to the pager (less stays open and handles it)
            continue
    return proc.returncode != 127  # the shell's "command not found": print instead
