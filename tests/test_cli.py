"""The real `s3meta` command: structured output, exit codes and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import shutil
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
