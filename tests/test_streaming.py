"""Answers stream: read as Arrow batches, written batch by batch, and a table reads only what it shows."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest

import analytics
from analytics import output
from conftest import cli

# A statement that fails on its 3,000,000th row: whatever reads that far fails; what stops early does not.
FAILS_LATE = ("SELECT CASE WHEN range = 3000000 THEN error('row 3000000 was read') ELSE range END AS x "
              "FROM range(5000000)")
BIG = ("SELECT range AS n, repeat('k', 180) || range AS key, MAP {'tag': CAST(range AS VARCHAR)} AS tags, "
       "TIMESTAMP '2025-11-20' + to_microseconds(range) AS at FROM range(1000000)")


def test_a_table_fetches_only_the_rows_it_shows(hand_data):
    proc = cli("sql", FAILS_LATE, "--data", str(hand_data), "--format", "table", "--max-rows", "3", "--stats")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.strip("| ") for line in lines[3:6]] == ["0", "1", "2"]
    assert lines[-1].startswith("at least ") and "(showing the first 3; the rest was not read" in lines[-1]
    assert proc.stderr.startswith("s3meta: at least ") and " rows (duckdb)" in proc.stderr


def test_a_table_that_read_everything_states_the_count(hand_data):
    proc = cli("sql", "SELECT range AS x FROM range(5)", "--data", str(hand_data), "--format", "table",
               "--max-rows", "3")
    assert proc.stdout.splitlines()[-1] == "5 rows (showing the first 3; --max-rows 0 or another --format shows all)"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "markdown", "parquet"])
def test_a_failure_midway_is_one_line_and_leaves_no_output_file(hand_data, tmp_path, fmt):
    target = tmp_path / f"out.{fmt}"
    proc = cli("sql", FAILS_LATE, "--data", str(hand_data), "--format", fmt, "--output", str(target))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["s3meta: error: refused: Invalid Input Error: row 3000000 was read"]
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_a_streamed_result_is_read_once_in_batches(hand):
    result = hand.sql("SELECT range AS x FROM range(100000)", stream=True)
    assert result.columns == ["x"] and "elapsed_seconds" not in result.stats
    batches = list(result.batches())
    assert len(batches) > 1 and sum(b.num_rows for b in batches) == 100000
    assert result.stats["rows"] == 100000 and result.stats["elapsed_seconds"] > 0
    assert hand.history[-1] is result.stats
    with pytest.raises(RuntimeError, match="already read"):
        result.arrow()
    # Not streamed: in memory, as before, however often it is read.
    whole = hand.sql("SELECT range AS x FROM range(100000)")
    assert len(whole) == 100000 and whole.batches().read_all().equals(whole.arrow())


def test_a_streamed_result_can_still_be_read_whole(hand):
    result = hand.run("recent_deletes", since="2025-11-20T00:00:00", until="2025-11-21T00:00:00", stream=True)
    assert len(result) == 7 and result.rows()[0]["record_timestamp"].isoformat() == "2025-11-20T12:00:00"


class Sink(io.RawIOBase):
    """Counts what is written, and the most memory pyarrow held at any write."""

    def __init__(self):
        self.size = 0
        self.peak = 0

    def writable(self):
        return True

    def write(self, data):
        self.size += len(memoryview(data).cast("B"))
        self.peak = max(self.peak, pa.total_allocated_bytes())
        return len(memoryview(data).cast("B"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_memory_does_not_grow_with_the_answer(hand, fmt):
    # A million rows, some 300 MB as text: written, the writer never holds more than a few batches.
    sink = Sink()
    result = hand.sql(BIG, stream=True)
    output.write(result.batches(), fmt, sink)
    assert result.stats["rows"] == 1_000_000
    assert sink.size > (5 << 20 if fmt == "parquet" else 200 << 20)
    assert sink.peak < 100 << 20, f"{sink.peak >> 20} MiB held while writing {sink.size >> 20} MiB"


def test_cli_streams_the_same_rows_it_used_to_hold(hand_data):
    statement = "SELECT range AS n, 'k,' || range AS key FROM range(70000) ORDER BY n"
    rows = list(csv.reader(io.StringIO(cli("sql", statement, "--data", str(hand_data), "--format", "csv").stdout)))
    assert rows[0] == ["n", "key"] and len(rows) == 70001 and rows[-1] == ["69999", "k,69999"]
    lines = cli("sql", statement, "--data", str(hand_data), "--format", "json").stdout
    assert [r["n"] for r in json.loads(lines)] == list(range(70000))


def test_the_reader_going_away_is_not_an_error(hand_data):
    import subprocess
    import sys

    command = f"{sys.executable} -m analytics sql \"{BIG}\" --data {hand_data} --format csv | head -3"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 3 and proc.stderr == ""


def test_the_session_loads_the_catalog_only_when_a_query_needs_it(hand_data):
    with analytics.connect(data=hand_data) as session:
        session.sql("SELECT 1")
        assert session._catalog is None
        session.run("source_ip_activity")
        assert session._catalog is not None
