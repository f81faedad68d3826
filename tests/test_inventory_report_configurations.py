"""Two inventory configurations of one bucket: one report per source bucket is read, never their sum."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

import analytics
from analytics import fixtures, inventory_report
from test_inventory_report_aws_files import run

END = dt.datetime(2025, 11, 30)  # fixtures/small's end
BUCKETS = ["acme-logs", "acme-prod-data", "acme.media.assets"]
FEWER = tuple(f for f in fixtures.REPORT_FIELDS if f not in ("ObjectOwner", "ObjectAccessControlList"))


def _write(small_data: Path, base: Path, fmt: str, config: str, run_at: dt.datetime, fields=fixtures.REPORT_FIELDS):
    fixtures.write_inventory_report(small_data, base, formats=(fmt,), config=config, destination="dest",
                                    run_at=run_at, fields=fields)


@pytest.fixture(scope="module")
def two(tmp_path_factory, small_data) -> Path:
    """A CSV configuration and, an hour later, a Parquet one, of each bucket, under one destination prefix."""
    base = tmp_path_factory.mktemp("two")
    _write(small_data, base, "csv", "daily-csv", END)
    _write(small_data, base, "parquet", "daily-parquet", END + dt.timedelta(hours=1))
    return base / "dest"


@pytest.fixture(scope="module")
def expected(small_data) -> dict:
    """The answers of the Parquet inventory the reports were made from: what one report gives."""
    with analytics.connect(data=small_data) as session:
        return {name: session.run(name).rows() for name in ("storage_class_summary", "encryption_status_summary")}


def test_two_configurations_of_one_bucket_are_not_added_up(two, expected, small_manifest):
    reports = inventory_report.load(two)
    assert reports.table.num_rows == small_manifest["inventory_rows"]  # not twice as many
    assert [(m.source_bucket, m.configuration) for m in reports.manifests] == \
        [(b, "daily-parquet") for b in BUCKETS]  # the newest run of each bucket
    with analytics.connect(inventory_report=str(two)) as session:
        for name, rows in expected.items():
            assert session.run(name).rows() == rows, name
        assert session.sql("SELECT source_bucket, configuration_id, file_format FROM inventory_reports "
                           "ORDER BY 1").rows() == [{"source_bucket": b, "configuration_id": "daily-parquet",
                                                     "file_format": "Parquet"} for b in BUCKETS]


def test_the_cli_says_which_configuration_it_took_and_which_it_skipped(two, expected):
    proc = run("query", "storage_class_summary", "--inventory-report", str(two), "--format", "json", cwd=two)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected["storage_class_summary"]
    lines = proc.stderr.splitlines()
    assert len(lines) == 3
    for bucket, line in zip(BUCKETS, lines, strict=True):
        assert line.startswith(f"s3meta: bucket '{bucket}': read inventory configuration 'daily-parquet' "
                               "(Parquet, 2025-11-30T01:00Z, 21 fields), the newest"), line
        assert "skipped 'daily-csv' (CSV, 2025-11-30T00:00Z, 21 fields)" in line and "--inventory-config ID" in line


@pytest.mark.parametrize("how", ["flag", "environment", "python"])
def test_a_configuration_is_chosen_by_its_id(two, expected, how):
    if how == "python":
        with analytics.connect(inventory_report=str(two), inventory_config=["daily-csv"]) as session:
            assert session.run("storage_class_summary").rows() == expected["storage_class_summary"]
            assert {r["configuration_id"] for r in session.sql("SELECT * FROM inventory_reports").rows()} == \
                {"daily-csv"}
            assert all("as chosen" in note for note in session.engine.notes)
        return
    args = ["--inventory-config", "daily-csv"] if how == "flag" else []
    env = {"S3META_INVENTORY_CONFIG": "daily-csv"} if how == "environment" else {}
    proc = run("sql", "SELECT DISTINCT configuration_id FROM inventory_reports", "--inventory-report", str(two),
               *args, "--format", "json", cwd=two, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"configuration_id": "daily-csv"}]
    assert proc.stderr.count("read inventory configuration 'daily-csv' (CSV, 2025-11-30T00:00Z, 21 fields), as "
                             "chosen; skipped 'daily-parquet'") == 3


def test_equal_times_take_the_most_fields_then_the_first_id(tmp_path, small_data):
    # written in an order that a first-found rule would get wrong
    _write(small_data, tmp_path, "csv", "b-config", END)
    _write(small_data, tmp_path, "orc", "a-config", END)
    _write(small_data, tmp_path, "parquet", "0-fewer", END, fields=FEWER)
    reports = inventory_report.load(tmp_path / "dest")
    assert {m.configuration for m in reports.manifests} == {"a-config"}
    assert all("'a-config' (ORC, 2025-11-30T00:00Z, 21 fields), the newest (on a tie: most fields, then first ID); "
               "skipped 'b-config' (CSV, 2025-11-30T00:00Z, 21 fields), '0-fewer' (Parquet, 2025-11-30T00:00Z, "
               "19 fields)" in note for note in reports.notes)
    # an older run of a configuration never competes: its newest run does
    _write(small_data, tmp_path, "parquet", "0-fewer", END + dt.timedelta(days=1), fields=FEWER)
    assert {m.configuration for m in inventory_report.load(tmp_path / "dest").manifests} == {"0-fewer"}


def test_choosing_two_configurations_of_a_bucket_reads_both_and_says_they_add_up(two, small_manifest):
    reports = inventory_report.load(two, ["daily-csv", "daily-parquet"])
    assert reports.table.num_rows == 2 * small_manifest["inventory_rows"]
    assert len(reports.notes) == 3 and all("their rows add up" in n for n in reports.notes)


def test_choosing_one_bucket_keeps_the_default_for_the_others(tmp_path, small_data):
    _write(small_data, tmp_path, "csv", "daily-csv", END)
    _write(small_data, tmp_path, "parquet", "daily-parquet", END + dt.timedelta(hours=1))
    _write(small_data, tmp_path, "orc", "logs-only", END, fields=FEWER)
    for bucket in BUCKETS[1:]:  # a configuration of acme-logs alone
        shutil.rmtree(tmp_path / "dest" / bucket / "logs-only")
    reports = inventory_report.load(tmp_path / "dest", ["logs-only"])
    assert [(m.source_bucket, m.configuration) for m in reports.manifests] == \
        [("acme-logs", "logs-only"), ("acme-prod-data", "daily-parquet"), ("acme.media.assets", "daily-parquet")]


def test_an_unknown_configuration_id_is_one_line_exit_2(two):
    proc = run("query", "storage_class_summary", "--inventory-report", str(two), "--inventory-config", "weekly",
               cwd=two)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "s3meta: error: no inventory configuration 'weekly' under " \
                          f"{two} (found: daily-csv, daily-parquet)\n"
    proc = run("query", "storage_class_summary", "--inventory-config", "daily-csv", "--data", str(two), cwd=two)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--inventory-report" in proc.stderr
