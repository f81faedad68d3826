"""The DuckDB engine: data discovery, schema checks, the sandbox, the read-only guard, error mapping."""

from __future__ import annotations

import os
import stat
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import analytics
from analytics.errors import DataError, QueryError, SQLRefused
from conftest import HAND_INVENTORY, HAND_JOURNAL, cli, write_tables

REFUSED = [
    "COPY journal TO 'out.csv'", "COPY (SELECT 1) TO 'x.parquet'", "ATTACH 'x.db'", "DETACH x",
    "INSTALL httpfs", "LOAD httpfs", "CREATE TABLE t AS SELECT 1", "CREATE VIEW v AS SELECT 1",
    "INSERT INTO journal SELECT * FROM journal", "UPDATE journal SET key = 'x'", "DELETE FROM journal",
    "DROP VIEW journal", "SET threads = 1", "RESET threads", "PRAGMA version", "PRAGMA threads=1",
    "CALL pragma_version()", "EXPORT DATABASE 'x'", "USE memory", "CHECKPOINT",
    "SELECT 1; SELECT 2", "SELECT 1; DROP VIEW journal", "EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'",
    "WITH a AS (SELECT 1) INSERT INTO journal SELECT * FROM journal",
    "IMPORT DATABASE 'x'", "BEGIN TRANSACTION", "PREPARE p AS SELECT 1", "VACUUM",
    "ALTER VIEW journal RENAME TO j2", "CREATE OR REPLACE MACRO m() AS 1",
]
ALLOWED = [
    "SELECT count(*) FROM journal", "select 1", "  -- comment\n SELECT 1", "/* c */ (SELECT 1)",
    "WITH a AS (SELECT 1 AS x) SELECT x FROM a", "VALUES (1, 'a')", "EXPLAIN SELECT * FROM journal",
    "EXPLAIN ANALYZE SELECT count(*) FROM journal", "DESCRIBE journal", "SHOW TABLES", "SUMMARIZE inventory",
    "FROM journal LIMIT 1", "SELECT 1;",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_ad_hoc_sql_refuses_anything_but_a_query(hand, statement):
    with pytest.raises(SQLRefused) as err:
        hand.sql(statement)
    assert str(err.value).startswith("refused")


@pytest.mark.parametrize("statement", ALLOWED)
def test_ad_hoc_sql_allows_queries(hand, statement):
    assert hand.sql(statement).table.num_columns >= 1


def test_refused_statements_change_nothing(hand):
    before = hand.sql("SELECT count(*) AS n FROM journal").rows()
    for statement in REFUSED:
        with pytest.raises(SQLRefused):
            hand.sql(statement)
    assert hand.sql("SELECT count(*) AS n FROM journal").rows() == before == [{"n": len(HAND_JOURNAL)}]


def test_sandbox_blocks_files_outside_the_data_folder(hand, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with pytest.raises(SQLRefused, match="disabled by configuration|Permission"):
        hand.sql(f"SELECT * FROM read_csv('{secret}')")


def test_sandbox_cannot_be_switched_off(hand):
    with pytest.raises(SQLRefused):
        hand.engine.execute("SET enable_external_access = true")


def test_import_is_refused_before_any_parser_reads_its_files(hand, tmp_path):
    # DuckDB's parser reads an IMPORT DATABASE folder's schema.sql while parsing the statement.
    with pytest.raises(SQLRefused, match="^refused: IMPORT is not a read-only query"):
        hand.sql(f"IMPORT DATABASE '{tmp_path}'")


@pytest.mark.parametrize("text", ["", "   ", "-- only a comment", "/* c */ ;"])
def test_no_statement_is_bad_input(hand, text):
    with pytest.raises(SQLRefused, match="no SQL statement given"):
        hand.sql(text)


def test_invalid_sql_is_bad_input(hand):
    with pytest.raises(SQLRefused, match="invalid SQL: Parser Error"):
        hand.sql("SELEC 1")
    with pytest.raises(SQLRefused, match="invalid SQL: Binder Error"):
        hand.sql("SELECT no_such_column FROM journal")


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="data folder not found"):
        analytics.connect(data=tmp_path / "nope")
    with pytest.raises(DataError, match="no Parquet data under"):
        analytics.connect(data=tmp_path)


def test_missing_table_is_named(tmp_path):
    write_tables(tmp_path, HAND_JOURNAL, HAND_INVENTORY)
    for f in (tmp_path / "inventory").glob("*.parquet"):
        f.unlink()
    with analytics.connect(data=tmp_path) as session:
        assert len(session.run("recent_deletes", since="2025-11-20", until="2025-11-21")) > 0
        with pytest.raises(DataError, match="no inventory data"):
            session.run("encryption_status_summary")


def test_schema_mismatch_names_the_missing_column(tmp_path):
    write_tables(tmp_path, HAND_JOURNAL, HAND_INVENTORY)
    path = tmp_path / "journal" / "part-00000.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["requester", "request_id"]), path)
    with pytest.raises(DataError, match="missing columns requester, request_id"):
        analytics.connect(data=tmp_path)


def test_schema_type_mismatch_is_named(tmp_path):
    write_tables(tmp_path, HAND_JOURNAL, HAND_INVENTORY)
    path = tmp_path / "journal" / "part-00000.parquet"
    table = pq.read_table(path)
    i = table.schema.get_field_index("record_timestamp")
    table = table.set_column(i, "record_timestamp", table.column(i).cast(pa.string()))
    pq.write_table(table, path)
    with pytest.raises(DataError, match="column record_timestamp has type VARCHAR, expected TIMESTAMP"):
        analytics.connect(data=tmp_path)


def test_nested_folders_and_extra_columns_are_read(tmp_path):
    write_tables(tmp_path, HAND_JOURNAL, HAND_INVENTORY)
    nested = tmp_path / "journal" / "year=2025"
    nested.mkdir()
    (tmp_path / "journal" / "part-00000.parquet").rename(nested / "p.parquet")
    with analytics.connect(data=tmp_path) as session:
        assert session.sql("SELECT count(*) AS n FROM journal").rows() == [{"n": len(HAND_JOURNAL)}]


def test_corrupted_parquet_is_a_clear_data_error(tmp_path):
    write_tables(tmp_path, HAND_JOURNAL, HAND_INVENTORY)
    path = tmp_path / "journal" / "part-00000.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        with analytics.connect(data=tmp_path) as session:
            session.run("recent_deletes")
    assert "part-00000.parquet" in str(err.value)


def test_timezone_is_utc(hand):
    assert hand.sql("SELECT current_setting('TimeZone') AS tz").rows() == [{"tz": "UTC"}]


def test_parameters_are_bound_not_pasted(hand):
    rendered = hand.render("recent_deletes", since="2025-11-20", until="2025-11-21", bucket="vers-bucket")
    assert "vers-bucket" not in rendered.sql and "2025" not in rendered.sql
    assert "$since" in rendered.sql and rendered.parameters["bucket"] == "vers-bucket"


def test_files_from_other_writers_read_the_same(hand, tmp_path):
    """Zone-aware or nanosecond timestamps, and columns in another order, give the same answers."""
    write_tables(tmp_path, HAND_JOURNAL, HAND_INVENTORY)
    path = tmp_path / "journal" / "part-00000.parquet"
    table = pq.read_table(path)
    for name in ("record_timestamp", "last_modified_date"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, table.column(i).cast(pa.timestamp("ns", tz="UTC")))
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), path)
    naive_ns = [f.with_type(pa.timestamp("ns")) if f.name.endswith(("timestamp", "date")) else f for f in table.schema]
    rest = table.slice(half).cast(pa.schema(naive_ns))
    pq.write_table(rest.select(list(reversed(rest.column_names))), tmp_path / "journal" / "part-00001.parquet")
    window = {"since": "2025-11-20", "until": "2025-11-21"}
    with analytics.connect(data=tmp_path) as other:
        for name in ("recent_deletes", "recent_metadata_updates", "prefix_delete_volume", "source_ip_activity"):
            assert other.run(name, **window).rows() == hand.run(name, **window).rows(), name
        deletes = other.run("recent_deletes", **window).arrow()
        assert str(deletes.schema.field("record_timestamp").type) == "timestamp[us]"


