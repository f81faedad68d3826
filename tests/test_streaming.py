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
    assert proc.stderr.splitlines() == [
        "s3meta: error: the query failed as it ran: Invalid Input Error: row 3000000 was read"]
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


def imported_after(code: str) -> dict:
    import subprocess
    import sys

    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in " \
                   "('pandas', 'pyarrow', 'boto3'))))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_the_writers_never_make_pyarrow_import_pandas():
    # pyarrow imports pandas (a third of a second) the first time a Python value becomes Arrow: the
    # writers build their literals from bytes instead.
    modules = imported_after(
        "import io, duckdb\n"
        "from analytics import output\n"
        "con = duckdb.connect()\n"
        "for fmt in output.FORMATS:\n"
        "    reader = con.execute(\"SELECT range AS n, 'a,\\\"b' || range AS s, range % 2 = 0 AS b, 1.5 AS d, "
        "range / 3 AS f, MAP {'k': 'v'} AS m, [range] AS l, {'x': range} AS st, TIMESTAMP '2025-01-01' AS t, "
        "NULL AS z FROM range(5)\").to_arrow_reader(2)\n"
        "    output.write(reader, fmt, io.BytesIO(), max_rows=3)\n")
    assert "pyarrow" in modules and "pandas" not in modules


def test_a_plain_aggregate_as_csv_imports_nothing_it_does_not_use(hand_data):
    modules = imported_after(
        "import sys\n"
        "from analytics import cli\n"
        "sys.stdout = open('/dev/null', 'w')\n"
        f"cli.main(['sql', 'SELECT bucket, count(*) AS n, sum(size) AS bytes FROM journal GROUP BY ALL', "
        f"'--data', {str(hand_data)!r}, '--format', 'csv'])\n"
        "sys.stdout = sys.__stdout__\n")
    assert not {"pyarrow.parquet", "boto3"} & modules, modules
    # The writers call Arrow's kernels without pyarrow.compute's Python wrappers (analytics.kernels).
    assert not {"pandas", "pyarrow.compute"} & modules, modules


# --- many small files ------------------------------------------------------------------------------

class Recording:
    """A DuckDB connection that records the file lists it binds and the statements it runs."""

    def __init__(self, con):
        self.con, self.lists, self.statements = con, [], []

    def __getattr__(self, name):
        return getattr(self.con, name)

    def read_parquet(self, files, *args, **kwargs):
        self.lists.append(files)
        return self.con.read_parquet(files, *args, **kwargs)

    def execute(self, statement, *args, **kwargs):
        self.statements.append(statement)
        return self.con.execute(statement, *args, **kwargs)


def test_opening_binds_each_tables_file_list_once(tmp_path, monkeypatch):
    # With ten thousand small files every bind of the list visits every file: opening binds it once
    # per table and reads the column types from that bind, with no DESCRIBE of the view.
    import duckdb
    import pyarrow.parquet as pq

    from analytics import schema
    from analytics.engines import duckdb as engine_module
    from conftest import HAND_JOURNAL

    for i, row in enumerate(HAND_JOURNAL):
        folder = tmp_path / "journal" / f"hour={i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = pa.Table.from_pylist([{k: row.get(k) for k in schema.JOURNAL.names}], schema=schema.JOURNAL)
        pq.write_table(rows, folder / f"part-{i:03d}.parquet")
    recorded, connect = [], duckdb.connect
    monkeypatch.setattr(engine_module.duckdb, "connect",
                        lambda *a, **k: recorded.append(Recording(connect(*a, **k))) or recorded[-1])
    with analytics.connect(data=tmp_path) as session:
        assert session.sql("SELECT count(*) AS n FROM journal").rows() == [{"n": len(HAND_JOURNAL)}]
    con = recorded[0]
    assert len(con.lists) == 1 and len(con.lists[0]) == len(HAND_JOURNAL)
    assert not [s for s in con.statements if s.lstrip().upper().startswith("DESCRIBE")]


def test_data_files_are_found_as_a_recursive_glob_finds_them(tmp_path):
    from analytics.engines.duckdb import parquet_files

    for path in ("a.parquet", "x/b.parquet", "x/y/c.parquet", "x/notes.txt", "x/d.PARQUET", ".hidden.parquet"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    (tmp_path / "dir.parquet").mkdir()  # a folder, not a file
    (tmp_path / "link").symlink_to(tmp_path / "x")  # a link to a folder: not followed by **
    (tmp_path / "x" / "y" / "loop").symlink_to(tmp_path)  # nor is a cycle
    (tmp_path / "x" / "alias.parquet").symlink_to(tmp_path / "a.parquet")  # a link to a file: read
    expected = sorted(str(p) for p in tmp_path.glob("**/*.parquet") if p.is_file())
    assert parquet_files(tmp_path) == expected and len(expected) == 5
    assert parquet_files(tmp_path / "missing") == []
