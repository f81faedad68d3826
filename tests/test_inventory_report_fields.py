"""Which fields a report has: absent is not NULL, new fields are read typed, unknown ones kept as text.

A configuration lists the optional fields it was set up with (botocore's InventoryOptionalField). A
field it lacks must never read as NULL, which in these tables means "unencrypted", "not replicated",
"no lock". Expected answers come from the Parquet inventory the reports were made from.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import analytics
from analytics import fixtures, inventory_report
from analytics.errors import DataError
from test_inventory_report_aws_files import run

LACKING = "acme.media.assets"  # versioned, with delete markers: the bucket whose report lacks a field
OTHERS = ("acme-logs", "acme-prod-data")
NEW = ("ObjectLockEventHoldStatus", "ObjectLockEventHoldDuration", "IntelligentTieringReferenceDate")


def _without(*names: str) -> tuple[str, ...]:
    return tuple(f for f in fixtures.REPORT_FIELDS + NEW if f not in names)


def _report(small_data: Path, base: Path, fields: tuple[str, ...], fmt: str = "csv") -> Path:
    fixtures.write_inventory_report(small_data, base, formats=(fmt,), fields=fields)
    return base / fmt


def _mixed(small_data: Path, base: Path, lacking: str | tuple[str, ...], bucket: str = LACKING) -> list[str]:
    """Locations: every bucket's full report, but `bucket`'s, configured without `lacking`."""
    lacking = (lacking,) if isinstance(lacking, str) else lacking
    full = _report(small_data, base / "full", fixtures.REPORT_FIELDS)
    partial = _report(small_data, base / "partial", _without(*lacking))
    return [str((partial if b == bucket else full) / b) for b in ("acme-logs", "acme-prod-data", LACKING)]


def _parquet(small_data: Path, sql: str) -> list[tuple]:
    """An independent answer: plain DuckDB over the Parquet inventory the reports were made from."""
    return duckdb.connect().execute(sql.replace("inventory", f"read_parquet('{small_data}/inventory/*.parquet')")
                                    ).fetchall()


def _objects(small_data: Path, condition: str) -> int:
    """How many stored versions (delete markers left out) of the Parquet inventory meet `condition`."""
    (count,), = _parquet(small_data, f"SELECT count(*) FROM inventory WHERE NOT is_delete_marker AND {condition}")
    return count


def _tiers(session) -> dict:
    return {r["access_tier"]: r["object_count"] for r in session.run("intelligent_tiering_tiers").rows()}


# --- point 3: some reports lack a field: their rows say UNKNOWN ---------------------------------------

def test_a_report_without_encryption_status_is_unknown_never_unencrypted(tmp_path, small_data):
    locations = _mixed(small_data, tmp_path, "EncryptionStatus")
    objects = f"FROM inventory WHERE NOT is_delete_marker AND bucket = '{LACKING}'"
    (count, size), = _parquet(small_data, f"SELECT count(*), sum(size) {objects}")
    unencrypted_elsewhere = _parquet(small_data, "SELECT bucket, key, version_id FROM inventory WHERE NOT "
                                     f"is_delete_marker AND encryption_status IS NULL AND bucket <> '{LACKING}'")
    with analytics.connect(inventory_report=locations) as session:
        listed = session.run("unencrypted_objects").rows()
        assert {(r["bucket"], r["key"], r["version_id"]) for r in listed if r["encryption_status"] is None} == \
            set(unencrypted_elsewhere)
        unknown = [r for r in listed if r["bucket"] == LACKING]
        assert len(unknown) == count and {r["encryption_status"] for r in unknown} == {"UNKNOWN"}
        summary = {r["encryption_status"]: (r["number_of_keys"], r["total_capacity_in_bytes"])
                   for r in session.run("encryption_status_summary").rows()}
        assert summary["UNKNOWN"] == (count, size)
        assert summary[None][0] == len(unencrypted_elsewhere)
        not_kms = [r for r in session.run("objects_not_using_kms").rows() if r["bucket"] == LACKING]
        assert len(not_kms) == count and {r["encryption_status"] for r in not_kms} == {"UNKNOWN"}


@pytest.mark.parametrize("query", ["unencrypted_objects", "objects_not_using_kms", "encryption_status_summary"])
def test_no_report_with_encryption_status_is_one_line_exit_2(tmp_path_factory, small_data, query):
    root = _report(small_data, tmp_path_factory.mktemp("noenc"), _without("EncryptionStatus"))
    proc = run("query", query, "--inventory-report", str(root), cwd=root)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("s3meta: error: the query needs EncryptionStatus (encryption_status), which no "
                                  "inventory report read has: configuration 's3meta-csv' of bucket 'acme-logs'")


def test_size_unknown_makes_totals_unknown_not_smaller(tmp_path, small_data):
    locations = _mixed(small_data, tmp_path, "Size")
    expected = _parquet(small_data, "SELECT storage_class, count(*) FROM inventory WHERE NOT is_delete_marker "
                                    "GROUP BY 1 ORDER BY 1")
    with analytics.connect(inventory_report=locations) as session:
        rows = session.run("storage_class_summary").rows()
        assert sorted((r["storage_class"], r["object_count"]) for r in rows) == expected
        lacking_classes = {c for c, in _parquet(small_data, "SELECT DISTINCT storage_class FROM inventory WHERE "
                                                            f"NOT is_delete_marker AND bucket = '{LACKING}'")}
        assert {r["storage_class"] for r in rows if r["total_bytes"] is None} == lacking_classes
        # a bucket whose report has Size still adds up exactly
        (total,), = _parquet(small_data, "SELECT sum(size) FROM inventory WHERE bucket = 'acme-logs'")
        assert sum(r["total_bytes"] for r in session.run("storage_class_summary", bucket="acme-logs").rows()) == total
    # no report has Size: sizes are only shown, never decide, so the counts stand and the totals say NULL
    root = _report(small_data, tmp_path / "nosize", _without("Size"))
    with analytics.connect(inventory_report=str(root)) as session:
        assert {r["total_bytes"] for r in session.run("storage_class_summary").rows()} == {None}


def test_storage_class_unknown_is_its_own_row(tmp_path, small_data):
    locations = _mixed(small_data, tmp_path, "StorageClass")
    with analytics.connect(inventory_report=locations) as session:
        rows = {r["storage_class"]: r["object_count"] for r in session.run("storage_class_summary").rows()}
        assert rows["UNKNOWN"] == _objects(small_data, f"bucket = '{LACKING}'")
        # the lacking bucket's report has tiers: an object with one is Intelligent-Tiering for sure
        tiers = _tiers(session)
    assert sum(tiers.values()) == _objects(small_data, "storage_class = 'INTELLIGENT_TIERING'")
    assert "UNKNOWN" not in tiers


def test_tier_unknown_is_its_own_row(tmp_path, small_data):
    locations = _mixed(small_data, tmp_path, "IntelligentTieringAccessTier")
    it = _objects(small_data, f"bucket = '{LACKING}' AND storage_class = 'INTELLIGENT_TIERING'")
    with analytics.connect(inventory_report=locations) as session:
        assert it and _tiers(session)["UNKNOWN"] == it


def test_lock_unknown_is_listed_as_unknown_not_unlocked(tmp_path, small_data):
    lock = ("ObjectLockMode", "ObjectLockLegalHoldStatus", "ObjectLockRetainUntilDate")
    locations = _mixed(small_data, tmp_path, lock, bucket="acme-prod-data")
    count = _objects(small_data, f"bucket = 'acme-prod-data' AND starts_with(key, '{fixtures.LOCKED_PREFIX}')")
    with analytics.connect(inventory_report=locations) as session:
        rows = session.run("unlocked_objects", prefix=fixtures.LOCKED_PREFIX, bucket="acme-prod-data").rows()
    assert len(rows) == count  # nothing says any of them is locked
    assert {(r["object_lock_mode"], r["object_lock_legal_hold_status"]) for r in rows} == {("UNKNOWN", "UNKNOWN")}
    root = _report(small_data, tmp_path / "nolock", _without("ObjectLockMode"))
    with analytics.connect(inventory_report=str(root)) as session, \
            pytest.raises(DataError, match=r"needs ObjectLockMode \(object_lock_mode\)"):
        session.run("unlocked_objects", prefix=fixtures.LOCKED_PREFIX)


def test_replication_and_acl_unknown_are_listed_as_unknown(tmp_path, small_data):
    locations = _mixed(small_data, tmp_path, ("ReplicationStatus", "ObjectAccessControlList"))
    count = _objects(small_data, f"bucket = '{LACKING}'")
    with analytics.connect(inventory_report=locations) as session:
        failures = [r for r in session.run("replication_failures").rows() if r["bucket"] == LACKING]
        grants = [r for r in session.run("public_acl_grants").rows() if r["bucket"] == LACKING]
        known = [r for r in session.run("public_acl_grants").rows() if r["bucket"] != LACKING]
    assert len(failures) == count and {r["replication_status"] for r in failures} == {"UNKNOWN"}
    assert len(grants) == count and {(r["grantee"], r["permission"]) for r in grants} == {("UNKNOWN", "UNKNOWN")}
    assert known and {r["grantee"] for r in known} <= {"AllUsers", "AuthenticatedUsers"}


def test_checksum_unknown_is_not_no_checksum(tmp_path, small_data):
    locations = _mixed(small_data, tmp_path, "ChecksumAlgorithm")
    with analytics.connect(inventory_report=locations) as session:
        rows = session.sql("SELECT bucket, checksum_algorithm AS c, count(*) AS n FROM inventory WHERE NOT "
                           "is_delete_marker GROUP BY ALL").rows()
    assert {r["c"] for r in rows if r["bucket"] == LACKING} == {"UNKNOWN"}
    assert "UNKNOWN" not in {r["c"] for r in rows if r["bucket"] != LACKING}


@pytest.mark.parametrize("field", inventory_report.OPTIONAL)
def test_every_optional_field_absent_reads_unknown_and_cannot_decide(tmp_path, small_data, field):
    root = _report(small_data, tmp_path, _without(field), fmt="parquet")
    target = inventory_report.BY_NAME[field].target
    with analytics.connect(inventory_report=str(root)) as session:
        fields = session.sql("SELECT DISTINCT fields FROM inventory_reports").rows()
        assert len(fields) == 1 and field not in fields[0]["fields"] and "Key" in fields[0]["fields"]
        values = session.sql(f"SELECT is_delete_marker AS marker, {target} AS v FROM inventory_report").rows()
        text = inventory_report.REPORT.field(target).type == pa.string()
        assert {r["v"] for r in values if not r["marker"]} == ({"UNKNOWN"} if text else {None})
        assert {r["v"] for r in values if r["marker"]} <= {None, 0}  # markers have none of these (size 0)
        with pytest.raises(DataError, match=rf"needs {field} \({target}\).*'s3meta-parquet' of bucket"):
            session.sql(f"SELECT count(*) FROM inventory_report WHERE {target} IS NULL")
        # only shown, not deciding: the answer stands, and the column says what is not known
        assert session.sql(f"SELECT key, {target} FROM inventory_report ORDER BY key LIMIT 1").rows()


@pytest.mark.parametrize("query,column", [("kms_keys_in_use", "kms_key_arn"), ("objects_by_tag", "object_tags")])
def test_columns_no_report_has_refuse_the_query(tmp_path, small_data, query, column):
    root = _report(small_data, tmp_path, fixtures.REPORT_FIELDS)
    with analytics.connect(inventory_report=str(root)) as session, \
            pytest.raises(DataError, match=rf"needs {column}, which S3 Inventory reports do not have"):
        session.run(query, tag="env") if query == "objects_by_tag" else session.run(query)


# --- how a statement's needed fields are found -----------------------------------------------------

@pytest.mark.parametrize("sql,needed", [
    ("SELECT * FROM journal WHERE encryption_status IS NULL", set()),  # same name, another table
    ("SELECT encryption_status, size FROM inventory", set()),  # shown only
    ("SELECT * FROM inventory ORDER BY storage_class", set()),
    ("SELECT count(*) FROM inventory WHERE encryption_status IS NULL", {("inventory", "encryption_status")}),
    ("SELECT storage_class, sum(size) FROM inventory_report GROUP BY storage_class",
     {("inventory_report", "storage_class")}),
    ("WITH x AS (SELECT key, replication_status AS r FROM inventory_report) SELECT key FROM x WHERE r = 'FAILED'",
     {("inventory_report", "replication_status")}),
    ("SELECT j.key FROM journal AS j JOIN inventory AS i ON i.key = j.key AND i.e_tag = j.e_tag",
     {("inventory", "key"), ("inventory", "e_tag")}),
    ("SELECT key FROM journal WHERE key IN (SELECT key FROM inventory WHERE checksum_algorithm = 'CRC32')",
     {("inventory", "key"), ("inventory", "checksum_algorithm")}),
    ("SELECT row_number() OVER (PARTITION BY object_owner) FROM inventory_report",
     {("inventory_report", "object_owner")}),
    ("this is not SQL", set()),
])
def test_needed_columns(sql, needed):
    assert inventory_report.needed_columns(sql) == needed


# --- point 4: the newest fields typed, unknown ones as text, errors naming the manifest ----------------

def test_fields_are_botocores_inventory_optional_fields():
    """When AWS adds a field, botocore's model lists it first: this fails until the reader knows it."""
    import botocore.loaders

    model = botocore.loaders.create_loader().load_service_model("s3", "service-2")
    assert set(inventory_report.OPTIONAL) == set(model["shapes"]["InventoryOptionalField"]["enum"])


