"""Writing results as table, csv, json, jsonl, markdown or parquet; never truncated silently."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import shutil
import subprocess
import unicodedata
from typing import IO, Iterator, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from .values import display, jsonable, text

FORMATS = ("table", "csv", "json", "jsonl", "markdown", "parquet")
BINARY_FORMATS = frozenset({"parquet"})


def _rows(table: pa.Table) -> Iterator[dict]:
    # Batch by batch, so a large result is not turned into Python objects all at once.
    for batch in table.to_batches(max_chunksize=8192):
        yield from batch.to_pylist(maps_as_pydicts="strict")


def write(table: pa.Table, fmt: str, out: IO, max_rows: int | None = None, width: int | None = None) -> None:
    """Write `table` to `out` (text, or binary for parquet). `max_rows` and `width` (the terminal's)
    apply to the table format only."""
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
        out.write(text_table(table, max_rows, width))
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


def text_table(table: pa.Table, max_rows: int | None = None, width: int | None = None,
               more: str = MORE_ROWS) -> str:
    """An aligned text table for a terminal, with the row count and any truncation stated.

    Numbers are right-aligned. With a `width` (the terminal's), columns share it: the widest give
    way first, long cells end in '…', and when even the narrowest layout does not fit, columns on
    the right are left out (never the key columns) and named below the table. `more` says how to
    see the rows left out.
    """
    names = table.column_names
    shown = table if max_rows is None else table.slice(0, max_rows)
    cells = [[display(v, width=10**6) for v in row.values()] for row in _rows(shown)]
    natural = [min(max([_width(n)] + [_width(r[i]) for r in cells]), width or CELL_WIDTH)
               for i, n in enumerate(names)]
    keep = list(range(len(names)))
    widths = list(natural)
    if width is not None and names:
        keep, widths = _layout(names, natural, width)
    numeric = [_is_number(table.schema.field(i).type) for i in range(len(names))]

    def fmt(values: list[str]) -> str:
        out = []
        for i, w in zip(keep, widths, strict=True):
            text = _fit(values[i], w, middle=names[i] in _MIDDLE_CUT)
            pad = " " * (w - _width(text))
            out.append(pad + text if numeric[i] else text + pad)
        return "| " + " | ".join(out) + " |\n"

    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"
    parts = [line, fmt(names), line, *(fmt(r) for r in cells), line] if names else []
    n = table.num_rows
    footer = f"{n} row{'s' if n != 1 else ''}"
    if max_rows is not None and n > max_rows:
        footer += f" (showing the first {max_rows}; {more})"
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
