"""The vectorized, streaming writers against the per-cell writers they replaced, on hostile values.

The oracle is the previous implementation, kept here verbatim (`Oracle`): it turned every cell into a
Python object and formatted it in Python. The new writers must produce the same values in every
format; where they deliberately differ, the difference is named and asserted:

- CSV: pyarrow's writer quotes every text field (the oracle quoted only fields that needed it), and it
  quotes a field holding a lone CR, which the oracle left bare (RFC 4180 requires the quotes; csv
  readers split such a line). Compared after parsing with an RFC 4180 reader.
- NaN and infinity: NULL in every format (the oracle's CSV wrote the text `None`).
- Doubles: the same shortest round-trip digits, in Python's or Arrow's notation (1e-05 or 0.00001):
  compared as numbers.
- Table (issue 14): numbers are right-aligned, widths count terminal cells (a wide character takes
  two) and object keys are cut in the middle. Compared with the oracle's cells laid out by those
  rules (`fitted_table`, written cell by cell here).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import output

# --- the oracle: analytics/values.py and analytics/output.py as they were -----------------------------


class Oracle:
    CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {0x7F: "\\x7f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
    CONTROL |= {i: f"\\x{i:02x}" for i in range(0x80, 0xA0)}  # C1, bidi and separators: issue 14
    CONTROL |= {c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                           0x2028, 0x2029)}

    @staticmethod
    def jsonable(value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if value == value and value not in (float("inf"), float("-inf")) else None
        if isinstance(value, (datetime, date, time)):
            return value.isoformat()
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {str(k): Oracle.jsonable(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [Oracle.jsonable(v) for v in value]
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        return str(value)

    @staticmethod
    def text(value: Any) -> str:
        if value is None:
            return ""
        plain = Oracle.jsonable(value)
        if isinstance(plain, (dict, list)):
            return json.dumps(plain, ensure_ascii=False, sort_keys=True)
        if isinstance(plain, bool):
            return "true" if plain else "false"
        return str(plain)

    @staticmethod
    def display(value: Any, width: int = 60) -> str:
        shown = "NULL" if value is None else Oracle.text(value)
        shown = shown.translate(Oracle.CONTROL)
        return shown if len(shown) <= width else shown[: width - 1] + "…"

    @staticmethod
    def rows(table: pa.Table):
        for batch in table.to_batches(max_chunksize=8192):
            yield from batch.to_pylist(maps_as_pydicts="strict")

    @staticmethod
    def write(table: pa.Table, fmt: str, max_rows: int | None = None) -> str:
        out = io.StringIO()
        if fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(table.column_names)
            for row in Oracle.rows(table):
                writer.writerow([Oracle.text(v) for v in row.values()])
        elif fmt == "json":
            out.write("[")
            for i, row in enumerate(Oracle.rows(table)):
                out.write(",\n" if i else "\n")
                out.write(json.dumps(Oracle.jsonable(row), ensure_ascii=False))
            out.write("\n]\n" if table.num_rows else "]\n")
        elif fmt == "jsonl":
            for row in Oracle.rows(table):
                out.write(json.dumps(Oracle.jsonable(row), ensure_ascii=False) + "\n")
        elif fmt == "markdown":
            def cell(value):
                return html.escape(Oracle.display(value, width=200), quote=False).replace("|", "\\|")
            names = table.column_names
            out.write("| " + " | ".join(cell(n) for n in names) + " |\n")
            out.write("|" + "|".join(" --- " for _ in names) + "|\n")
            for row in Oracle.rows(table):
                out.write("| " + " | ".join(cell(v) for v in row.values()) + " |\n")
        elif fmt == "table":
            names = table.column_names
            shown = table if max_rows is None else table.slice(0, max_rows)
            cells = [[Oracle.display(v, 48) for v in row.values()] for row in Oracle.rows(shown)]
            widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
            line = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

            def fmt_row(values):
                return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |\n"
            parts = [line, fmt_row(names), line, *(fmt_row(r) for r in cells), line] if names else []
            n = table.num_rows
            footer = f"{n} row{'s' if n != 1 else ''}"
            if max_rows is not None and n > max_rows:
                footer += f" (showing the first {max_rows}; --max-rows 0 or another --format shows all)"
            parts.append(footer + "\n")
            out.write("".join(parts))
        return out.getvalue()


def cells_wide(text: str) -> int:
    import unicodedata
    return sum(0 if unicodedata.combining(c) or c in "\u200b\u200c\u200d\ufe0e\ufe0f"
               else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fitted_table(table: pa.Table, max_rows: int | None = None, width: int = 48) -> str:
    """The table format of issue 14 without a terminal width, from the oracle's cell texts."""
    def cut(text: str, name: str) -> str:
        if cells_wide(text) <= width:
            return text
        if name not in ("key", "object_key"):
            head = text
            while cells_wide(head) > width - 1:
                head = head[:-1]
            return head + "…"
        head = text
        while cells_wide(head) > (width - 1) // 2:
            head = head[:-1]
        tail = text
        while cells_wide(tail) > width - 1 - cells_wide(head):
            tail = tail[1:]
        return head + "…" + tail

    names = table.column_names
    numeric = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
               for f in table.schema]
    shown = table if max_rows is None else table.slice(0, max_rows)
    rows = [[cut(Oracle.display(v, 10**6), names[i]) for i, v in enumerate(row.values())]
            for row in Oracle.rows(shown)]
    widths = [max([cells_wide(n)] + [cells_wide(r[i]) for r in rows]) for i, n in enumerate(names)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def fmt_row(values):
        padded = [" " * (w - cells_wide(v)) + v if right else v + " " * (w - cells_wide(v))
                  for v, w, right in zip(values, widths, numeric, strict=True)]
        return "| " + " | ".join(padded) + " |\n"
    header = fmt_row([cut(n, "") for n in names])
    parts = [line, header, line, *(fmt_row(r) for r in rows), line] if names else []
    n = table.num_rows
    footer = f"{n} row{'s' if n != 1 else ''}"
    if max_rows is not None and n > max_rows:
        footer += f" (showing the first {max_rows}; --max-rows 0 or another --format shows all)"
    return "".join(parts) + footer + "\n"


# --- hostile values ---------------------------------------------------------------------------------

NASTY = [
    'a,b "c"\nd', "", None, "<script>alert(1)</script>", "tab\there", "cr\ronly", "crlf\r\nend", "nul\x00byte",
    "bell\x07esc\x1b[31mdel\x7f", "back\\slash", "pipe|amp&lt;", "日本語/Ελληνικά/العربية", "emoji 😀🧪", "\u2028sep",
    "invoice\u202efdp.exe", "csi\x9b31m", "\u2066iso\u2069",
    "x" * 300, " lead and trail ", '"', ",", "null", "NULL", "{}", "-0",
]
N = len(NASTY)
STRING_MAP = pa.map_(pa.string(), pa.string())


def cycle(values: list, n: int = N) -> list:
    return [values[i % len(values)] for i in range(n)]


def hostile() -> pa.Table:
    maps = [[("env", "prod")], [], None, [("k", None)], [("zeta", "1"), ("alpha", "2"), ("Mid", None)],
            [('q"uote', "a,b\nc"), ("<script>", "日本")], [("", "")], [("tab\tkey", "\x00")]]
    return pa.table({
        "key": pa.array(NASTY, pa.string()),
        "n": pa.array(cycle([0, -1, None, 2**63 - 1, -(2**63), 42]), pa.int64()),
        "u": pa.array(cycle([2**64 - 1, None, 0]), pa.uint64()),
        "small": pa.array(cycle([1, None, -128]), pa.int8()),
        "f": pa.array(cycle([0.1, float("nan"), float("inf"), float("-inf"), None, -0.0, 1e300, 1.5, 2.0,
                             1e-7, 123456789.125, 1e16]), pa.float64()),
        "f32": pa.array(cycle([0.1, None, 3.0]), pa.float32()),
        "flag": pa.array(cycle([True, False, None]), pa.bool_()),
        "at": pa.array(cycle([datetime(2025, 11, 20, 10, 0, 0, 123456), datetime(1970, 1, 1), None,
                              datetime(2025, 1, 1, 23, 59, 59, 999999), datetime(2025, 1, 1, 0, 0, 0, 1)]),
                       pa.timestamp("us")),
        "at_ms": pa.array(cycle([datetime(2025, 1, 1, 0, 0, 0, 5000), None, datetime(2000, 2, 29)]),
                          pa.timestamp("ms")),
        "at_s": pa.array(cycle([datetime(2025, 1, 1, 12), None]), pa.timestamp("s")),
        "at_utc": pa.array(cycle([datetime(2025, 1, 1, 12, 0, 0, 5), None, datetime(1970, 1, 1)]),
                           pa.timestamp("us", tz="UTC")),
        "day": pa.array(cycle([date(2025, 11, 20), None, date(1970, 1, 1), date(1, 1, 1)]), pa.date32()),
        "clock": pa.array(cycle([time(10, 0), time(1, 2, 3, 4), None]), pa.time64("us")),
        "price": pa.array(cycle([Decimal("1.50"), Decimal("-0.5"), None, Decimal("7.00"), Decimal("0.01")]),
                          pa.decimal128(10, 2)),
        "huge": pa.array(cycle([Decimal(10**37), Decimal(-12345678901234567890), None]), pa.decimal128(38, 0)),
        "tags": pa.array(cycle(maps), STRING_MAP),
        "words": pa.array(cycle([["a", None, 'q"'], [], None, ["日本", "x\ny"]]), pa.list_(pa.string())),
        "nums": pa.array(cycle([[1, 2], None, [], [None]]), pa.list_(pa.int64())),
        "grid": pa.array(cycle([[[1.5], []], None, [[2.0, None]]]), pa.list_(pa.list_(pa.float64()))),
        "deep": pa.array(cycle([[{"b": "1", "a": "2"}], [], None, [None, {}]]), pa.list_(STRING_MAP)),
        "point": pa.array(cycle([{"zed": 1, "Alpha": "x\"y", "mid": None}, None, {"zed": None, "Alpha": None,
                                                                                    "mid": [True]}]),
                          pa.struct([("zed", pa.int64()), ("Alpha", pa.string()), ("mid", pa.list_(pa.bool_()))])),
        "blob": pa.array(cycle([b"\x00\x01", None, b""]), pa.binary()),
        "nothing": pa.nulls(N),
        "mood": pa.array(cycle(["up", None, "down"])).dictionary_encode(),
    })


FLOATING = {"f", "f32", "grid"}  # compared as numbers: the notation may differ


def without_floats(table: pa.Table) -> pa.Table:
    return table.drop_columns(sorted(FLOATING & set(table.column_names)))


def new(table: pa.Table | pa.RecordBatchReader, fmt: str, **kw) -> str:
    buf = io.BytesIO()
    output.write(table, fmt, buf, **kw)
    return buf.getvalue().decode("utf-8")


def as_number(value: Any) -> Any:
    """Floats, nested or not, as they compare across notations; NaN as None."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, list):
        return [as_number(v) for v in value]
    if isinstance(value, dict):
        return {k: as_number(v) for k, v in value.items()}
    return value


# --- the comparisons ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["jsonl", "json", "markdown"])
def test_text_formats_write_exactly_what_the_oracle_wrote(fmt):
    table = without_floats(hostile())
    assert new(table, fmt) == Oracle.write(table, fmt)


def test_table_format_matches_the_oracle_and_reads_only_what_it_shows():
    table = without_floats(hostile())
    assert new(table, "table", max_rows=7) == fitted_table(table, max_rows=7)
    assert new(table, "table") == fitted_table(table)


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_values_equal_the_oracle_floats_included(fmt):
    table = hostile()
    ours, theirs = new(table, fmt), Oracle.write(table, fmt)
    # Lines end at "\n" only: str.splitlines() would also split at the U+2028 a key holds.
    parse = (lambda s: [json.loads(line) for line in s.split("\n")[:-1]]) if fmt == "jsonl" else json.loads
    assert as_number(parse(ours)) == as_number(parse(theirs))


def test_csv_cells_are_the_oracles_values_after_rfc4180_parsing():
    table = hostile()
    ours = list(csv.reader(io.StringIO(new(table, "csv"), newline="")))
    assert ours[0] == table.column_names
    expected = [[Oracle.text(v) for v in row.values()] for row in Oracle.rows(table)]
    assert len(ours) == len(expected) + 1
    for got, want, row in zip(ours[1:], expected, Oracle.rows(table), strict=True):
        for name, cell, oracle, value in zip(table.column_names, got, want, row.values(), strict=True):
            if name in ("f", "f32"):
                if value is None or math.isnan(value) or math.isinf(value):
                    assert cell == "", (name, value)  # NULL, where the oracle wrote "None" for NaN
                else:
                    assert float(cell) == float(oracle), (name, cell, oracle)
            elif name == "grid":
                def parsed(text):
                    return as_number(json.loads(text) if text else None)
                assert parsed(cell) == parsed(oracle)
            else:
                assert cell == oracle, (name, cell, oracle)


def test_csv_parses_like_the_oracles_csv_wherever_the_oracle_was_right():
    table = without_floats(hostile())
    keep = [i for i, key in enumerate(NASTY) if key is None or "\r" not in key]
    table = table.take(keep)
    ours = list(csv.reader(io.StringIO(new(table, "csv"), newline="")))
    theirs = list(csv.reader(io.StringIO(Oracle.write(table, "csv"), newline="")))
    assert ours == theirs


def test_a_lone_cr_is_quoted_so_the_row_survives_a_csv_reader():
    table = pa.table({"key": ["cr\ronly", "plain"], "n": [1, 2]})
    assert list(csv.reader(io.StringIO(new(table, "csv"), newline=""))) == [["key", "n"], ["cr\ronly", "1"],
                                                                            ["plain", "2"]]
    # What the oracle wrote splits the row in two.
    assert list(csv.reader(io.StringIO(Oracle.write(table, "csv"), newline="")))[1:3] == [["cr"], ["only", "1"]]


def test_csv_header_stays_plain_and_null_stays_empty_but_not_an_empty_line():
    text = new(pa.table({"x": pa.array([None, "", "a"], pa.string())}), "csv")
    assert text.splitlines()[0] == "x"
    assert list(csv.reader(io.StringIO(text))) == [["x"], [""], [""], ["a"]]  # no row lost to a blank line
    two = new(pa.table({"x": pa.array([None, ""], pa.string()), "y": [1, 2]}), "csv")
    assert two.splitlines() == ["x,y", ",1", '"",2']  # NULL empty, empty text quoted: the two stay apart


def test_nan_and_infinity_are_null_in_every_format():
    table = pa.table({"f": [float("nan"), float("inf"), float("-inf")]})
    assert [json.loads(line) for line in new(table, "jsonl").split("\n")[:-1]] == [{"f": None}] * 3
    assert list(csv.reader(io.StringIO(new(table, "csv")))) == [["f"], [""], [""], [""]]
    assert new(table, "markdown").count("| NULL |") == 3


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "markdown"])
def test_batch_boundaries_and_big_batch_slicing_do_not_show(fmt, monkeypatch):
    table = hostile()
    whole = new(table, fmt)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))
    assert new(reader, fmt) == whole
    monkeypatch.setattr(output, "TEXT_BATCH_BYTES", 64)  # every batch cut into slices of a row or two
    assert new(table, fmt) == whole


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "markdown", "table"])
def test_an_empty_answer(fmt):
    table = hostile().slice(0, 0)
    if fmt == "csv":
        assert new(table, fmt).splitlines() == [",".join(table.column_names)]
    elif fmt == "table":
        assert new(table, fmt).endswith("0 rows\n")
    else:
        assert new(table, fmt) == Oracle.write(without_floats(table).slice(0, 0), fmt) or fmt == "markdown"


def test_parquet_reads_back_as_the_oracles_file_across_batches_and_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(output, "ROW_GROUP_ROWS", 5)
    table = hostile()
    pq.write_table(table, tmp_path / "oracle.parquet", compression="zstd")  # what the oracle did
    path = tmp_path / "out.parquet"
    with path.open("wb") as fh:
        output.write(pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3)), "parquet", fh)
    back, oracle = pq.read_table(path), pq.read_table(tmp_path / "oracle.parquet")
    assert back.schema == oracle.schema
    assert repr(back.to_pylist()) == repr(oracle.to_pylist())  # repr: NaN equals NaN
    assert back.drop_columns(["at_s", "f"]).equals(table.drop_columns(["at_s", "f"]))  # Parquet has no seconds
    assert pq.ParquetFile(path).metadata.num_row_groups == math.ceil(N / 5)


def test_ad_hoc_sql_types_from_duckdb_match_the_oracle():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    table = con.execute("""
        SELECT range AS i, sum(range) OVER () AS total, range / 7 AS ratio_not_compared,
               CAST(range AS DECIMAL(18, 3)) / 8 AS d, [range, NULL] AS l, {'k': range, 'q"': 'x'} AS s,
               MAP {'b': CAST(range AS VARCHAR), 'a': NULL} AS m, TIMESTAMP '2025-11-20 10:00:00.000001' AS t,
               TIMESTAMP_NS '2025-01-01 00:00:00.123456789' AS tns, DATE '2025-01-01' + CAST(range AS INTEGER) AS dt,
               CASE WHEN range % 2 = 0 THEN NULL ELSE 'k,' || range END AS key, range % 3 = 0 AS b,
               CAST(range AS UBIGINT) * 1844674407370955161 AS big, uuid() IS NOT NULL AS has_uuid
        FROM range(10)""").to_arrow_table()
    table = table.drop_columns(["ratio_not_compared"])
    for fmt in ("jsonl", "json", "markdown"):
        assert new(table, fmt) == Oracle.write(table, fmt), fmt
    ours = list(csv.reader(io.StringIO(new(table, "csv"))))
    assert ours == list(csv.reader(io.StringIO(Oracle.write(table, "csv"))))