@pytest.mark.parametrize("fmt", ["csv", "orc", "parquet"])
def test_event_hold_and_tiering_reference_date_are_read_typed(tmp_path, small_data, fmt):
    root = _report(small_data, tmp_path, fixtures.REPORT_FIELDS + NEW, fmt)
    manifest = json.loads(next(root.glob("acme-prod-data/*/20*/manifest.json")).read_text())
    assert "ObjectLockEventHoldStatus" in manifest["fileSchema"] or "object_lock_event_hold_status" in \
        manifest["fileSchema"]
    table = inventory_report.read(root)
    schema = table.schema
    assert schema.field("object_lock_event_hold_status").type == pa.string()
    assert schema.field("object_lock_event_hold_duration").type == pa.int64()
    assert schema.field("intelligent_tiering_reference_date").type == pa.timestamp("us")
    source = fixtures.report_rows(small_data)
    key = ["bucket", "key", "version_id"]
    names = [f.column for f in inventory_report.FIELDS if f.name in NEW]

    def values(t):
        return sorted(tuple(r[k] for k in key + names) for r in t.select(key + names).to_pylist())
    got, want = values(table), values(source.cast(source.schema.set(
        source.schema.get_field_index("intelligent_tiering_reference_date"),
        pa.field("intelligent_tiering_reference_date", pa.timestamp("us")))))
    assert got == want
    assert {"ON", "OFF"} <= set(table.column("object_lock_event_hold_status").to_pylist())
    assert 30 in table.column("object_lock_event_hold_duration").to_pylist()


