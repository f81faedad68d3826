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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterable, Iterator

import pyarrow as pa

from .values import display, display_texts, field_texts, join, json_texts, literal, replace_chars, strings

FORMATS = ("table", "csv", "json", "jsonl", "markdown", "parquet")
BINARY_FORMATS = frozenset({"parquet"})
# Input bytes converted to text at once: bounds the memory a batch takes, and keeps a batch's text
# within the 2 GiB that a string array's 32-bit offsets address.
TEXT_BATCH_BYTES = 16 << 20
ROW_GROUP_ROWS = 122_880  # DuckDB's own row group size, so files read back as fast as its own
WORKERS = min(2, os.cpu_count() or 1)  # pyarrow.compute releases the GIL: convert on both cores
_MARKDOWN_ESCAPES = [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")]  # as html.escape(quote=False)


def write(answer: Any, fmt: str, out: IO[bytes], max_rows: int | None = None) -> None:
    """Write `answer` to the binary stream `out`. `max_rows` applies to the table format only."""
    if fmt == "table":
        out.write(text_table(head(answer, max_rows)).encode("utf-8"))
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


def text_table(first: Head, width: int = 48) -> str:
    """An aligned text table for a terminal, with the row count (or a lower bound) and any truncation stated."""
    shown, total = first.table, first.total
    names = shown.column_names
    columns = [display_texts(column.combine_chunks(), width).to_pylist() if shown.num_rows else []
               for column in shown.columns]
    cells = list(zip(*columns, strict=True)) if columns else []
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def fmt(values) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |\n"
    parts = [line, fmt(names), line, *(fmt(r) for r in cells), line] if names else []
    n = shown.num_rows
    if total is None:
        footer = (f"at least {first.read} rows (showing the first {n}; the rest was not read: --max-rows 0 "
                  "or another --format shows all)")
    else:
        footer = f"{total} row{'s' if total != 1 else ''}"
        if total > n:
            footer += f" (showing the first {n}; --max-rows 0 or another --format shows all)"
    parts.append(footer + "\n")
    return "".join(parts)


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
            import pyarrow.compute as pc

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
    # as integers), with no conversion here, so a plain aggregate does not even import pyarrow.compute.
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
