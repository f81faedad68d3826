"""Classic S3 Inventory reports as the inventory: mapping, checksums, the report-only queries, DDL."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlglot

import analytics
from analytics import catalog, fixtures, inventory_report
from analytics.errors import DataError
from conftest import cli, write_tables

CLOCK = lambda: dt.datetime(2025, 11, 30)  # noqa: E731  the end of fixtures/small
WORKSHOP = ("recent_deletes", "recent_user_deletes", "source_ip_activity", "recent_metadata_updates",
            "encryption_status_summary", "prefix_delete_volume")
# Inventory queries whose answers do not depend on what a classic report lacks. Left out:
# hidden_versions and restore_candidates (order versions by sequence_number, which a report lacks
# and which is synthesized), kms_keys_in_use (kms_key_arn: not in reports), objects_by_tag (tags).
INVENTORY_QUERIES = ("encryption_status_summary", "objects_not_using_kms", "storage_class_summary",
                     "unencrypted_objects", "prefix_delete_volume")
REPORT_QUERIES = ("unlocked_objects", "public_acl_grants", "replication_failures", "intelligent_tiering_tiers")
REQUIRED = {"prefix": fixtures.LOCKED_PREFIX}


@pytest.fixture(scope="session")
def reports(tmp_path_factory, small_data) -> dict[str, Path]:
    return fixtures.write_inventory_report(small_data, tmp_path_factory.mktemp("reports"))


def _values(session, name):
    query = session.query(name)
    values = {p.name: REQUIRED[p.name] for p in query.params if p.required}
    return values | ({"since": "14d"} if any(p.name == "since" for p in query.params) else {})


def _copy(root: Path, tmp_path: Path) -> Path:
    target = tmp_path / root.name
    shutil.copytree(root, target)
    return target


def _first_data_file(root: Path) -> Path:
    return sorted(p for p in root.glob("**/data/*") if p.is_file())[0]


# --- the same answers from every source ---------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "orc", "parquet"])
def test_workshop_and_inventory_queries_answer_the_same_from_a_report(fmt, reports, small_data):
    with analytics.connect(data=small_data, clock=CLOCK) as parquet, \
            analytics.connect(data=small_data, inventory_report=str(reports[fmt]), clock=CLOCK) as report:
        for name in dict.fromkeys(WORKSHOP + INVENTORY_QUERIES):
            expected = parquet.run(name, _values(parquet, name)).arrow().to_pylist()
            got = report.run(name, _values(report, name)).arrow().to_pylist()
            assert got == expected, name
            assert expected or name in ("source_ip_activity",), f"{name} proves nothing on empty answers"


@pytest.mark.parametrize("fmt", ["csv", "orc"])
def test_every_format_gives_the_same_inventory_report_table(fmt, reports):
    key = ["bucket", "key", "version_id"]
    expected = inventory_report.read(reports["parquet"]).sort_by([(k, "ascending") for k in key])
    got = inventory_report.read(reports[fmt]).sort_by([(k, "ascending") for k in key])
    assert got.equals(expected)


def test_values_are_mapped_to_the_metadata_tables_spellings(reports, small_data):
    table = inventory_report.read(reports["csv"])
    assert "NOT-SSE" not in set(table.column("encryption_status").to_pylist())
    assert set(table.column("checksum_algorithm").to_pylist()) <= {None, *analytics.schema.CHECKSUM_ALGORITHMS}
    assert set(table.column("is_bucket_key_enabled").to_pylist()) <= {None, True, False}
    assert table.column("object_tags").null_count == table.num_rows  # reports carry no tags
    assert inventory_report.inventory(table).schema.names == analytics.schema.INVENTORY.names
    seq = table.column("sequence_number").to_pylist()
    assert all(len(s) >= 18 and s[:17].isdigit() for s in seq)


def test_sequence_numbers_put_the_latest_version_last(reports):
    rows = inventory_report.read(reports["orc"]).to_pylist()
    by_key: dict = {}
    for r in rows:
        by_key.setdefault((r["bucket"], r["key"]), []).append(r)
    several = [v for v in by_key.values() if len(v) > 1]
    assert several
    for versions in several:
        assert max(versions, key=lambda r: r["sequence_number"])["is_latest"] is True


def test_newest_run_of_each_configuration_is_read(reports, tmp_path):
    root = _copy(reports["parquet"], tmp_path)
    run = next(root.glob("acme-logs/*/20*"))
    older = run.with_name("2020-01-01T00-00Z")
    shutil.copytree(run, older)
    (older / "manifest.json").write_text("not json")  # would fail if it were read
    (older / "manifest.checksum").unlink()
    assert len(inventory_report.locate(str(root))) == 3


# --- CSV: no header, URL-encoded keys --------------------------------------------------------------

HOSTILE = ['a b.txt', 'a+b.txt', 'file%20name', 'q"uote,comma\nnew.csv', "o'brien", "日本語/ファイル",
           "<script>alert(1)</script>", "back\\slash", "tab\there", "party 🎉", "100% sure?&x=1#frag"]


def test_csv_hostile_keys_round_trip(tmp_path):
    rows = [dict(bucket="b", key=k, sequence_number=f"{i:04d}", version_id=None, is_delete_marker=False, size=i,
                 last_modified_date=dt.datetime(2025, 1, 1, 0, 0, i), e_tag="e", storage_class="STANDARD",
                 is_multipart=False, encryption_status=None, is_bucket_key_enabled=False,
                 checksum_algorithm="SHA256", object_tags=[], user_metadata=[]) for i, k in enumerate(HOSTILE)]
    data = write_tables(tmp_path / "data", [], rows)
    (data / "manifest.json").write_text(json.dumps({"end": "2025-11-30T00:00:00", "seed": 1}))
    roots = fixtures.write_inventory_report(data, tmp_path / "report", formats=("csv",))
    raw = "".join(gzip.decompress(p.read_bytes()).decode() for p in roots["csv"].glob("**/data/*"))
    assert len(raw.rstrip("\n").split("\n")) == len(HOSTILE)  # one line per object: no raw newline in a key
    assert '"a%2Bb.txt"' in raw and '"a+b.txt"' in raw  # form encoding: a literal plus is %2B, '+' a space
    table = inventory_report.read(roots["csv"])
    assert sorted(table.column("key").to_pylist()) == sorted(HOSTILE)
    assert set(table.column("checksum_algorithm").to_pylist()) == {"SHA256"}
    assert set(table.column("encryption_status").to_pylist()) == {None}


def test_fields_a_report_lacks_read_unknown_never_null(tmp_path):
    """Absent is not NULL: NULL would say "unencrypted", "not replicated", "no checksum"."""
    run = tmp_path / "dest" / "src" / "cfg" / "2025-11-30T00-00Z"
    run.mkdir(parents=True)
    body = gzip.compress(b'"src","a%20b.txt","12","2025-11-20T09:00:00.000Z","STANDARD"\n', mtime=0)
    (tmp_path / "dest" / "src" / "cfg" / "data").mkdir()
    (tmp_path / "dest" / "src" / "cfg" / "data" / "x.csv.gz").write_bytes(body)
    (run / "manifest.json").write_text(json.dumps({
        "sourceBucket": "src", "destinationBucket": "arn:aws:s3:::dest", "version": "2016-11-30",
        "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size, LastModifiedDate, StorageClass",
        "files": [{"key": "src/cfg/data/x.csv.gz", "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()}]}))
    row = inventory_report.read(tmp_path / "dest").to_pylist()[0]
    assert row["key"] == "a b.txt" and row["size"] == 12 and row["last_modified_date"] == dt.datetime(2025, 11, 20, 9)
    assert row["encryption_status"] == row["replication_status"] == row["checksum_algorithm"] == "UNKNOWN"
    assert row["kms_key_arn"] == row["object_lock_mode"] == row["object_access_control_list"] == "UNKNOWN"
    assert row["is_multipart"] is None and row["is_bucket_key_enabled"] is None and row["object_tags"] is None
    # current versions only (no VersionId): the current version of a live object, ID not reported
    assert row["version_id"] is None and row["is_latest"] is True and row["is_delete_marker"] is False


# --- checksums: never a silent partial answer ------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "orc", "parquet"])
def test_a_corrupted_data_file_is_named(fmt, reports, tmp_path):
    root = _copy(reports[fmt], tmp_path)
    target = _first_data_file(root)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"{target.name}.*MD5 does not match"):
        inventory_report.read(root)


@pytest.mark.parametrize("fmt", ["csv", "orc", "parquet"])
def test_a_truncated_data_file_is_named(fmt, reports, tmp_path):
    root = _copy(reports[fmt], tmp_path)
    target = _first_data_file(root)
    target.write_bytes(target.read_bytes()[:-40])
    with pytest.raises(DataError, match=rf"{target.name}.*bytes, the manifest says .*truncated"):
        inventory_report.read(root)


@pytest.mark.parametrize("fmt", ["csv", "orc", "parquet"])
def test_a_truncated_file_with_a_matching_manifest_is_still_refused(fmt, reports, tmp_path):
    """Even when the manifest was rewritten to match, the file itself must parse completely."""
    root = _copy(reports[fmt], tmp_path)
    target = _first_data_file(root)
    short = target.read_bytes()[:-40]
    target.write_bytes(short)
    for manifest in root.glob("**/manifest.json"):
        doc = json.loads(manifest.read_text())
        for f in doc["files"]:
            if f["key"].endswith(target.name):
                f["size"], f["MD5checksum"] = len(short), hashlib.md5(short).hexdigest()
        manifest.write_text(json.dumps(doc))
        (manifest.parent / "manifest.checksum").unlink()
    with pytest.raises(DataError, match=rf"{target.name}.*unreadable"):
        inventory_report.read(root)


def test_a_modified_manifest_fails_its_checksum(reports, tmp_path):
    root = _copy(reports["csv"], tmp_path)
    manifest = next(root.glob("**/manifest.json"))
    manifest.write_text(manifest.read_text().replace('"2016-11-30"', '"2016-11-31"'))
    with pytest.raises(DataError, match=r"manifest.json: MD5 does not match manifest.checksum"):
        inventory_report.read(root)


def test_cli_reports_a_corrupt_file_in_one_line_exit_2(reports, tmp_path):
    root = _copy(reports["parquet"], tmp_path)
    target = _first_data_file(root)
    target.write_bytes(target.read_bytes()[:-1] + b"X")
    proc = cli("query", "storage_class_summary", "--inventory-report", str(root), "--format", "json")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and target.name in proc.stderr and "MD5" in proc.stderr
    assert proc.stdout == ""


# --- the report-only queries, against a plain-Python answer ----------------------------------------

@pytest.fixture(scope="module")
def report_session(reports):
    with analytics.connect(inventory_report=str(reports["csv"]), clock=CLOCK) as session:
        yield session


@pytest.fixture(scope="module")
def rows(reports):
    return inventory_report.read(reports["parquet"]).to_pylist()


def test_report_queries_parse_as_athena_and_read_only_inventory_report():
    for name in REPORT_QUERIES:
        query = catalog.shipped().get(name)
        assert "inventory-report" in query.tags
        tree = sqlglot.parse_one(catalog.substitute(query.sql, lambda n: "?"), read="athena")
        ctes = {cte.alias for cte in tree.find_all(sqlglot.exp.CTE)}
        assert {t.name for t in tree.find_all(sqlglot.exp.Table)} - ctes == {"inventory_report"}


def test_unlocked_objects(report_session, rows):
    got = report_session.run("unlocked_objects", prefix="finance/").arrow().to_pylist()
    until = CLOCK()
    expected = [r for r in rows if r["key"].startswith("finance/") and not r["is_delete_marker"]
                and r["object_lock_legal_hold_status"] != "ON"
                and (r["object_lock_mode"] is None or r["object_lock_retain_until_date"] < until)]
    assert expected and len(got) == len(expected)
    assert {(r["bucket"], r["key"], r["version_id"]) for r in got} == \
        {(r["bucket"], r["key"], r["version_id"]) for r in expected}
    assert report_session.run("unlocked_objects", prefix="finance/", bucket="acme-logs").arrow().num_rows == 0


def test_public_acl_grants(report_session, rows):
    expected = set()
    for r in rows:
        if r["object_access_control_list"]:
            for g in json.loads(base64.b64decode(r["object_access_control_list"]))["grants"]:
                group = g.get("uri", "").rsplit("/", 1)[-1]
                if group in ("AllUsers", "AuthenticatedUsers"):
                    expected.add((r["bucket"], r["key"], r["version_id"], group, g["permission"]))
    got = report_session.run("public_acl_grants").arrow().to_pylist()
    assert expected
    assert {(g["bucket"], g["key"], g["version_id"], g["grantee"], g["permission"]) for g in got} == expected
    assert len(got) == len(expected)


def test_replication_failures(report_session, rows):
    got = report_session.run("replication_failures").arrow().to_pylist()
    expected = sorted((r["bucket"], r["key"]) for r in rows if r["replication_status"] == "FAILED")
    assert expected and [(g["bucket"], g["key"]) for g in got] == expected


def test_intelligent_tiering_tiers(report_session, rows):
    got = {r["access_tier"]: (r["object_count"], r["total_bytes"])
           for r in report_session.run("intelligent_tiering_tiers").arrow().to_pylist()}
    expected: dict = {}
    for r in rows:
        if r["storage_class"] == "INTELLIGENT_TIERING" and not r["is_delete_marker"]:
            n, b = expected.get(r["intelligent_tiering_access_tier"], (0, 0))
            expected[r["intelligent_tiering_access_tier"]] = (n + 1, b + r["size"])
    assert len(expected) >= 2 and got == expected


def test_report_queries_without_a_report_say_what_is_missing(small_data):
    with analytics.connect(data=small_data) as session:
        with pytest.raises(DataError, match="--inventory-report"):
            session.run("replication_failures")


# --- the engine option ------------------------------------------------------------------------------

def test_cli_report_without_data_and_the_sandbox_stays(reports):
    proc = cli("sql", "SELECT count(*) AS n FROM inventory_report", "--inventory-report", str(reports["orc"]),
               "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": pq.read_metadata(next(
        (Path(__file__).parent.parent / "fixtures" / "small" / "inventory").glob("*.parquet"))).num_rows}]
    proc = cli("sql", "SELECT * FROM read_csv('/etc/passwd')", "--inventory-report", str(reports["orc"]))
    assert proc.returncode == 2 and "refused" in proc.stderr


def test_report_on_s3_through_moto(aws, reports):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=fixtures.REPORT_DESTINATION)
    base = reports["csv"].parent
    for path in sorted(reports["csv"].glob("**/*")):
        if path.is_file():
            s3.put_object(Bucket=fixtures.REPORT_DESTINATION, Key=path.relative_to(base).as_posix(),
                          Body=path.read_bytes())
    local = inventory_report.read(reports["csv"])
    remote = inventory_report.read(f"s3://{fixtures.REPORT_DESTINATION}/csv/")
    assert remote.equals(local)
    with analytics.connect(inventory_report=f"s3://{fixtures.REPORT_DESTINATION}/csv/acme-logs/") as session:
        assert {r["bucket"] for r in session.sql("SELECT DISTINCT bucket FROM inventory").arrow().to_pylist()} == \
            {"acme-logs"}
    manifest = next(k["Key"] for k in s3.list_objects_v2(Bucket=fixtures.REPORT_DESTINATION)["Contents"]
                    if k["Key"].endswith("manifest.json"))
    doc = json.loads(s3.get_object(Bucket=fixtures.REPORT_DESTINATION, Key=manifest)["Body"].read())
    s3.put_object(Bucket=fixtures.REPORT_DESTINATION, Key=doc["files"][0]["key"], Body=b"garbage")
    with pytest.raises(DataError, match=doc["files"][0]["key"].rsplit("/", 1)[-1]):
        inventory_report.read(f"s3://{fixtures.REPORT_DESTINATION}/csv/")


# --- Athena DDL ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,serde", [("parquet", "ParquetHiveSerDe"), ("orc", "OrcSerde"), ("csv", "OpenCSVSerde")])
def test_ddl_command_prints_a_projected_table_and_a_view(fmt, serde):
    proc = cli("ddl", "inventory-report", "--location", "s3://dest-bucket/inv/src-bucket/cfg/", "--format", fmt,
               "--table", "my_inventory")
    assert proc.returncode == 0, proc.stderr
    table, view = [s for s in proc.stdout.split(";\n") if s.strip()]
    tree = sqlglot.parse_one(table, read="hive")
    assert isinstance(tree, sqlglot.exp.Create) and tree.this.this.name == "my_inventory"
    assert sqlglot.parse_one(view.split("\n", 1)[1], read="athena").find(sqlglot.exp.Create)
    for clause in ("CREATE EXTERNAL TABLE my_inventory", "PARTITIONED BY (dt string)", serde,
                   "SymlinkTextInputFormat", "LOCATION 's3://dest-bucket/inv/src-bucket/cfg/hive/'",
                   "'projection.enabled' = 'true'", "'projection.dt.type' = 'date'",
                   "'projection.dt.format' = 'yyyy-MM-dd-HH-mm'", "'projection.dt.range' = '2022-01-01-00-00,NOW'",
                   "'projection.dt.interval.unit' = 'HOURS'", "`object_access_control_list` string"):
        assert clause in table, clause
    assert ("`size` string" in table) == (fmt == "csv")
    assert "CREATE OR REPLACE VIEW inventory_report" in view and "max(dt)" in view


@pytest.mark.parametrize("location", ["s3://b/x'; DROP TABLE t; --", "/local/path", "s3://b/with space/"])
def test_ddl_refuses_odd_locations(location):
    proc = cli("ddl", "inventory-report", "--location", location)
    assert proc.returncode == 2 and "--location" in proc.stderr


def test_bucket_restricts_the_report_tables(reports, small_data):
    with analytics.connect(inventory_report=str(reports["parquet"]), data=small_data, buckets=["acme-logs"]) as s:
        for table in ("inventory", "inventory_report", "journal"):
            assert s.sql(f"SELECT DISTINCT bucket FROM {table}").rows() == [{"bucket": "acme-logs"}], table