def _hand_csv_report(folder: Path, schema: str, lines: list[str], name: str = "manifest.json",
                     bucket: str = "src") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    (folder / f"{bucket}.csv.gz").write_bytes(body)
    (folder / name).write_text(json.dumps({
        "sourceBucket": bucket, "destinationBucket": "arn:aws:s3:::dest", "version": "2016-11-30",
        "creationTimestamp": "1764460800000", "fileFormat": "CSV", "fileSchema": schema,
        "files": [{"key": f"{bucket}.csv.gz", "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()}]}))
    return folder / name


HELD = ('"src","locked.bin","10","2025-11-20T09:00:00.000Z","SSE-KMS","ON","30","2025-11-01",'
        '"GLACIER_IR","x1"')
SCHEMA = ("Bucket, Key, Size, LastModifiedDate, EncryptionStatus, ObjectLockEventHoldStatus, "
          "ObjectLockEventHoldDuration, IntelligentTieringReferenceDate, StorageClass, FutureField")


def test_a_csv_with_new_and_unknown_fields_reads_and_warns_once(tmp_path):
    _hand_csv_report(tmp_path / "a", SCHEMA, [HELD])
    first = _hand_csv_report(tmp_path / "b", SCHEMA, [HELD.replace('"src"', '"other"')], bucket="other")  # read first
    reports = inventory_report.load(tmp_path)
    row = next(r for r in reports.table.to_pylist() if r["bucket"] == "src")
    assert (row["object_lock_event_hold_status"], row["object_lock_event_hold_duration"]) == ("ON", 30)
    assert row["intelligent_tiering_reference_date"] == dt.datetime(2025, 11, 1)
    assert row["future_field"] == "x1" and reports.table.schema.field("future_field").type == pa.string()
    assert reports.notes == [f"warning: {first}: field 'FutureField' is not one s3meta knows; kept as text "
                             "column future_field of inventory_report"]
    proc = run("sql", "SELECT future_field, object_lock_event_hold_duration AS d FROM inventory_report ORDER BY 1",
               "--inventory-report", str(tmp_path), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"future_field": "x1", "d": 30}, {"future_field": "x1", "d": 30}]
    assert proc.stderr.count("\n") == 1 and "warning:" in proc.stderr and "'FutureField'" in proc.stderr


def test_an_unknown_parquet_column_is_kept_as_text(tmp_path):
    table = pa.table({"bucket": ["src"], "key": ["k"], "size": pa.array([3], pa.int64()),
                      "future_count": pa.array([7], pa.int32())})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    body = buffer.getvalue()
    (tmp_path / "x.parquet").write_bytes(body)
    (tmp_path / "manifest.json").write_text(json.dumps({
        "sourceBucket": "src", "fileFormat": "Parquet",
        "fileSchema": "message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
                      "optional int64 size; optional int32 future_count;}",
        "files": [{"key": "x.parquet", "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()}]}))
    reports = inventory_report.load(tmp_path)
    assert reports.table.to_pylist()[0]["future_count"] == "7"
    assert len(reports.notes) == 1 and "'future_count'" in reports.notes[0]


@pytest.mark.parametrize("case,message", [
    ("not json", "not an S3 Inventory manifest"),
    ("unknown format", "unknown fileFormat 'JSON'"),
    ("bad duration", "field ObjectLockEventHoldDuration: .*thirty"),
    ("bad date", "field IntelligentTieringReferenceDate: .*someday"),
    ("missing column", "no storage_class column, though the manifest's fileSchema lists it"),
])
def test_every_error_names_the_manifest(tmp_path, case, message):
    line = HELD
    if case == "bad duration":
        line = HELD.replace('"30"', '"thirty"')
    if case == "bad date":
        line = HELD.replace('"2025-11-01"', '"someday"')
    manifest = _hand_csv_report(tmp_path, SCHEMA, [line], name="odd_manifest.json")
    if case == "not json":
        manifest.write_text("{")
    if case == "unknown format":
        manifest.write_text(manifest.read_text().replace('"CSV"', '"JSON"'))
    if case == "missing column":  # a Parquet file without a column its fileSchema lists
        table = pa.table({"bucket": ["src"], "key": ["k"]})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        body = buffer.getvalue()
        (tmp_path / "x.parquet").write_bytes(body)
        manifest.write_text(json.dumps({
            "sourceBucket": "src", "fileFormat": "Parquet", "fileSchema": "message s3.inventory { required binary "
            "bucket (STRING); required binary key (STRING); optional binary storage_class (STRING);}",
            "files": [{"key": "x.parquet", "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()}]}))
    with pytest.raises(DataError, match=rf"^{manifest}: .*{message}"):
        inventory_report.read(tmp_path)
    proc = run("query", "storage_class_summary", "--inventory-report", str(manifest), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and str(manifest) in proc.stderr
