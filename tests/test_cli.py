"""The real `s3meta` command: structured output, exit codes and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import ODD_KEY, SCRIPT_KEY, WINDOW, cli

W = ["-p", f"since={WINDOW['since']}", "-p", f"until={WINDOW['until']}"]


def one_line_error(proc: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s3meta: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and fragment in lines[0], lines[0]


def test_list_and_show():
    proc = cli("list", "--format", "json")
    names = {q["name"] for q in json.loads(proc.stdout)}
    assert {"recent_deletes", "prefix_delete_volume"} <= names
    proc = cli("show", "recent_deletes")
    assert proc.returncode == 0 and "Parameters:" in proc.stdout and "since (timestamp, default 24h)" in proc.stdout


def test_show_render_prints_the_statement_and_bound_values(empty_config):
    # An empty config: the (hostile) default profile of the test home says athena.
    proc = cli("--config", str(empty_config), "show", "recent_deletes", "--render", "-p", "since=2025-11-20",
               "-p", "until=2025-11-21", "-p", "bucket=my.bucket")
    assert proc.returncode == 0, proc.stderr
    assert "record_timestamp >= $since" in proc.stdout
    bound = json.loads(proc.stdout.split("-- parameters (duckdb): ")[1])
    assert bound == {"since": "2025-11-20T00:00:00", "until": "2025-11-21T00:00:00", "bucket": "my.bucket"}


def test_query_json_is_an_array_of_objects(hand_data):
    proc = cli("query", "recent_deletes", "--data", str(hand_data), *W, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list) and len(rows) == 7
    first = rows[0]
    assert first["record_timestamp"] == "2025-11-20T12:00:00" and first["is_delete_marker"] is True
    odd = next(r for r in rows if r["key"] == ODD_KEY)
    assert odd["version_id"] is None and odd["requester"] is None


def test_query_jsonl_maps_as_objects(hand_data):
    proc = cli("query", "recent_metadata_updates", "--data", str(hand_data), *W, "--format", "jsonl")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[1]["object_tags"] == {"env": "prod"} and rows[0]["object_tags"] == {}


def test_csv_quotes_commas_quotes_and_newlines(hand_data):
    proc = cli("sql", "SELECT key, object_tags FROM journal WHERE bucket = 'plain-bucket' ORDER BY key",
               "--data", str(hand_data), "--format", "csv")
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["key", "object_tags"]
    assert [r[0] for r in rows[1:]] == sorted([ODD_KEY, ODD_KEY, ODD_KEY, "old/backfilled.bin", SCRIPT_KEY])
    assert ["", "{}"] <= sorted({r[1] for r in rows[1:]})  # NULL map as empty, {} as {}


def test_markdown_escapes_pipes_and_html(hand_data):
    proc = cli("sql", "SELECT key, 'a|b' AS p FROM inventory WHERE bucket = 'plain-bucket' ORDER BY key",
               "--data", str(hand_data), "--format", "markdown")
    assert "<script>" not in proc.stdout and "&lt;script&gt;" in proc.stdout
    assert "a\\|b" in proc.stdout


def test_table_escapes_control_characters(hand_data):
    proc = cli("sql", "SELECT key FROM journal WHERE bucket = 'plain-bucket' ORDER BY key",
               "--data", str(hand_data), "--format", "table")
    assert 'q"uote,comma\\nnew.csv' in proc.stdout and "5 rows" in proc.stdout


def test_parquet_output_keeps_types(hand_data, tmp_path):
    out = tmp_path / "deletes.parquet"
    proc = cli("query", "recent_deletes", "--data", str(hand_data), *W, "--format", "parquet", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(out)
    assert table.num_rows == 7 and str(table.schema.field("record_timestamp").type) == "timestamp[us]"
    assert not list(tmp_path.glob(".*.tmp"))


def test_default_format_off_a_terminal_is_csv(hand_data):
    proc = cli("query", "source_ip_activity", "--data", str(hand_data), *W)
    assert proc.stdout.splitlines()[0] == "source_ip_address,record_count,annotation_events"


def test_sql_from_file_and_stdin(hand_data, tmp_path):
    f = tmp_path / "q.sql"
    f.write_text("SELECT count(*) AS n FROM journal")
    assert json.loads(cli("sql", "-f", str(f), "--data", str(hand_data), "--format", "json").stdout) == [{"n": 16}]
    proc = cli("sql", "--data", str(hand_data), "--format", "json", stdin="SELECT 2 AS n")
    assert json.loads(proc.stdout) == [{"n": 2}]


def test_data_from_the_environment(hand_data):
    proc = cli("sql", "SELECT count(*) AS n FROM inventory", "--format", "json", env={"S3META_DATA": str(hand_data)})
    assert json.loads(proc.stdout) == [{"n": 6}]


@pytest.mark.parametrize("args,code,fragment", [
    (["query", "recent_delete"], 2, "did you mean 'recent_deletes'"),
    (["query", "recent_deletes", "-p", "since=yesterday"], 2, "query 'recent_deletes', parameter 'since'"),
    (["query", "recent_deletes", "-p", "bucket=no way"], 2, "parameter 'bucket'"),
    (["query", "recent_deletes", "-p", "limit=5"], 2, "no such parameter"),
    (["query", "recent_deletes", "-p", "since"], 2, "expected NAME=VALUE"),
    (["sql", "COPY journal TO 'x.csv'"], 2, "refused: COPY"),
    (["sql", "ATTACH 'x.db'"], 2, "refused: ATTACH"),
    (["sql", "INSTALL httpfs"], 2, "refused: INSTALL"),
    (["sql", "LOAD httpfs"], 2, "refused: LOAD"),
    (["sql", "CREATE TABLE t (a INT)"], 2, "refused: CREATE"),
    (["sql", "INSERT INTO journal SELECT * FROM journal"], 2, "refused: INSERT"),
    (["sql", "SET threads = 1"], 2, "refused: SET"),
    (["sql", "PRAGMA version"], 2, "refused: PRAGMA"),
    (["sql", "SELECT 1; SELECT 2"], 2, "2 statements"),
    (["sql", "SELEC 1"], 2, "invalid SQL"),
    (["sql", "SELECT nope FROM journal"], 2, "invalid SQL"),
    (["sql", "-f", "/nonexistent/q.sql"], 2, "cannot read SQL file"),
])
def test_bad_input_exits_2_with_one_line(hand_data, args, code, fragment):
    one_line_error(cli(*args, "--data", str(hand_data)), code, fragment)


def test_missing_data_exits_2(tmp_path, empty_config):
    one_line_error(cli("query", "recent_deletes", "--data", str(tmp_path / "nope")), 2, "data folder not found")
    # No profile, so no data folder from anywhere.
    one_line_error(cli("--config", str(empty_config), "query", "recent_deletes"), 2, "no journal data")


def test_schema_mismatch_exits_2(hand_data, tmp_path):
    shutil.copytree(hand_data, tmp_path / "d")
    path = tmp_path / "d" / "inventory" / "part-00000.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["kms_key_arn"]), path)
    one_line_error(cli("query", "encryption_status_summary", "--data", str(tmp_path / "d")), 2,
                   "missing column kms_key_arn")


def test_unwritable_output_exits_2(hand_data):
    one_line_error(cli("query", "source_ip_activity", "--data", str(hand_data), *W, "--output",
                       "/proc/forbidden/out.csv"), 2, "cannot write")


def test_every_command_has_help():
    for args in (["--help"], ["list", "--help"], ["show", "--help"], ["query", "--help"], ["sql", "--help"],
                 ["fixtures", "--help"], ["fixtures", "generate", "--help"]):
        proc = cli(*args)
        assert proc.returncode == 0 and "usage: s3meta" in proc.stdout, args


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "s3meta"
    if not script.exists():
        pytest.skip("the s3meta console script is not installed in this interpreter's environment")
    proc = subprocess.run([str(script), "list"], capture_output=True, text=True)
    assert proc.returncode == 0 and "recent_deletes" in proc.stdout


# --- stderr carries narration and one-line errors only ---------------------------------------------------

ATHENA = ["--engine", "athena", "--bucket", "acme-prod-data", "--region", "us-east-1"]
# Statements each engine's read-only check refuses; several make a SQL parser fall back and log.
REFUSED_ON = {
    "duckdb": ["UNLOAD (SELECT 1) TO 's3://x/'", "COPY journal TO 'x.csv'", "MSCK REPAIR TABLE journal",
               "CALL pragma_version()", "LOAD httpfs", "VACUUM", "EXPLAIN ANALYZE UNLOAD (SELECT 1) TO 's3://x/'",
               "SHOW CREATE TABLE journal", "PREPARE p AS SELECT 1"],
    "athena": ["UNLOAD (SELECT 1) TO 's3://x/' WITH (format = 'PARQUET')", "MSCK REPAIR TABLE journal",
               "CALL system.flush()", "LOAD httpfs", "VACUUM journal", "EXPLAIN ANALYZE UNLOAD (SELECT 1) TO 's3://x/'",
               "PREPARE p FROM SELECT 1", "DEALLOCATE PREPARE p", "RESET SESSION a",
               "OPTIMIZE journal REWRITE DATA USING BIN_PACK", "INSERT INTO journal SELECT * FROM journal"],
}


@pytest.mark.parametrize("engine,statement", [(e, s) for e, statements in REFUSED_ON.items() for s in statements])
def test_a_refused_statement_prints_exactly_one_stderr_line(hand_data, engine, statement):
    where = ["--data", str(hand_data)] if engine == "duckdb" else ATHENA
    proc = cli("sql", statement, *where)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("s3meta: error: "), proc.stderr
    assert proc.stdout == ""


def test_duckdb_never_draws_its_progress_bar(hand_data):
    # DuckDB turns its bar on when Python looks interactive (`python -c`, a notebook, a REPL) and
    # draws it on stdout, into the CSV a script is writing.
    script = ("import analytics; s = analytics.connect(data=%r); "
              "print(s.sql(\"SELECT current_setting('enable_progress_bar') AS p\").rows())" % str(hand_data))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[{'p': False}]", proc.stdout + proc.stderr


# --- --bucket means the same on both engines -----------------------------------------------------------

def test_bucket_restricts_duckdbs_tables_to_those_buckets(small_data):
    query = ["query", "recent_deletes", "--data", str(small_data), "-p", "since=2025-11-16", "-p", "until=2025-11-30",
             "--format", "json"]
    every = json.loads(cli(*query).stdout)
    assert {"acme-prod-data", "acme-logs", "acme.media.assets"} == {r["bucket"] for r in every}
    only = json.loads(cli(*query, "--bucket", "acme-prod-data").stdout)
    assert only and only == [r for r in every if r["bucket"] == "acme-prod-data"]
    two = json.loads(cli(*query, "--bucket", "acme-prod-data", "--bucket", "acme.media.assets").stdout)
    assert two == [r for r in every if r["bucket"] != "acme-logs"]
    from_env = cli(*query, env={"S3META_BUCKETS": "acme-logs"})
    assert {r["bucket"] for r in json.loads(from_env.stdout)} == {"acme-logs"}


def test_bucket_restricts_every_table_with_a_bucket_column(small_data):
    for table in ("journal", "inventory"):
        proc = cli("sql", f"SELECT DISTINCT bucket FROM {table}", "--data", str(small_data), "--bucket", "acme-logs",
                   "--format", "json")
        assert json.loads(proc.stdout) == [{"bucket": "acme-logs"}], (table, proc.stderr)


@pytest.mark.parametrize("bucket", ["x' OR '1'='1", "", "a", "no way"])
def test_a_malformed_bucket_is_bad_input_on_duckdb(hand_data, bucket):
    one_line_error(cli("sql", "SELECT 1", "--data", str(hand_data), "--bucket", bucket), 2, "--bucket")


# --- hostile input to every flag: exit 2 with one clear line -----------------------------------------------

HOSTILE_FLAGS = [
    (["query", "recent_deletes", "-p", "since=999999999d"], "parameter 'since'"),
    (["query", "recent_deletes", "-p", "since=99999999999999999999999d"], "parameter 'since'"),
    (["show", "recent_deletes", "--render", "-p", "since=999999999d"], "parameter 'since'"),
    (["query", "recent_deletes", "-p", "since=１２h"], "parameter 'since'"),
    (["query", "largest_recent_uploads", "-p", "limit=٣"], "parameter 'limit'"),
    (["query", "requester_activity", "-p", "requester=１１１１２２２２３３３３"], "parameter 'requester'"),
    (["query", "recent_deletes", "--max-rows", str(10**30)], "--max-rows"),
    (["query", "recent_deletes", "--max-rows", "-1"], "--max-rows"),
    (["query", "recent_deletes", "--max-rows", "١٢"], "--max-rows"),
    (["query", "recent_deletes", "--timeout", "nan"], "--timeout"),
    (["query", "recent_deletes", "--timeout", "inf"], "--timeout"),
    (["query", "recent_deletes", "--timeout", "1e400"], "--timeout"),
    (["query", "recent_deletes", "--timeout", "١٢"], "--timeout"),
    (["query", "recent_deletes", "--timeout", "-1"], "--timeout"),
    (["query", "recent_deletes", "--output", ""], "--output"),
    (["query", "recent_deletes", "--format", "nope"], "--format"),
    (["sql", "SELECT 1", "-f", ""], "--file"),
    (["sql", "-f", "/tmp"], "cannot read SQL file /tmp"),
    (["restore-plan", "--requester", "111122223333", "--output", ""], "--output"),
    (["restore-plan", "--requester", "１１１１２２２２３３３３", "--output", "x"], "requester"),
    (["report", "--since", "999999999d"], "--since"),
    (["report", "--baseline", "999999999d"], "longer than"),
    (["report", "--baseline", "١٢d"], "--baseline"),
    (["report", "--output", ""], "--output"),
    (["report", "--state", ""], "--state"),
    (["report", "--state", "/dev/zero"], "--state"),
    (["report", "--webhook", ""], "--webhook"),
    (["report", "--webhook", "file:///etc/passwd"], "--webhook"),
    (["report", "--sns-topic", ""], "--sns-topic"),
    (["report", "--sns-topic", "not-an-arn"], "--sns-topic"),
    (["fixtures", "generate", "--out", "x", "--seed", "-1"], "--seed"),
    (["fixtures", "generate", "--out", "x", "--rows", str(10**20)], "--rows"),
    (["fixtures", "generate", "--out", "x", "--days", "99999999"], "--days"),
    (["fixtures", "generate", "--out", "x", "--rows", "１０００"], "--rows"),
    (["fixtures", "generate", "--out", ""], "--out"),
    (["fixtures", "generate", "--out", "x", "--end", "999999999d"], "--end"),
    (["list", "--tag", "no-such-tag"], "no query is tagged 'no-such-tag'"),
]


@pytest.mark.parametrize("args,fragment", HOSTILE_FLAGS)
def test_hostile_flag_values_exit_2_with_one_line(hand_data, tmp_path, args, fragment):
    where = [] if args[0] in ("fixtures", "list") else ["--data", str(hand_data)]
    proc = subprocess.run([sys.executable, "-m", "analytics", *args, *where], capture_output=True, text=True,
                          encoding="utf-8", cwd=tmp_path, timeout=120)
    one_line_error(proc, 2, fragment)
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("args,fragment", [
    (["--data", ""], "--data"),
    (["--engine", "athena", "--bucket", "acme-prod-data", "--region", ""], "--region"),
    (["--engine", "athena", "--bucket", "acme-prod-data", "--workgroup", ""], "--workgroup"),
    (["--engine", "athena", "--bucket", "acme-prod-data", "--output-location", ""], "--output-location"),
    (["--engine", "athena", "--bucket", "acme-prod-data", "--output-location", "/tmp/results"], "s3://"),
    (["--engine", "athena", "--bucket", "acme-prod-data", "--namespace", ""], "--namespace"),
    (["--engine", "athena", "--bucket", "acme-prod-data", "--aws-profile", ""], "--aws-profile"),
])
def test_empty_engine_settings_exit_2(args, fragment):
    one_line_error(cli("sql", "SELECT 1", *args), 2, fragment)


def sql_with_stdin(hand_data, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", "sql", "--data", str(hand_data)], capture_output=True,
                          timeout=120, **popen)


def test_sql_with_stdin_closed_exits_2(hand_data):
    proc = sql_with_stdin(hand_data, stdin=None, preexec_fn=lambda: os.close(0))
    one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                               proc.stderr.decode()), 2, "no SQL given")


def test_sql_with_non_utf8_stdin_exits_2(hand_data):
    proc = sql_with_stdin(hand_data, input=b"SELECT '\xff\xfe' AS x")
    one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                               proc.stderr.decode()), 2, "not UTF-8")


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_sql_input_is_capped_not_read_until_memory_runs_out(hand_data, source):
    # /dev/zero never ends; a cap on memory (1 GiB of address space beyond what is mapped at start would
    # do, but RLIMIT_AS counts DuckDB's and pyarrow's mappings) is replaced by a wall-clock bound here.
    if source == "file":
        proc = subprocess.run([sys.executable, "-m", "analytics", "sql", "-f", "/dev/zero", "--data", str(hand_data)],
                              capture_output=True, text=True, timeout=60)
    else:
        with open("/dev/zero", "rb") as zero:
            proc = subprocess.run([sys.executable, "-m", "analytics", "sql", "--data", str(hand_data)], stdin=zero,
                                  capture_output=True, text=True, timeout=60)
    one_line_error(proc, 2, "longer than")


def test_output_to_a_fifo_is_written_in_place(hand_data, tmp_path):
    """A named pipe (or a device such as /dev/stdout) cannot be replaced by a rename, and must not be."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = cli("sql", "SELECT 42 AS n", "--data", str(hand_data), "--format", "csv", "--output", str(fifo))
    reader.join(30)
    if reader.is_alive():  # the command replaced the pipe: unblock the reader
        with open(os.open(str(tmp_path / "pipe"), os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
    assert proc.returncode == 0, proc.stderr
    assert received == [b"n\n42\n"] and stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_unwritable_stdout_exits_2(hand_data):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "analytics", "sql", "SELECT 42 AS n", "--data", str(hand_data)],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("s3meta: error: cannot write"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("value", ["nan", "inf", "٣", "0"])
def test_a_timeout_from_the_environment_or_a_profile_is_checked_too(hand_data, tmp_path, value):
    one_line_error(cli("sql", "SELECT 1", "--data", str(hand_data), env={"S3META_TIMEOUT": value}), 2,
                   "setting 'timeout' must be a positive number")
    config = tmp_path / "c.toml"
    config.write_text(f'[profiles.p]\ntimeout = {value if value in ("nan", "inf", "0") else repr(value)}\n')
    one_line_error(cli("--config", str(config), "--profile", "p", "sql", "SELECT 1", "--data", str(hand_data)), 2,
                   "setting 'timeout' must be a positive number")


def test_duckdb_memory_is_bounded_by_default_and_settable(hand_data, tmp_path):
    """DuckDB's own default is 80% of the machine; s3meta's is 2GB, from a flag, $S3META_MEMORY_LIMIT
    or a profile, and beyond it a query spills into the session's private temp folder."""
    shown = "SELECT current_setting('memory_limit') AS m"
    assert cli("sql", shown, "--data", str(hand_data), "--format", "csv").stdout == 'm\n"1.8 GiB"\n'
    assert cli("sql", shown, "--data", str(hand_data), "--format", "csv", "--memory-limit", "512MiB").stdout \
        == 'm\n"512.0 MiB"\n'
    assert cli("sql", shown, "--data", str(hand_data), "--format", "csv", env={"S3META_MEMORY_LIMIT": "4GB"}).stdout \
        == 'm\n"3.7 GiB"\n'
    config = tmp_path / "c.toml"
    config.write_text('[profiles.p]\nmemory_limit = "1GiB"\n')
    assert cli("--config", str(config), "--profile", "p", "sql", shown, "--data", str(hand_data),
               "--format", "csv").stdout == 'm\n"1.0 GiB"\n'


@pytest.mark.parametrize("value,fragment", [
    ("lots", "expected a size such as 2GB"), ("1e9", "expected a size"), ("-1GB", "expected a size"),
    ("99MB", "too little for DuckDB"), ("0GiB", "too little"), ("2GB'; SET x=1; --", "expected a size"),
])
def test_a_bad_memory_limit_is_one_line(hand_data, value, fragment):
    one_line_error(cli("sql", "SELECT 1", "--data", str(hand_data), f"--memory-limit={value}"), 2, fragment)
    one_line_error(cli("sql", "SELECT 1", "--data", str(hand_data), env={"S3META_MEMORY_LIMIT": value}), 2,
                   fragment)