# --- the sandbox holds the data folder, and nothing the working folder brings --------------------------------

@pytest.fixture
def hostile_cwd(tmp_path, monkeypatch):
    """A working folder (cron's is $HOME) whose `.tmp` links to /etc, where DuckDB would put its temp files."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / ".tmp").symlink_to("/etc")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # where the session's private folder must go
    (tmp_path / "tmp").mkdir()
    tempfile.tempdir = None  # re-read TMPDIR
    yield cwd
    tempfile.tempdir = None


def test_allowed_directories_hold_only_the_data_folder_and_a_private_temp_folder(hand_data, hostile_cwd, tmp_path):
    with analytics.connect(data=hand_data) as session:
        (row,) = session.sql("SELECT current_setting('allowed_directories') AS allowed, "
                             "current_setting('temp_directory') AS temp").rows()
        temp = Path(row["temp"])
        # DuckDB always allows its own temp folder: a fresh, empty one of this session's, mode 0700.
        assert sorted(row["allowed"]) == sorted([str(hand_data.resolve()) + os.sep, str(temp) + os.sep])
        assert temp.parent == tmp_path / "tmp" and temp.is_dir() and not any(temp.iterdir())
        assert stat.S_IMODE(temp.stat().st_mode) == 0o700
        for path in (".tmp/passwd", str(hostile_cwd / ".tmp" / "passwd"), "/etc/passwd"):
            with pytest.raises(SQLRefused):
                session.sql(f"SELECT content FROM read_text('{path}')")
    assert not temp.exists()  # removed at close


def test_cli_cannot_read_through_the_working_folder(hand_data, hostile_cwd, tmp_path):
    for statement in ("SELECT content FROM read_text('.tmp/passwd')", "SELECT * FROM read_csv('.tmp/passwd')"):
        proc = cli("sql", statement, "--data", str(hand_data), env={"TMPDIR": str(tmp_path / "tmp")})
        assert proc.returncode == 2 and "root:" not in proc.stdout, proc.stdout
    assert list((tmp_path / "tmp").iterdir()) == []  # each run removed its private temp folder


def test_a_session_left_open_removes_its_temp_folder_at_exit(hand_data, tmp_path):
    script = f"import analytics; s = analytics.connect(data={str(hand_data)!r}); print(s.engine.temp_directory)"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).parent == tmp_path and list(tmp_path.iterdir()) == []


# What the real command has imported when it exits: `python -m analytics ...`, with a hook that
# lists sys.modules last. (A module DuckDB only tried to import is there as None, and not counted.)
_MODULES_AT_EXIT = ("import atexit, json, runpy, sys\n"
                    "listing = sys.argv.pop(1)\n"
                    "atexit.register(lambda: open(listing, 'w').write(json.dumps(sorted(\n"
                    "    name for name, module in sys.modules.items() if module is not None))))\n"
                    "runpy.run_module('analytics', run_name='__main__', alter_sys=True)\n")


@pytest.mark.parametrize("args", [
    ["sql", "SELECT count(*) AS n FROM journal"],
    ["sql", "SELECT count(*) AS n FROM journal WHERE record_timestamp >= :since AND bucket <> :b",
     "-p", "since=2025-01-01T00:00:00", "-p", "b=x"],
    ["query", "recent_deletes", "-p", "since=3650d"],  # a window: datetimes bound by DuckDB
    ["report", "--since", "3650d", "--output", "{out}/report.json"],
], ids=["sql", "sql with parameters", "query", "report"])
def test_duckdb_commands_import_neither_pandas_nor_boto3(hand_data, tmp_path, args):
    """DuckDB imports pandas to bind any Python value, unless it looks absent (engines.duckdb._execute);
    nothing on DuckDB needs boto3."""
    listing = tmp_path / "modules.json"
    args = [a.format(out=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, "-c", _MODULES_AT_EXIT, str(listing), *args, "--data", str(hand_data),
                           *(["--format", "csv"] if args[0] != "report" else [])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: the report's findings
    assert args[0] == "report" or proc.stdout.startswith(("n\n", "bucket,")), proc.stdout[:200]
    imported = set(json.loads(listing.read_text()))
    assert "duckdb" in imported  # the listing works
    heavy = sorted(m for m in imported if m.split(".")[0] in ("pandas", "boto3", "botocore", "pyathena"))
    assert heavy == [], heavy


def test_binding_leaves_pandas_importable():
    """The bind's stand-in is gone afterwards: pandas imports, and DuckDB makes DataFrames with it."""
    code = ("import sys, datetime, duckdb\n"
            "from analytics.engines.duckdb import _execute\n"
            "con = duckdb.connect()\n"
            "values = {'t': datetime.datetime(2025, 1, 2), 's': 'x'}\n"
            "row = _execute(con, 'SELECT $t AS t, $s AS s', values).fetchone()\n"
            "assert row == (datetime.datetime(2025, 1, 2), 'x') and 'pandas' not in sys.modules, row\n"
            "import pandas\n"
            "frame = _execute(con, 'SELECT $t AS t', {'t': datetime.datetime(2025, 1, 2)}).df()\n"
            "print(type(frame).__name__, frame['t'][0])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["DataFrame", "2025-01-02", "00:00:00"]


def test_buckets_travel_as_a_bound_value_not_as_sql_text(small_data):
    with analytics.connect(data=small_data, buckets=["acme.media.assets"]) as session:
        assert session.sql("SELECT DISTINCT bucket FROM journal").rows() == [{"bucket": "acme.media.assets"}]
        definitions = session.engine.con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()
        assert not any("acme" in (sql or "") for (sql,) in definitions)
        plan = session.sql("EXPLAIN SELECT count(*) FROM journal").rows()[0]["explain_value"]
        scan = plan[plan.index("PARQUET_SCAN"):]
        assert "Filters:" in scan and "list_contains" in scan  # filtered in the Parquet scan itself


# --- errors say what happened, with DuckDB's hints ----------------------------------------------------------

@pytest.mark.parametrize("statement,error,label,hint", [
    ("SELECT * FROM journl", SQLRefused, "invalid SQL: Catalog Error", 'Did you mean "journal"?'),
    ("SELECT lenght(key) FROM journal", SQLRefused, "invalid SQL: Catalog Error", 'Did you mean "length"?'),
    ("SELECT nope FROM journal", SQLRefused, "invalid SQL: Binder Error", "Candidate bindings:"),
    ("SELECT CAST(key AS INTEGER) FROM journal", QueryError, "the query failed as it ran: Conversion Error",
     "when casting from source column key"),
    ("SELECT 2147483647::INTEGER + 1", QueryError, "the query failed as it ran: Out of Range Error", "Overflow"),
    ("SELECT error('boom')", QueryError, "the query failed as it ran: Invalid Input Error", "boom"),
    ("SELECT * FROM read_csv('/etc/passwd')", SQLRefused, "refused: Permission Error", "disabled by configuration"),
])
def test_duckdb_errors_are_labelled_by_what_happened_with_hints_on_one_line(hand, statement, error, label, hint):
    with pytest.raises(error) as err:
        hand.sql(statement)
    message = str(err.value)
    assert message.startswith(label) and hint in message and "\n" not in message, message
    assert "LINE 1" not in message  # the statement excerpt and its caret stay out


def test_a_locked_setting_is_a_refusal(hand):
    with pytest.raises(SQLRefused, match="^refused: .*configuration has been locked"):
        hand.engine.execute("SET allowed_directories = ['/']")


@pytest.mark.parametrize("link", ["folder", "file"])
def test_data_reached_through_a_symlink_inside_the_data_folder_is_read(tmp_path, link):
    write_tables(tmp_path / "real", HAND_JOURNAL, HAND_INVENTORY)
    (tmp_path / "data").mkdir()
    (tmp_path / "real" / "inventory").rename(tmp_path / "data" / "inventory")
    if link == "folder":  # data/journal -> ../real/journal, as an export mounted elsewhere
        (tmp_path / "data" / "journal").symlink_to(tmp_path / "real" / "journal")
    else:
        (tmp_path / "data" / "journal").mkdir()
        (tmp_path / "data" / "journal" / "p.parquet").symlink_to(tmp_path / "real" / "journal" / "part-00000.parquet")
    (tmp_path / "real" / "secret.csv").write_text("a\n1\n")
    with analytics.connect(data=tmp_path / "data") as session:
        assert session.sql("SELECT count(*) AS n FROM journal").rows() == [{"n": len(HAND_JOURNAL)}]
        with pytest.raises(SQLRefused, match="^refused"):  # the link's neighbours stay out of reach
            session.sql(f"SELECT * FROM read_csv('{tmp_path / 'real' / 'secret.csv'}')")
    proc = cli("sql", "SELECT count(*) AS n FROM journal", "--data", str(tmp_path / "data"), "--format", "csv")
    assert proc.returncode == 0 and proc.stdout == f"n\n{len(HAND_JOURNAL)}\n", proc.stderr
