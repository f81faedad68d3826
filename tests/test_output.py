"""Output formats and value conversion, on a table with every awkward value."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import output
from analytics.files import atomic_write
from analytics.values import display, jsonable

AWKWARD = pa.table({
    "key": ['a,b "c"\nd', "", None, "<script>x</script>|y", "\x1b[31mred"],
    "n": pa.array([1, None, 3, 4, 5], pa.int64()),
    "at": pa.array([datetime(2025, 11, 20, 10, 0, 0, 123456), None, datetime(2025, 1, 1), None, None],
                   pa.timestamp("us")),
    "tags": pa.array([[("env", "prod")], [], None, [("k", None)], []], pa.map_(pa.string(), pa.string())),
    "flag": [True, False, None, True, False],
})


def written(fmt: str, table: pa.Table = AWKWARD, **kw) -> str:
    buf = io.BytesIO()  # every format writes bytes: UTF-8 whatever the locale
    output.write(table, fmt, buf, **kw)
    return buf.getvalue().decode("utf-8")


def test_json_is_an_array_of_objects_with_iso_timestamps_maps_and_nulls():
    rows = json.loads(written("json"))
    assert rows[0] == {"key": 'a,b "c"\nd', "n": 1, "at": "2025-11-20T10:00:00.123456", "tags": {"env": "prod"},
                       "flag": True}
    assert rows[1] == {"key": "", "n": None, "at": None, "tags": {}, "flag": False}
    assert rows[2]["key"] is None and rows[2]["tags"] is None
    assert rows[3]["tags"] == {"k": None}
    assert json.loads(written("json", AWKWARD.slice(0, 0))) == []


def test_jsonl_has_one_object_per_line():
    lines = written("jsonl").splitlines()
    assert len(lines) == 5 and json.loads(lines[4])["key"] == "\x1b[31mred"


def test_csv_round_trips_commas_quotes_and_newlines():
    rows = list(csv.reader(io.StringIO(written("csv"))))
    assert rows[0] == ["key", "n", "at", "tags", "flag"]
    assert rows[1] == ['a,b "c"\nd', "1", "2025-11-20T10:00:00.123456", '{"env": "prod"}', "true"]
    assert rows[3][0] == "" and rows[3][3] == ""  # NULL is an empty field


def test_markdown_and_table_escape_what_the_data_holds():
    md = written("markdown")
    assert "&lt;script&gt;x&lt;/script&gt;\\|y" in md and "\x1b" not in md and "\\x1b[31mred" in md
    table = written("table", max_rows=2)
    assert "a,b \"c\"\\nd" in table and "\x1b" not in table
    assert table.rstrip().endswith("5 rows (showing the first 2; --max-rows 0 or another --format shows all)")


def test_parquet_keeps_types(tmp_path):
    path = tmp_path / "out.parquet"
    with atomic_write(path, binary=True) as fh:
        output.write(AWKWARD, "parquet", fh)
    assert pq.read_table(path).equals(AWKWARD)


@pytest.mark.parametrize("value,expected", [
    (float("nan"), None), (float("inf"), None), (b"\x00\x01", "AAE="), ((1, "a"), [1, "a"]),
])
def test_jsonable_edges(value, expected):
    assert jsonable(value) == expected


def test_display_escapes_control_characters_and_cuts_long_text():
    assert display("a\tb\rc\x00") == "a\\tb\\rc\\x00"
    assert display("x" * 100, width=10) == "x" * 9 + "…"
    assert display(None) == "NULL"


def test_bidi_and_c1_controls_are_escaped_wherever_keys_are_shown():
    # "invoice\u202efdp.exe" would display as "invoiceexe.pdf"; U+009B is a terminal's CSI.
    key = "invoice\u202efdp.exe\u2066x\u2069\u200f\x9b[2J\u2028"
    assert display(key) == "invoice\\u202efdp.exe\\u2066x\\u2069\\u200f\\x9b[2J\\u2028"
    assert display("family 👨\u200d👩\u200d👧 日本語") == "family 👨\u200d👩\u200d👧 日本語"  # joiners are not controls
    table = pa.table({"key": [key]})
    for fmt in ("table", "markdown"):
        assert not set(written(fmt, table)) & {"\u202e", "\u2066", "\u2069", "\u200f", "\x9b", "\u2028"}
    assert json.loads(written("jsonl", table))["key"] == key  # data formats keep the key intact


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write("half")
            raise RuntimeError("crash")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]
