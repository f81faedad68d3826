"""Writing results as table, csv, json, jsonl, markdown or parquet; never truncated silently."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import IO, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .values import display, jsonable, text

FORMATS = ("table", "csv", "json", "jsonl", "markdown", "parquet")
BINARY_FORMATS = frozenset({"parquet"})


def _rows(table: pa.Table) -> Iterator[dict]:
    # Batch by batch, so a large result is not turned into Python objects all at once.
    for batch in table.to_batches(max_chunksize=8192):
        yield from batch.to_pylist(maps_as_pydicts="strict")


def write(table: pa.Table, fmt: str, out: IO, max_rows: int | None = None) -> None:
    """Write `table` to `out` (text, or binary for parquet). `max_rows` applies to the table format only."""
    if fmt == "parquet":
        pq.write_table(table, out, compression="zstd")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")  # QUOTE_MINIMAL quotes commas, quotes, newlines
        writer.writerow(table.column_names)
        for row in _rows(table):
            writer.writerow([text(v) for v in row.values()])
    elif fmt == "json":
        out.write("[")
        for i, row in enumerate(_rows(table)):
            out.write(",\n" if i else "\n")
            out.write(json.dumps(jsonable(row), ensure_ascii=False))
        out.write("\n]\n" if table.num_rows else "]\n")
    elif fmt == "jsonl":
        for row in _rows(table):
            out.write(json.dumps(jsonable(row), ensure_ascii=False) + "\n")
    elif fmt == "markdown":
        out.write(markdown(table))
    elif fmt == "table":
        out.write(text_table(table, max_rows))
    else:  # the CLI offers only FORMATS
        raise ValueError(f"unknown format {fmt!r}")


def _md_cell(value: object) -> str:
    # Escaped for Markdown and for the HTML that Markdown renderers pass through: a key such as
    # <script>…</script> must show as text in a ticket, not run.
    return html.escape(display(value, width=200), quote=False).replace("|", "\\|")


def markdown(table: pa.Table) -> str:
    buf = io.StringIO()
    names = table.column_names
    buf.write("| " + " | ".join(_md_cell(n) for n in names) + " |\n")
    buf.write("|" + "|".join(" --- " for _ in names) + "|\n")
    for row in _rows(table):
        buf.write("| " + " | ".join(_md_cell(v) for v in row.values()) + " |\n")
    return buf.getvalue()


def text_table(table: pa.Table, max_rows: int | None = None, width: int = 48) -> str:
    """An aligned text table for a terminal, with the row count and any truncation stated."""
    names = table.column_names
    shown = table if max_rows is None else table.slice(0, max_rows)
    cells = [[display(v, width) for v in row.values()] for row in _rows(shown)]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"
    def fmt(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |\n"
    parts = [line, fmt(names), line, *(fmt(r) for r in cells), line] if names else []
    n = table.num_rows
    footer = f"{n} row{'s' if n != 1 else ''}"
    if max_rows is not None and n > max_rows:
        footer += f" (showing the first {max_rows}; --max-rows 0 or another --format shows all)"
    parts.append(footer + "\n")
    return "".join(parts)
