"""The catalog queries beyond the workshop six: AWS's published examples and analyst follow-ups.

Expected rows are worked out by hand, on the conftest `hand` data set or on EXTRA below, a second
small data set for the cases `hand` lacks (tags, GuardDuty scans, KMS keys, stacked delete
markers, noncurrent-version updates, same key in two buckets).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot

import analytics
from analytics import catalog
from conftest import MiB, ODD_KEY, ROOT, SCRIPT_KEY, WINDOW, write_tables

T = datetime

A = "111122223333"  # a user account
B = "777788889999"  # another user account
C = "444455556666"  # the account that places delete markers
D = "999988887777"
S3 = "s3.amazonaws.com"  # S3 Lifecycle
GD = "malware-protection-plan.guardduty.amazonaws.com"
GD_TAG = "GuardDutyMalwareScanStatus"
K1 = "arn:aws:kms:us-east-1:111122223333:key/k1"
K2 = "arn:aws:kms:us-east-1:111122223333:key/k2"


def _obj(**row):
    """A CREATE / UPDATE_METADATA journal row or an inventory object row, with full columns."""
    base = dict(is_delete_marker=False, e_tag="0123456789abcdef0123456789abcdef", storage_class="STANDARD",
                is_multipart=False, is_bucket_key_enabled=False, checksum_algorithm="CRC64NVME",
                object_tags=[], user_metadata=[], encryption_status="SSE-S3", request_id="REQX")
    return base | row


def _marker(**row):
    """A delete marker (journal DELETE record or inventory row): no object columns."""
    return dict(is_delete_marker=True, size=0) | row


EXTRA_JOURNAL = [
    # bk1 (versioned): an upload scanned by GuardDuty, found malicious; odd extensions
    _obj(bucket="bk1", key="photos/cat.JPG", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 10), version_id="v10", size=500, encryption_status="SSE-KMS",
         kms_key_arn=K2, requester=A, source_ip_address="192.0.2.10"),
    _obj(bucket="bk1", key="photos/cat.JPG", sequence_number="0002", record_type="UPDATE_METADATA",
         record_timestamp=T(2025, 11, 20, 10, 1), version_id="v10", size=500, encryption_status="SSE-KMS",
         kms_key_arn=K2, object_tags=[(GD_TAG, "THREATS_FOUND")], requester=GD),
    _obj(bucket="bk1", key="photos/dog.jpg.bak", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 10, 5), version_id="v11", size=700, requester=A,
         source_ip_address="192.0.2.10"),
    # a CREATE whose version was gone before S3 Metadata processed it: object columns NULL
    dict(bucket="bk1", key="jpg", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 10, 6), version_id="v12", is_delete_marker=False, requester=A,
         source_ip_address="192.0.2.10"),
    # bk2 (unversioned): uploaded, scanned clean, overwritten by someone else, scanned malicious
    _obj(bucket="bk2", key="up/x.jpg", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 11), version_id=None, size=10, requester=B,
         source_ip_address="203.0.113.9"),
    _obj(bucket="bk2", key="up/x.jpg", sequence_number="0002", record_type="UPDATE_METADATA",
         record_timestamp=T(2025, 11, 20, 11, 1), version_id=None, size=10,
         object_tags=[(GD_TAG, "NO_THREATS_FOUND")], requester=GD),
    _obj(bucket="bk2", key="up/x.jpg", sequence_number="0003", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 11, 10), version_id=None, size=20, requester=A,
         source_ip_address="198.51.100.7"),
    _obj(bucket="bk2", key="up/x.jpg", sequence_number="0004", record_type="UPDATE_METADATA",
         record_timestamp=T(2025, 11, 20, 11, 11), version_id=None, size=20, encryption_status="SSE-KMS",
         kms_key_arn=K1, object_tags=[(GD_TAG, "THREATS_FOUND"), ("env", "dev")], requester=GD),
    # bk1: an object created before the journal began, scanned in the window (no CREATE to join)
    _obj(bucket="bk1", key="old/scanned.bin", sequence_number="0005", record_type="UPDATE_METADATA",
         record_timestamp=T(2025, 11, 20, 12), version_id="v20", size=1000,
         object_tags=[(GD_TAG, "UNSUPPORTED")], requester=GD),
    # bk1: two versions, then Lifecycle transitions the noncurrent one: vb stays current
    _obj(bucket="bk1", key="docs/n.txt", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 9), version_id="va", size=40, requester=A,
         source_ip_address="192.0.2.10"),
    _obj(bucket="bk1", key="docs/n.txt", sequence_number="0002", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 9, 10), version_id="vb", size=50, object_tags=[("env", "prod")],
         requester=A, source_ip_address="192.0.2.10"),
    _obj(bucket="bk1", key="docs/n.txt", sequence_number="0003", record_type="UPDATE_METADATA",
         record_timestamp=T(2025, 11, 20, 9, 20), version_id="va", size=40, storage_class="GLACIER",
         requester=S3),
    # bk1: two versions (one before the window), then two stacked delete markers from one actor
    _obj(bucket="bk1", key="reports/q.csv", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 19, 8), version_id="v1", size=100, requester=A,
         source_ip_address="192.0.2.10"),
    _obj(bucket="bk1", key="reports/q.csv", sequence_number="0002", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 9), version_id="v2", size=200, encryption_status=None,
         requester=A, source_ip_address="192.0.2.10"),
    _marker(bucket="bk1", key="reports/q.csv", sequence_number="0003", record_type="DELETE",
            record_timestamp=T(2025, 11, 20, 13), version_id="dm1", last_modified_date=T(2025, 11, 20, 13),
            requester=C, source_ip_address="2001:db8::1"),
    _marker(bucket="bk1", key="reports/q.csv", sequence_number="0004", record_type="DELETE",
            record_timestamp=T(2025, 11, 20, 13, 5), version_id="dm2", last_modified_date=T(2025, 11, 20, 13, 5),
            requester=C, source_ip_address="2001:db8::1"),
    # bk1: a version from before the window hidden by a marker from another actor
    _obj(bucket="bk1", key="reports/r.csv", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 18, 8), version_id="v5", size=300, storage_class="STANDARD_IA",
         encryption_status="SSE-C", requester=A, source_ip_address="192.0.2.10"),
    _marker(bucket="bk1", key="reports/r.csv", sequence_number="0002", record_type="DELETE",
            record_timestamp=T(2025, 11, 20, 14), version_id="dm5", last_modified_date=T(2025, 11, 20, 14),
            requester=D, source_ip_address="192.0.2.99"),
    # bk1: hidden by a marker, then a new version uploaded over the marker: the marker hides v7, not v8
    _obj(bucket="bk1", key="reports/s.csv", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 17, 8), version_id="v7", size=70, requester=A,
         source_ip_address="192.0.2.10"),
    _marker(bucket="bk1", key="reports/s.csv", sequence_number="0002", record_type="DELETE",
            record_timestamp=T(2025, 11, 20, 14, 30), version_id="dm7", last_modified_date=T(2025, 11, 20, 14, 30),
            requester=D, source_ip_address="192.0.2.99"),
    _obj(bucket="bk1", key="reports/s.csv", sequence_number="0003", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 15), version_id="v8", size=80, requester=A,
         source_ip_address="192.0.2.10"),
    # bk2: created and deleted for good (permanent delete: NULL but for the required columns)
    _obj(bucket="bk2", key="tmp/t.bin", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 15), version_id=None, size=60, requester=B,
         source_ip_address="203.0.113.9"),
    dict(bucket="bk2", key="tmp/t.bin", sequence_number="0002", record_type="DELETE",
         record_timestamp=T(2025, 11, 20, 15, 30), version_id=None),
    # bk2: the same key name as in bk1
    _obj(bucket="bk2", key="reports/q.csv", sequence_number="0001", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 16), version_id=None, size=1, requester=B,
         source_ip_address="203.0.113.9"),
]

EXTRA_INVENTORY = [
    _obj(bucket="bk1", key="docs/n.txt", sequence_number="0002", version_id="vb", size=50,
         object_tags=[("env", "prod")], last_modified_date=T(2025, 11, 20, 9, 10)),
    _obj(bucket="bk1", key="docs/n.txt", sequence_number="0003", version_id="va", size=40, storage_class="GLACIER",
         last_modified_date=T(2025, 11, 20, 9)),
    _obj(bucket="bk1", key="enc/a.bin", sequence_number="0001", version_id="ea", size=30,
         encryption_status="SSE-KMS", kms_key_arn=None, last_modified_date=T(2025, 1, 1)),
    _obj(bucket="bk1", key="enc/b.bin", sequence_number="0001", version_id="eb", size=70,
         encryption_status="DSSE-KMS", kms_key_arn=K2, object_tags=[("env", "Prod")],
         last_modified_date=T(2025, 2, 1)),
    _obj(bucket="bk1", key="old/scanned.bin", sequence_number="0005", version_id="v20", size=1000,
         object_tags=[(GD_TAG, "UNSUPPORTED")], last_modified_date=T(2024, 5, 1)),
    _obj(bucket="bk1", key="photos/cat.JPG", sequence_number="0002", version_id="v10", size=500,
         encryption_status="SSE-KMS", kms_key_arn=K2, object_tags=[(GD_TAG, "THREATS_FOUND")],
         last_modified_date=T(2025, 11, 20, 10)),
    _obj(bucket="bk1", key="reports/q.csv", sequence_number="0001", version_id="v1", size=100,
         last_modified_date=T(2025, 11, 19, 8)),
    _obj(bucket="bk1", key="reports/q.csv", sequence_number="0002", version_id="v2", size=200,
         encryption_status=None, last_modified_date=T(2025, 11, 20, 9)),
    _marker(bucket="bk1", key="reports/q.csv", sequence_number="0003", version_id="dm1",
            last_modified_date=T(2025, 11, 20, 13)),
    _marker(bucket="bk1", key="reports/q.csv", sequence_number="0004", version_id="dm2",
            last_modified_date=T(2025, 11, 20, 13, 5)),
    _obj(bucket="bk1", key="reports/r.csv", sequence_number="0001", version_id="v5", size=300,
         storage_class="STANDARD_IA", encryption_status="SSE-C", last_modified_date=T(2025, 11, 18, 8)),
    _marker(bucket="bk1", key="reports/r.csv", sequence_number="0002", version_id="dm5",
            last_modified_date=T(2025, 11, 20, 14)),
    _obj(bucket="bk1", key="reports/s.csv", sequence_number="0001", version_id="v7", size=70,
         last_modified_date=T(2025, 11, 17, 8)),
    _marker(bucket="bk1", key="reports/s.csv", sequence_number="0002", version_id="dm7",
            last_modified_date=T(2025, 11, 20, 14, 30)),
    _obj(bucket="bk1", key="reports/s.csv", sequence_number="0003", version_id="v8", size=80,
         last_modified_date=T(2025, 11, 20, 15)),
    _obj(bucket="bk2", key="up/x.jpg", sequence_number="0004", version_id=None, size=20,
         encryption_status="SSE-KMS", kms_key_arn=K1, object_tags=[(GD_TAG, "THREATS_FOUND"), ("env", "dev")],
         last_modified_date=T(2025, 11, 20, 11, 10)),
    # a row whose tag map is NULL: never matched by a tag search
    _obj(bucket="bk2", key="nulltags.bin", sequence_number="0001", version_id=None, size=5, object_tags=None,
         last_modified_date=T(2025, 3, 1)),
    _obj(bucket="bk2", key="reports/q.csv", sequence_number="0001", version_id=None, size=1,
         last_modified_date=T(2025, 11, 20, 16)),
]


@pytest.fixture(scope="module")
def extra_data(tmp_path_factory) -> Path:
    return write_tables(tmp_path_factory.mktemp("extra"), EXTRA_JOURNAL, EXTRA_INVENTORY)


@pytest.fixture
def extra(extra_data, clock):
    with analytics.connect(data=extra_data, clock=clock) as session:
        yield session


def rows(result, *columns):
    return [tuple(row[c] for c in columns) for row in result.rows()]


# --- every query file: parses as Athena SQL and runs on DuckDB -------------------------------------

QUERY_FILES = sorted((ROOT / "queries").glob("*.sql"))
REQUIRED_VALUES = {"key": "docs/a.txt", "requester": A, "ip": "192.0.2.10", "extension": "txt", "tag": "env",
                   "annotation_name": "classification"}
NEW_QUERIES = {
    "objects_by_extension", "kms_keys_in_use", "objects_not_using_kms", "unencrypted_objects",
    "lifecycle_deletes", "objects_by_tag", "storage_class_summary", "current_state", "key_version_history",
    "largest_recent_uploads", "requester_activity", "ip_activity", "actor_summary", "malware_scan_results",
    "unencrypted_uploads", "delete_markers_by_actor", "hidden_versions",
}


def test_the_new_queries_are_in_the_catalog():
    assert NEW_QUERIES <= {path.stem for path in QUERY_FILES}
    loaded = catalog.load(ROOT / "queries")
    for name in NEW_QUERIES:
        query = loaded.get(name)
        assert query.title and query.description
        assert {"aws", "analyst"} & set(query.tags), name


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.stem)
def test_every_query_parses_as_athena_and_runs_with_only_required_parameters(path, hand):
    query = catalog.parse(path)
    if "inventory-report" in query.tags:
        pytest.skip("reads inventory_report, which `hand` lacks: tested in test_inventory_report.py")
    tree = sqlglot.parse_one(catalog.substitute(query.sql, lambda name: "?"), read="athena")
    assert tree is not None
    ctes = {cte.alias for cte in tree.find_all(sqlglot.exp.CTE)}
    tables = {t.name for t in tree.find_all(sqlglot.exp.Table)} - ctes
    assert tables and tables <= {"journal", "inventory", "annotation"}, tables
    required = {p.name: REQUIRED_VALUES[p.name] for p in query.params if p.required}
    result = hand.run(query.name, **required)
    assert result.columns


# --- AWS's published examples --------------------------------------------------------------------

def test_objects_by_extension_is_case_insensitive_and_matches_the_last_extension_only(extra):
    result = extra.run("objects_by_extension", extension="JPG", **WINDOW)
    assert rows(result, "bucket", "key", "version_id", "sequence_number", "requester") == [
        ("bk2", "up/x.jpg", None, "0003", A),
        ("bk2", "up/x.jpg", None, "0001", B),  # an unversioned overwrite is a second upload
        ("bk1", "photos/cat.JPG", "v10", "0001", A),
    ]
    assert rows(extra.run("objects_by_extension", extension=".jpg", bucket="bk1", **WINDOW), "key") == [
        ("photos/cat.JPG",)]


def test_objects_by_extension_on_hand_respects_the_window(hand):
    result = hand.run("objects_by_extension", extension="txt", **WINDOW)
    assert rows(result, "key", "record_timestamp") == [
        (SCRIPT_KEY, T(2025, 11, 20, 13)), ("docs/a.txt", T(2025, 11, 20, 9))]
    assert len(hand.run("objects_by_extension", extension="txt", since="2025-11-20T09:00:01",
                        until="2025-11-20T13:00:00")) == 0


def test_kms_keys_in_use_counts_stored_versions_and_keeps_kms_objects_without_an_arn(extra, hand):
    result = extra.run("kms_keys_in_use")
    assert rows(result, "kms_key_arn", "object_count", "total_bytes", "bucket_count", "dsse_kms_count") == [
        (K2, 2, 570, 1, 1),
        (K1, 1, 20, 1, 0),
        (None, 1, 30, 1, 0),  # SSE-KMS with a NULL kms_key_arn
    ]
    assert result.table.schema.field("total_bytes").type == pa.int64()
    assert rows(extra.run("kms_keys_in_use", bucket="bk2"), "kms_key_arn", "object_count") == [(K1, 1)]
    # hand: docs/a.txt's SSE-KMS version was deleted for good and is gone from the inventory
    assert rows(hand.run("kms_keys_in_use"), "kms_key_arn", "object_count", "total_bytes",
                "newest_last_modified_date") == [
        ("arn:aws:kms:us-east-1:111122223333:key/k1", 1, 4 * MiB, T(2024, 1, 1))]


def test_objects_not_using_kms_keeps_unencrypted_and_drops_delete_markers(extra):
    result = extra.run("objects_not_using_kms")
    assert rows(result, "bucket", "key", "version_id", "encryption_status", "size") == [
        ("bk1", "docs/n.txt", "vb", "SSE-S3", 50),
        ("bk1", "docs/n.txt", "va", "SSE-S3", 40),
        ("bk1", "old/scanned.bin", "v20", "SSE-S3", 1000),
        ("bk1", "reports/q.csv", "v1", "SSE-S3", 100),
        ("bk1", "reports/q.csv", "v2", None, 200),  # AWS's NOT IN would drop this one
        ("bk1", "reports/r.csv", "v5", "SSE-C", 300),
        ("bk1", "reports/s.csv", "v7", "SSE-S3", 70),
        ("bk1", "reports/s.csv", "v8", "SSE-S3", 80),
        ("bk2", "nulltags.bin", None, "SSE-S3", 5),
        ("bk2", "reports/q.csv", None, "SSE-S3", 1),
    ]


def test_objects_not_using_kms_prefix_is_literal(extra):
    assert rows(extra.run("objects_not_using_kms", prefix="reports/", bucket="bk1"), "key", "version_id") == [
        ("reports/q.csv", "v1"), ("reports/q.csv", "v2"), ("reports/r.csv", "v5"),
        ("reports/s.csv", "v7"), ("reports/s.csv", "v8")]
    assert len(extra.run("objects_not_using_kms", prefix="report%")) == 0
    assert len(extra.run("objects_not_using_kms", prefix="reports_q")) == 0


def test_unencrypted_objects_are_null_status_without_delete_markers(extra, hand):
    assert rows(extra.run("unencrypted_objects"), "bucket", "key", "version_id", "size") == [
        ("bk1", "reports/q.csv", "v2", 200)]
    # hand: the delete markers dm1 and dm2 have NULL encryption_status too, and are not objects
    assert rows(hand.run("unencrypted_objects"), "bucket", "key", "version_id", "size") == [
        ("plain-bucket", SCRIPT_KEY, None, 100)]
    assert len(hand.run("unencrypted_objects", prefix="old/")) == 0


def test_lifecycle_deletes_lists_only_attributed_lifecycle_deletes(hand):
    result = hand.run("lifecycle_deletes", **WINDOW)
    assert rows(result, "bucket", "key", "version_id", "is_delete_marker", "record_timestamp") == [
        ("vers-bucket", "logs/b.log", "dm2", True, T(2025, 11, 20, 12))]
    assert len(hand.run("lifecycle_deletes", since="2025-11-20T12:00:01", until="2025-11-21T00:00:00")) == 0
    assert len(hand.run("lifecycle_deletes", bucket="plain-bucket", **WINDOW)) == 0


def tagged(result, tag, *columns):
    return [(*(r[c] for c in columns), r["object_tags"][tag]) for r in result.rows()]


def test_objects_by_tag_any_value_and_exact_value(extra):
    result = extra.run("objects_by_tag", tag="env")
    assert tagged(result, "env", "bucket", "key", "version_id") == [
        ("bk1", "docs/n.txt", "vb", "prod"),
        ("bk1", "enc/b.bin", "eb", "Prod"),
        ("bk2", "up/x.jpg", None, "dev"),
    ]
    assert rows(extra.run("objects_by_tag", tag="env", value="prod"), "key") == [("docs/n.txt",)]
    assert len(extra.run("objects_by_tag", tag="ENV")) == 0  # tag keys are case-sensitive
    assert rows(extra.run("objects_by_tag", tag=GD_TAG, value="THREATS_FOUND"), "bucket", "key") == [
        ("bk1", "photos/cat.JPG"), ("bk2", "up/x.jpg")]
    assert tagged(extra.run("objects_by_tag", tag=GD_TAG, bucket="bk1"), GD_TAG, "key") == [
        ("old/scanned.bin", "UNSUPPORTED"), ("photos/cat.JPG", "THREATS_FOUND")]


def test_storage_class_summary_leaves_delete_markers_out(hand, extra):
    result = hand.run("storage_class_summary")
    assert rows(result, "storage_class", "object_count", "total_bytes") == [
        ("STANDARD", 3, 4 * MiB + 100 + 10 * MiB),
        ("GLACIER", 1, 1 * MiB),
    ]  # dm1 and dm2 (NULL storage class) would make a third row
    assert result.table.schema.field("total_bytes").type == pa.int64()
    assert rows(extra.run("storage_class_summary", bucket="bk1"), "storage_class", "object_count", "total_bytes") == [
        ("STANDARD", 9, 50 + 30 + 70 + 1000 + 500 + 100 + 200 + 70 + 80), ("STANDARD_IA", 1, 300), ("GLACIER", 1, 40)]


def test_current_state_follows_the_version_stack(extra):
    result = extra.run("current_state", **WINDOW)
    got = {(r["bucket"], r["key"]): (r["state"], r["current_version_id"], r["current_size"])
           for r in result.rows()}
    assert got == {
        # Lifecycle transitioned noncurrent va last; vb, created later, is still current
        ("bk1", "docs/n.txt"): ("live", "vb", 50),
        ("bk1", "jpg"): ("live", "v12", None),
        ("bk1", "old/scanned.bin"): ("updated", "v20", 1000),
        ("bk1", "photos/cat.JPG"): ("live", "v10", 500),
        ("bk1", "photos/dog.jpg.bak"): ("live", "v11", 700),
        ("bk1", "reports/q.csv"): ("delete_marker", "dm2", None),
        ("bk1", "reports/r.csv"): ("delete_marker", "dm5", None),
        ("bk1", "reports/s.csv"): ("live", "v8", 80),  # uploaded over the marker
        ("bk2", "reports/q.csv"): ("live", None, 1),
        ("bk2", "tmp/t.bin"): ("deleted", None, None),
        ("bk2", "up/x.jpg"): ("live", None, 20),  # unversioned: overwrites are one NULL version
    }
    assert [(r["bucket"], r["key"]) for r in result.rows()] == sorted(got)
    docs = next(r for r in result.rows() if r["key"] == "docs/n.txt")
    assert (docs["last_record_type"], docs["last_requester"], docs["creates"], docs["metadata_updates"]) == (
        "UPDATE_METADATA", S3, 2, 1)


def test_current_state_on_hand_with_permanent_deletes(hand):
    result = hand.run("current_state", **WINDOW)
    assert rows(result, "bucket", "key", "state", "current_version_id", "last_record_type", "last_requester") == [
        ("plain-bucket", SCRIPT_KEY, "live", None, "CREATE", "777788889999"),
        ("plain-bucket", "old/backfilled.bin", "deleted", None, "DELETE", None),
        ("plain-bucket", ODD_KEY, "deleted", None, "DELETE", None),
        # v1 was deleted for good under dm1: the marker is the current version
        ("vers-bucket", "docs/a.txt", "delete_marker", "dm1", "DELETE", None),
        ("vers-bucket", "edge/at-since.txt", "deleted", None, "DELETE", None),
        ("vers-bucket", "logs/b.log", "delete_marker", "dm2", "DELETE", S3),
        ("vers-bucket", "old/lagging.bin", "deleted", None, "DELETE", None),
    ]
    a = next(r for r in result.rows() if r["key"] == "docs/a.txt")
    assert (a["creates"], a["metadata_updates"], a["delete_markers"], a["permanent_deletes"]) == (1, 1, 1, 1)


# --- analyst follow-ups --------------------------------------------------------------------------

def test_key_version_history_is_the_whole_history_in_sequence_order(extra):
    result = extra.run("key_version_history", key="reports/q.csv")
    assert rows(result, "bucket", "sequence_number", "record_type", "version_id", "record_timestamp") == [
        ("bk1", "0001", "CREATE", "v1", T(2025, 11, 19, 8)),  # before any default window
        ("bk1", "0002", "CREATE", "v2", T(2025, 11, 20, 9)),
        ("bk1", "0003", "DELETE", "dm1", T(2025, 11, 20, 13)),
        ("bk1", "0004", "DELETE", "dm2", T(2025, 11, 20, 13, 5)),
        ("bk2", "0001", "CREATE", None, T(2025, 11, 20, 16)),
    ]
    assert len(extra.run("key_version_history", key="reports/q.csv", bucket="bk1")) == 4
    assert len(extra.run("key_version_history", key="reports/")) == 0  # exact key, not a prefix


def test_key_version_history_shows_the_permanent_delete_null_rule(hand):
    result = hand.run("key_version_history", key="docs/a.txt", bucket="vers-bucket")
    got = result.rows()
    assert [(r["sequence_number"], r["record_type"], r["version_id"], r["is_delete_marker"]) for r in got] == [
        ("0001", "CREATE", "v1", False), ("0002", "UPDATE_METADATA", "v1", False),
        ("0003", "DELETE", "dm1", True), ("0004", "DELETE", "v1", None)]
    assert got[1]["object_tags"] == {"env": "prod"}
    assert (got[3]["requester"], got[3]["source_ip_address"], got[3]["size"]) == (None, None, None)
    assert len(hand.run("key_version_history", key=ODD_KEY)) == 3


def test_largest_recent_uploads_orders_by_size_with_unknown_sizes_last(extra):
    result = extra.run("largest_recent_uploads", **WINDOW)
    assert [r["size"] for r in result.rows()] == [700, 500, 200, 80, 60, 50, 40, 20, 10, 1, None]
    assert result.rows()[-1]["key"] == "jpg"
    assert rows(extra.run("largest_recent_uploads", limit=3, **WINDOW), "key", "version_id", "requester") == [
        ("photos/dog.jpg.bak", "v11", A), ("photos/cat.JPG", "v10", A), ("reports/q.csv", "v2", A)]


def test_requester_activity_cannot_see_permanent_deletes(hand):
    result = hand.run("requester_activity", requester=A, **WINDOW)
    assert rows(result, "record_timestamp", "record_type", "key", "version_id", "source_ip_address") == [
        (T(2025, 11, 20, 9, 45), "CREATE", ODD_KEY, None, "198.51.100.7"),
        (T(2025, 11, 20, 9, 30), "UPDATE_METADATA", "docs/a.txt", "v1", "192.0.2.10"),
        (T(2025, 11, 20, 9, 15), "CREATE", ODD_KEY, None, "198.51.100.7"),
        (T(2025, 11, 20, 9), "CREATE", "docs/a.txt", "v1", "192.0.2.10"),
        (T(2025, 11, 20, 8), "CREATE", "logs/b.log", "v2", "192.0.2.10"),
    ]
    lifecycle = hand.run("requester_activity", requester=S3, **WINDOW)
    assert rows(lifecycle, "record_type", "key", "source_ip_address") == [
        ("DELETE", "logs/b.log", None), ("UPDATE_METADATA", "logs/b.log", None)]


def test_ip_activity(hand):
    result = hand.run("ip_activity", ip="192.0.2.10", **WINDOW)
    assert rows(result, "record_type", "key", "sequence_number", "requester") == [
        ("UPDATE_METADATA", "docs/a.txt", "0002", A), ("CREATE", "docs/a.txt", "0001", A),
        ("CREATE", "logs/b.log", "0001", A)]
    assert rows(hand.run("ip_activity", ip="2001:db8::1", **WINDOW), "key", "version_id", "is_delete_marker") == [
        ("docs/a.txt", "dm1", True)]
    assert len(hand.run("ip_activity", ip="192.0.2.10", bucket="plain-bucket", **WINDOW)) == 0


def test_actor_summary_keeps_the_unattributed_group(hand):
    result = hand.run("actor_summary", **WINDOW)
    assert rows(result, "requester", "source_ip_address", "record_count", "creates", "metadata_updates",
                "delete_markers", "permanent_deletes", "bytes_created", "distinct_keys") == [
        (None, None, 5, 0, 0, 0, 5, 0, 5),  # every permanent delete, whoever made it
        (A, "192.0.2.10", 3, 2, 1, 0, 0, 3 * MiB, 2),
        (A, "198.51.100.7", 2, 2, 0, 0, 0, 8 * MiB, 1),
        (S3, None, 2, 0, 1, 1, 0, 0, 1),
        (C, "2001:db8::1", 1, 0, 0, 1, 0, 0, 1),
        ("777788889999", "203.0.113.9", 1, 1, 0, 0, 0, 100, 1),
    ]
    first = result.rows()[0]
    assert (first["first_seen"], first["last_seen"]) == (T(2025, 11, 20, 0), T(2025, 11, 20, 11, 50))
    assert result.table.schema.field("bytes_created").type == pa.int64()


def test_malware_scan_results_find_the_uploader_null_safely(extra):
    result = extra.run("malware_scan_results", **WINDOW)
    assert rows(result, "bucket", "key", "version_id", "scan_status", "scanned_at", "uploaded_at", "uploader",
                "upload_ip") == [
        ("bk1", "old/scanned.bin", "v20", "UNSUPPORTED", T(2025, 11, 20, 12), None, None, None),
        # unversioned: each scan belongs to the latest CREATE before it
        ("bk2", "up/x.jpg", None, "THREATS_FOUND", T(2025, 11, 20, 11, 11), T(2025, 11, 20, 11, 10), A,
         "198.51.100.7"),
        ("bk2", "up/x.jpg", None, "NO_THREATS_FOUND", T(2025, 11, 20, 11, 1), T(2025, 11, 20, 11), B,
         "203.0.113.9"),
        ("bk1", "photos/cat.JPG", "v10", "THREATS_FOUND", T(2025, 11, 20, 10, 1), T(2025, 11, 20, 10), A,
         "192.0.2.10"),
    ]
    assert {r["scan_requester"] for r in result.rows()} == {GD}
    threats = extra.run("malware_scan_results", status="THREATS_FOUND", **WINDOW)
    assert rows(threats, "key", "uploader") == [("up/x.jpg", A), ("photos/cat.JPG", A)]
    assert len(extra.run("malware_scan_results", status="threats_found", **WINDOW)) == 0


def test_malware_scan_results_ignore_updates_without_the_tag(hand):
    # hand has UPDATE_METADATA records (an env tag, a Lifecycle transition) but no GuardDuty tag
    assert len(hand.run("malware_scan_results", **WINDOW)) == 0


def test_unencrypted_uploads(hand):
    result = hand.run("unencrypted_uploads", **WINDOW)
    assert rows(result, "bucket", "key", "sequence_number", "requester", "source_ip_address") == [
        ("plain-bucket", SCRIPT_KEY, "0001", "777788889999", "203.0.113.9"),
        # the first upload of ODD_KEY was unencrypted; its SSE-S3 overwrite is not listed
        ("plain-bucket", ODD_KEY, "0001", A, "198.51.100.7"),
    ]
    assert rows(hand.run("unencrypted_uploads", prefix='q"uote', **WINDOW), "key") == [(ODD_KEY,)]
    assert len(hand.run("unencrypted_uploads", prefix="docs/", **WINDOW)) == 0


def test_delete_markers_by_actor(extra, hand):
    result = extra.run("delete_markers_by_actor", **WINDOW)
    assert rows(result, "requester", "source_ip_address", "delete_markers", "distinct_keys", "buckets",
                "first_marker_at", "last_marker_at") == [
        (C, "2001:db8::1", 2, 1, 1, T(2025, 11, 20, 13), T(2025, 11, 20, 13, 5)),
        (D, "192.0.2.99", 2, 2, 1, T(2025, 11, 20, 14), T(2025, 11, 20, 14, 30)),
    ]
    # hand: permanent deletes (NULL is_delete_marker) are not markers
    assert rows(hand.run("delete_markers_by_actor", **WINDOW), "requester", "source_ip_address",
                "delete_markers") == [(C, "2001:db8::1", 1), (S3, None, 1)]


def test_hidden_versions_is_a_restore_plan(extra):
    result = extra.run("hidden_versions", **WINDOW)
    assert rows(result, "key", "delete_marker_version_id", "requester", "hidden_version_id", "hidden_size",
                "hidden_last_modified_date", "hidden_storage_class") == [
        # a newer version uploaded over the marker is not what the marker hides
        ("reports/s.csv", "dm7", D, "v7", 70, T(2025, 11, 17, 8), "STANDARD"),
        ("reports/r.csv", "dm5", D, "v5", 300, T(2025, 11, 18, 8), "STANDARD_IA"),  # created before the window
        ("reports/q.csv", "dm2", C, "v2", 200, T(2025, 11, 20, 9), "STANDARD"),  # a marker on a marker
        ("reports/q.csv", "dm1", C, "v2", 200, T(2025, 11, 20, 9), "STANDARD"),
    ]
    assert rows(extra.run("hidden_versions", ip="2001:db8::1", **WINDOW), "delete_marker_version_id") == [
        ("dm2",), ("dm1",)]
    assert rows(extra.run("hidden_versions", requester=D, **WINDOW), "delete_marker_version_id") == [("dm7",), ("dm5",)]
    assert len(extra.run("hidden_versions", requester=A, **WINDOW)) == 0


def test_hidden_versions_when_the_hidden_version_is_gone(hand):
    result = hand.run("hidden_versions", **WINDOW)
    assert rows(result, "key", "delete_marker_version_id", "marker_at", "source_ip_address", "hidden_version_id",
                "hidden_size") == [
        ("logs/b.log", "dm2", T(2025, 11, 20, 12), None, "v2", 1 * MiB),
        # v1 was deleted for good after dm1 was placed: nothing left to restore
        ("docs/a.txt", "dm1", T(2025, 11, 20, 10), "2001:db8::1", None, None),
    ]


@pytest.mark.parametrize("name", ["detect_malware", "malware_scan_results"])
def test_a_version_uploaded_already_tagged_counts_as_its_own_upload(tmp_path, name):
    tag = [("GuardDutyMalwareScanStatus", "THREATS_FOUND")]
    row = dict(bucket="b", key="uploads/evil.pdf", sequence_number="0001", record_type="CREATE",
               record_timestamp=T(2025, 11, 20, 10), version_id="v1", is_delete_marker=False, size=10,
               e_tag="e", object_tags=tag, user_metadata=[], requester=A, source_ip_address="203.0.113.5")
    write_tables(tmp_path, [row], [])
    with analytics.connect(data=tmp_path) as session:
        rows = session.run(name, **WINDOW).rows()
    assert len(rows) == 1
    got = rows[0]
    uploader = got.get("uploader", got.get("uploader_requester", got.get("requester")))
    assert (got["key"], uploader) == ("uploads/evil.pdf", A)
    assert "203.0.113.5" in got.values()
