"""Real S3 Inventory reports, as AWS's own writers produced them: four reports of one bucket.

The files are the OrcaBus filemanager's test data (../shared/external/orcabus-filemanager-inventory,
see its SOURCE.md), read where they are and never copied into the project. Every expected value
below was read by hand from the files (zcat for CSV, pyarrow for ORC and Parquet): bucket
filemanager-inventory-test, report created 2024-05-07T01:00Z; all-versions reports of five rows
(a folder object, a null-version noncurrent row, a delete marker) and a current-versions report of two.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import analytics
from analytics import inventory_report
from analytics.errors import DataError
from conftest import ROOT

BUCKET = "filemanager-inventory-test"
CREATED = dt.datetime(2024, 5, 7, 1, 0)  # creationTimestamp 1715043600000
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
FIVE_MD5 = "d8e8fca2dc0f896fd7cb4cb0031ba249"
MANIFESTS = {"csv": "csv_inventory_manifest.json", "orc": "orc_inventory_manifest.json",
             "parquet": "parquet_inventory_manifest.json", "csv_current": "csv_inventory_no_version_manifest.json"}


def external() -> Path | None:
    """The real files: $S3META_TEST_EXTERNAL, else a shared/external folder above the checkout."""
    if os.environ.get("S3META_TEST_EXTERNAL"):
        base = Path(os.environ["S3META_TEST_EXTERNAL"]).expanduser()
    else:  # a checkout, or a worktree nested deeper beside it, has the shared folder above it
        base = next((p / "shared" / "external" for p in ROOT.parents if (p / "shared" / "external").is_dir()),
                    ROOT.parent / "shared" / "external")
    folder = base / "orcabus-filemanager-inventory"
    return folder if (folder / "SOURCE.md").is_file() else None


@pytest.fixture(scope="module")
def aws_files() -> Path:
    folder = external()
    if folder is None:
        pytest.skip("real S3 Inventory files not found: ../shared/external/orcabus-filemanager-inventory "
                    "(set S3META_TEST_EXTERNAL to the folder that holds it)")
    return folder


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real command, from `cwd`, without the caller's S3META_* settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S3META_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "analytics", *args], cwd=cwd, capture_output=True, text=True,
                          encoding="utf-8", env=environment, timeout=120)


def _row(key, version, latest, marker, size, modified, e_tag, status="SSE-S3", storage="STANDARD"):
    return {"bucket": BUCKET, "key": key, "version_id": version, "is_latest": latest, "is_delete_marker": marker,
            "size": size, "last_modified_date": modified, "e_tag": e_tag, "storage_class": storage,
            "encryption_status": status}


T = lambda *hms: dt.datetime(2024, 5, 6, *hms)  # noqa: E731
# Hand-read from csv_inventory.csv.gz (the ORC and Parquet files hold the same five rows):
ALL_VERSIONS = [
    _row("inventory-test/", None, True, False, 0, T(22, 37, 48), EMPTY_MD5),
    _row("inventory-test/key1", None, False, False, 0, T(22, 38, 0), EMPTY_MD5),  # the null version, noncurrent
    _row("inventory-test/key1", "tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0", True, False, 5, T(22, 44, 22), FIVE_MD5),
    _row("inventory-test/key2", "zl_C7NLxrkBsMFD5HQUdybrmuV9VpvkN", False, False, 5, T(22, 45, 34), FIVE_MD5),
    # the delete marker: every field empty but identity, time and BucketKeyStatus; size 0 as in S3 Metadata
    _row("inventory-test/key2", "gdN1exfZmD7m713patv8dlQ7fTNwle3v", True, True, 0, T(22, 46, 14), None, None, None),
]
# Hand-read from csv_inventory_no_version.csv.gz: current versions of live objects only (key2's
# current version is the delete marker, so key2 is not listed).
CURRENT = [
    _row("inventory-test/", None, True, False, 0, T(22, 37, 48), EMPTY_MD5),
    _row("inventory-test/key1", None, True, False, 5, T(22, 44, 22), FIVE_MD5),
]
KEYS = list(ALL_VERSIONS[0])


def _rows(table):
    return sorted(({k: r[k] for k in KEYS} for r in table.to_pylist()),
                  key=lambda r: (r["key"], r["last_modified_date"]))


@pytest.mark.parametrize("report,expected", [("csv", ALL_VERSIONS), ("orc", ALL_VERSIONS),
                                             ("parquet", ALL_VERSIONS), ("csv_current", CURRENT)])
def test_each_real_report_reads_as_the_files_say(aws_files, report, expected):
    table = inventory_report.read(aws_files / MANIFESTS[report])
    assert _rows(table) == expected
    rows = table.to_pylist()
    assert {r["is_bucket_key_enabled"] for r in rows} == {False}  # BucketKeyStatus DISABLED, markers too
    assert {r["checksum_algorithm"] for r in rows} == {None}  # listed, empty: no checksum
    assert {r["replication_status"] for r in rows} == {None}  # listed, empty: not replicated
    assert {r["object_lock_mode"] for r in rows} == {None}
    # fields these configurations do not list read UNKNOWN on objects, NULL on the delete marker
    live = [r for r in rows if not r["is_delete_marker"]]
    assert {r["object_access_control_list"] for r in live} == {r["object_owner"] for r in live} == {"UNKNOWN"}
    assert {r["object_lock_event_hold_status"] for r in live} == {"UNKNOWN"}
    assert all(r["object_access_control_list"] is None for r in rows if r["is_delete_marker"])
    assert {r["kms_key_arn"] for r in rows} == {None}  # SSE-S3 and markers: no KMS key, known


def test_the_three_formats_of_one_run_are_one_table(aws_files):
    tables = [inventory_report.read(aws_files / MANIFESTS[f]) for f in ("csv", "orc", "parquet")]
    order = [("key", "ascending"), ("last_modified_date", "ascending")]
    assert tables[0].sort_by(order).equals(tables[1].sort_by(order))
    assert tables[0].sort_by(order).equals(tables[2].sort_by(order))


@pytest.mark.parametrize("report,fields,versions,rows", [("csv", 18, "All", 5), ("orc", 18, "All", 5),
                                                         ("parquet", 18, "All", 5), ("csv_current", 15, "Current", 2)])
def test_which_fields_each_report_has_is_kept(aws_files, report, fields, versions, rows):
    with analytics.connect(inventory_report=str(aws_files / MANIFESTS[report])) as session:
        summary = session.sql("SELECT * FROM inventory_reports").rows()
    assert len(summary) == 1
    got = summary[0]
    assert (got["source_bucket"], got["creation_time"], got["included_versions"], got["row_count"]) == \
        (BUCKET, CREATED, versions, rows)
    assert len(got["fields"]) == fields
    assert got["file_format"] == {"orc": "ORC", "parquet": "Parquet"}.get(report, "CSV")
    assert "ObjectAccessControlList" not in got["fields"] and "EncryptionStatus" in got["fields"]


@pytest.mark.parametrize("report,classes", [("csv", [("STANDARD", 4, 10)]), ("orc", [("STANDARD", 4, 10)]),
                                            ("parquet", [("STANDARD", 4, 10)]), ("csv_current", [("STANDARD", 2, 5)])])
def test_catalog_answers_on_each_real_report(aws_files, report, classes):
    """Four stored versions of 0, 0, 5 and 5 bytes (the marker left out); two current ones of 0 and 5."""
    with analytics.connect(inventory_report=str(aws_files / MANIFESTS[report])) as session:
        got = [tuple(r.values()) for r in session.run("storage_class_summary").rows()]
        assert got == classes
        assert [tuple(r.values()) for r in session.run("encryption_status_summary").rows()] == \
            [("SSE-S3", n, b) for _, n, b in classes]
        assert session.run("unencrypted_objects").rows() == []
        assert {r["encryption_status"] for r in session.run("objects_not_using_kms").rows()} == {"SSE-S3"}
        unlocked = session.run("unlocked_objects", prefix="inventory-test/").rows()
        assert len(unlocked) == classes[0][1]  # no version has a retention or a legal hold
        assert session.run("replication_failures").rows() == []
        assert session.run("intelligent_tiering_tiers").rows() == []
        # no ACL in these configurations: the question cannot be answered, and says why
        with pytest.raises(DataError, match=rf"ObjectAccessControlList.*'{MANIFESTS[report][:-len('_manifest.json')]}'"
                                            rf" of bucket '{BUCKET}'"):
            session.run("public_acl_grants")
        with pytest.raises(DataError, match="kms_key_arn, which S3 Inventory reports do not have"):
            session.run("kms_keys_in_use")


def test_the_folder_gives_one_report_and_says_which(aws_files):
    """Four configurations of one bucket sit in the folder: one is read, not their sum."""
    proc = run("query", "storage_class_summary", "--inventory-report", ".", "--format", "json", cwd=aws_files)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"storage_class": "STANDARD", "object_count": 4, "total_bytes": 10}]
    # equal creation times: the most fields (18, not the current-only 15), then the first ID
    assert proc.stderr.count("\n") == 1
    assert "read inventory configuration 'csv_inventory' (CSV, 2024-05-07T01:00Z, 18 fields)" in proc.stderr
    for skipped in ("'orc_inventory'", "'parquet_inventory'", "'csv_inventory_no_version'"):
        assert skipped in proc.stderr.split("skipped", 1)[1]
    proc = run("query", "storage_class_summary", "--inventory-report", ".", "--inventory-config",
               "csv_inventory_no_version", "--format", "json", cwd=aws_files)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"storage_class": "STANDARD", "object_count": 2, "total_bytes": 5}]


@pytest.mark.parametrize("path", [MANIFESTS["orc"], "./" + MANIFESTS["parquet"]])
def test_a_manifest_named_otherwise_and_given_relatively(aws_files, path):
    proc = run("query", "encryption_status_summary", "--inventory-report", path, "--format", "json", cwd=aws_files)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"encryption_status": "SSE-S3", "number_of_keys": 4,
                                        "total_capacity_in_bytes": 10}]
    assert proc.stderr == ""


def test_the_real_files_from_s3(aws, aws_files):
    """The same files in a bucket (moto): a manifest of any name, data keys relative to it."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="orcabus-copy")
    for path in aws_files.iterdir():
        if path.name != "SOURCE.md":
            s3.put_object(Bucket="orcabus-copy", Key=f"inventory/data/{path.name}", Body=path.read_bytes())
    local = inventory_report.read(aws_files / MANIFESTS["parquet"])
    assert inventory_report.read(f"s3://orcabus-copy/inventory/data/{MANIFESTS['parquet']}").equals(local)
    for prefix in ("s3://orcabus-copy/inventory", "s3://orcabus-copy/inventory/data/", "s3://orcabus-copy"):
        reports = inventory_report.load(prefix)
        assert [m.configuration for m in reports.manifests] == ["csv_inventory"], prefix
        assert _rows(reports.table) == ALL_VERSIONS
