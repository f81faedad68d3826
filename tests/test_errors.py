"""Library errors name parameters, not CLI flags, and keep the driver's error as their cause: one line by
default, the whole chain with S3META_DEBUG=1."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

import analytics
from analytics import report
from analytics.errors import BadInput, QueryFailed, SQLRefused
from conftest import WINDOW, cli


@pytest.mark.parametrize("given, message", [
    ({"since": "yesterday-ish"}, "since: expected ISO 8601"),
    ({"until": "soon"}, "until: expected ISO 8601"),
    ({"baseline": "a fortnight"}, "baseline: expected a duration such as 7d or 14d (got 'a fortnight')"),
])
def test_report_errors_name_the_parameter(hand, given, message):
    with pytest.raises(BadInput) as err:
        report.run(hand, **{**WINDOW, **given})
    assert str(err.value).startswith(message) and "--" not in str(err.value)


def test_settings_errors_name_the_setting(hand_data):
    with pytest.raises(BadInput) as err:
        analytics.connect(data=hand_data, timeout="soon")
    assert str(err.value) == "setting 'timeout' must be a positive number (got 'soon')"


def test_the_duckdb_error_is_the_cause(hand):
    with pytest.raises(SQLRefused) as err:
        hand.sql("SELECT nope FROM journal")
    import duckdb
    assert isinstance(err.value.__cause__, duckdb.Error)


def test_the_athena_client_error_is_the_cause():
    import boto3

    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stub:
        stub.add_client_error("start_query_execution", "AccessDeniedException", "not allowed", 400)
        with analytics.connect("athena", buckets=["acme-prod-data"], client=client, s3_client=s3) as session:
            with pytest.raises(QueryFailed) as err:
                session.sql("SELECT 1")
    assert type(err.value.__cause__).__name__ == "ClientError" and "not allowed" in str(err.value)


def test_s3meta_debug_shows_the_chain_and_still_ends_with_the_one_line(hand_data):
    args = ("sql", "SELECT nope FROM journal", "--data", str(hand_data))
    quiet = cli(*args)
    assert quiet.returncode == 2 and quiet.stderr.count("\n") == 1
    loud = cli(*args, env={"S3META_DEBUG": "1"})
    assert loud.returncode == 2
    assert "Traceback" in loud.stderr and "duckdb" in loud.stderr
    assert "The above exception was the direct cause of the following exception" in loud.stderr
    assert loud.stderr.splitlines()[-1] == quiet.stderr.strip()
