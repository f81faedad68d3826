"""Driver-bound `:name` parameters in ad-hoc SQL: the API, the CLI and Athena (the magic: test_magic.py)."""

from __future__ import annotations

import json
from datetime import datetime

import boto3
import pytest

import analytics
from analytics.errors import ParamError, SQLRefused
from conftest import HAND_JOURNAL, ODD_KEY, cli
from test_athena import RESULTS, can, received

HOSTILE = "plain-bucket' OR '1'='1"


def test_placeholders_are_bound_and_typed_as_the_catalog_types_them(hand):
    result = hand.sql("SELECT key FROM journal WHERE bucket = :bucket AND record_timestamp >= :since "
                      "AND record_timestamp < :until ORDER BY key", bucket="plain-bucket", since="30h",
                      until="2025-11-21T00:00:00Z")
    # `since` is a timestamp as in every catalog query: a duration counts back from until.
    assert result.params == {"bucket": "plain-bucket", "since": datetime(2025, 11, 19, 18),
                             "until": datetime(2025, 11, 21)}
    expected = sorted(r["key"] for r in HAND_JOURNAL if r["bucket"] == "plain-bucket"
                      and datetime(2025, 11, 19, 18) <= r["record_timestamp"] < datetime(2025, 11, 21))
    assert [r["key"] for r in result.rows()] == expected and ODD_KEY in expected
    assert ":bucket" in result.sql and "plain-bucket" not in result.sql  # the value never entered the text


def test_a_value_is_never_sql(hand):
    assert len(hand.sql("SELECT key FROM journal WHERE key = :key", key=ODD_KEY)) == 3
    # A quote in a value is data: a pasted value would have matched every row.
    assert len(hand.sql("SELECT key FROM journal WHERE bucket = :b", b=HOSTILE)) == 0
    assert hand.sql("SELECT :who AS who", who="'); DROP TABLE journal; --").rows() == [
        {"who": "'); DROP TABLE journal; --"}]


def test_python_values_and_named_types(hand):
    assert hand.sql("SELECT count(*) AS n FROM journal WHERE size > :n", n=2 * 1024 * 1024).rows() == [{"n": 2}]
    assert hand.sql("SELECT count(*) AS n FROM journal WHERE size > :n", {"n:integer": "2097152"}).rows() == [
        {"n": 2}]
    at = hand.sql("SELECT count(*) AS n FROM journal WHERE record_timestamp < :t", t=datetime(2025, 11, 20))
    assert at.rows() == [{"n": 1}]
    # A placeholder inside a string or a comment is text, not a parameter.
    assert hand.sql("SELECT ':x' AS a -- :y\n").rows() == [{"a": ":x"}]


@pytest.mark.parametrize("sql, values, fragment", [
    ("SELECT 1 WHERE :bucket IS NOT NULL", {}, "parameter 'bucket': required"),
    ("SELECT 1 WHERE :bucket IS NOT NULL", {"bucket": "no way"}, "expected an S3 bucket name"),
    ("SELECT 1 WHERE :since IS NOT NULL", {"since": "yesterday"}, "parameter 'since'"),
    ("SELECT 1", {"bucket": "b"}, "the statement has no :bucket placeholder"),
    ("SELECT :n", {"n:number": "1"}, "unknown type 'number'"),
    ("SELECT :n", {"n": 0.5}, "cannot bind a float"),
])
def test_bad_values_are_one_parameter_error(hand, sql, values, fragment):
    with pytest.raises(ParamError, match=fragment):
        hand.sql(sql, values)


def test_placeholders_do_not_open_the_read_only_check(hand):
    with pytest.raises(SQLRefused, match="refused"):
        hand.sql("DELETE FROM journal WHERE bucket = :b", b="x")
    with pytest.raises(SQLRefused, match="2 statements"):
        hand.sql("SELECT :b; SELECT 2", b="x")


def test_cli_binds_p_values(hand_data):
    proc = cli("sql", "SELECT key FROM journal WHERE bucket = :bucket AND key = :key", "--data", str(hand_data),
               "-p", "bucket=plain-bucket", "-p", f"key={ODD_KEY}", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"key": ODD_KEY}] * 3
    proc = cli("sql", "SELECT count(*) AS n FROM journal WHERE size > :n", "-p", "n:integer=2097152",
               "--data", str(hand_data), "--format", "json")
    assert json.loads(proc.stdout) == [{"n": 2}]
    proc = cli("sql", "SELECT count(*) AS n FROM journal WHERE bucket = :bucket", "--data", str(hand_data))
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "s3meta: error: parameter 'bucket': required; expected an S3 bucket name such as my-bucket or my.bucket")


def test_athena_gets_execution_parameters(aws):
    can(aws, [("n", "bigint")], [["4"]])
    with analytics.connect("athena", buckets=["acme-prod-data"], output_location=RESULTS,
                           clock=lambda: datetime(2025, 11, 21)) as session:
        result = session.sql("SELECT count(*) AS n FROM journal WHERE bucket = :bucket AND key = :key "
                             "AND record_timestamp >= :since", bucket="acme-prod-data", key=HOSTILE, since="1d")
    assert result.rows() == [{"n": 4}]
    sent = received(result.stats["query_execution_id"])
    assert sent["Query"] == ("SELECT count(*) AS n FROM journal WHERE bucket = ? AND key = ? "
                             "AND record_timestamp >= ?")
    assert sent["ExecutionParameters"] == ["'acme-prod-data'", "'plain-bucket'' OR ''1''=''1'",
                                           "TIMESTAMP '2025-11-20 00:00:00.000'"]
    assert boto3.client("athena").list_query_executions()["QueryExecutionIds"]


def test_shipped_notebooks_bind_values_in_ad_hoc_sql():
    import re

    from conftest import ROOT
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        for source in code:
            # An f-string handed to sql() pastes values into SQL text.
            assert not re.search(r"\.sql\(\s*(f|rf|fr)[\"']", source), f"{path.name}: {source[:80]}"
    notebook = (ROOT / "notebooks" / "01_explore_journal.ipynb").read_text(encoding="utf-8")
    assert ":since" in notebook and "since=start, until=end" in notebook
