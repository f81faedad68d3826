"""Tests for analytics.fixtures: shapes, AWS NULL rules, replay consistency, incidents, determinism."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import fixtures, schema
from analytics.errors import BadInput

END = datetime(2025, 11, 30)
SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "small"
SMALL_PARAMS = dict(rows=3000, seed=7, days=14, end=END, incidents=True)
LIFECYCLE = schema.LIFECYCLE_PRINCIPAL
INV_COLS = schema.INVENTORY.names
OBJECT_TYPES = set(schema.OBJECT_RECORD_TYPES)
ANNOTATION_TYPES = set(schema.ANNOTATION_RECORD_TYPES)


def _read(out: Path, manifest: dict, table: str) -> pa.Table:
    parts = [pq.read_table(out / rel) for rel in manifest["files"][table]]
    return pa.concat_tables(parts)


class Data:
    def __init__(self, out: Path, manifest: dict):
        self.out, self.manifest = out, manifest
        self.journal = _read(out, manifest, "journal")
        self.inventory = _read(out, manifest, "inventory")
        self.annotation = _read(out, manifest, "annotation")
        self.all_j = self.journal.to_pylist()
        # The object records: what the checks of the 2025 layout are about (annotation rows have their own).
        self.j = [r for r in self.all_j if r["record_type"] in OBJECT_TYPES]
        self.a = [r for r in self.all_j if r["record_type"] in ANNOTATION_TYPES]
        self.inv = self.inventory.to_pylist()
        self.ann = self.annotation.to_pylist()
        self.start = datetime.fromisoformat(manifest["start"])
        self.end = datetime.fromisoformat(manifest["end"])


@pytest.fixture(scope="module")
def one_world(tmp_path_factory) -> Data:
    out = tmp_path_factory.mktemp("gen")
    return Data(out, fixtures.generate(out, rows=6000, seed=11, days=14, end=END))


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Data:
    """The same rows simulated as three shards and merged, as data sets above SHARD_ROWS are, in parts
    of 2,500 rows with row groups of 512: every property checked on `data` must hold for both."""
    out = tmp_path_factory.mktemp("shards")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fixtures, "SHARD_ROWS", 2000)
        patch.setattr(fixtures, "PART_ROWS", 2500)
        patch.setattr(fixtures, "ROW_GROUP", 512)
        patch.setattr(fixtures, "_MERGE_BATCH", 300)
        return Data(out, fixtures.generate(out, rows=6000, seed=11, days=14, end=END))


@pytest.fixture(scope="module", params=["one_world", "shards"])
def data(request) -> Data:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def benign(tmp_path_factory) -> Data:
    out = tmp_path_factory.mktemp("benign")
    return Data(out, fixtures.generate(out, rows=4000, seed=11, days=14, end=END, incidents=False))


@pytest.fixture(scope="module")
def small() -> Data:
    return Data(SMALL, json.loads((SMALL / "manifest.json").read_text(encoding="utf-8")))


def _is_permanent(r: dict) -> bool:
    return r["record_type"] == "DELETE" and r["is_delete_marker"] is None


def _is_lifecycle(r: dict) -> bool:
    return r["requester"] == LIFECYCLE or (r["record_type"] == "DELETE" and r["requester"] is None)


# ---- shape ---------------------------------------------------------------------------------------------

def test_schemas_match_exactly(data):
    for rel in data.manifest["files"]["journal"]:
        assert pq.read_schema(data.out / rel).equals(schema.JOURNAL, check_metadata=False)
    for rel in data.manifest["files"]["inventory"]:
        assert pq.read_schema(data.out / rel).equals(schema.INVENTORY, check_metadata=False)
    for rel in data.manifest["files"]["annotation"]:
        assert pq.read_schema(data.out / rel).equals(schema.ANNOTATION, check_metadata=False)
    assert data.journal.schema.names == schema.JOURNAL.names
    assert [f.nullable for f in data.journal.schema] == [f.nullable for f in schema.JOURNAL]
    assert [f.nullable for f in data.inventory.schema] == [f.nullable for f in schema.INVENTORY]
    assert [f.nullable for f in data.annotation.schema] == [f.nullable for f in schema.ANNOTATION]


def test_parquet_is_zstd_with_bounded_row_groups(data):
    meta = pq.ParquetFile(data.out / data.manifest["files"]["journal"][0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert all(meta.row_group(i).num_rows <= fixtures.ROW_GROUP for i in range(meta.num_row_groups))


@pytest.mark.parametrize("rows", [100, 2000, 7000])
def test_row_count_within_5_percent(tmp_path, rows):
    m = fixtures.generate(tmp_path, rows=rows, seed=3, days=7, end=END)
    assert abs(m["rows"] - rows) <= 0.05 * rows
    assert pq.read_table(tmp_path / "journal").num_rows == m["rows"]
    assert pq.read_table(tmp_path / "inventory").num_rows == m["inventory_rows"]
    assert pq.read_table(tmp_path / "annotation").num_rows == m["annotation_table_rows"]


def test_manifest_shape(data):
    m = data.manifest
    assert m["generator"] == "s3meta" and m["format_version"] == 2 and m["seed"] == 11 and m["days"] == 14
    assert m["end"] == "2025-11-30T00:00:00" and m["start"] == "2025-11-16T00:00:00"
    assert m["rows"] == data.journal.num_rows and m["inventory_rows"] == data.inventory.num_rows
    assert m["annotation_events"] == len(data.a) and m["annotation_table_rows"] == data.annotation.num_rows
    assert m["annotation_share"] == 0.08 and m["annotation_rows"] == "full"
    assert {b["name"]: b["versioned"] for b in m["buckets"]} == {
        "acme-prod-data": True, "acme-logs": False, "acme.media.assets": True}
    assert set(m["incidents"]) == {"mass_delete", "unencrypted_kms_only", "malware_upload", "annotation_tampering"}
    text = (data.out / "manifest.json").read_text(encoding="utf-8")
    assert text == json.dumps(m, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_deterministic_bytes(tmp_path):
    a = fixtures.generate(tmp_path / "a", rows=2500, seed=5, days=10, end=END)
    b = fixtures.generate(tmp_path / "b", rows=2500, seed=5, days=10, end=END)
    assert a == b
    for rel in a["files"]["journal"] + a["files"]["inventory"] + a["files"]["annotation"] + ["manifest.json"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    c = fixtures.generate(tmp_path / "c", rows=2500, seed=6, days=10, end=END)
    assert (tmp_path / "c" / c["files"]["journal"][0]).read_bytes() != (
        tmp_path / "a" / a["files"]["journal"][0]).read_bytes()


def test_bad_input(tmp_path):
    with pytest.raises(BadInput):
        fixtures.generate(tmp_path, rows=99)
    with pytest.raises(BadInput):
        fixtures.generate(tmp_path, rows=1000, days=0)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(BadInput):
        fixtures.generate(blocker, rows=1000, end=END)
    with pytest.raises(BadInput):
        fixtures.generate(blocker / "below", rows=1000, end=END)


def test_stale_parts_removed_and_no_temp_files_left(tmp_path):
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / "part-00007.parquet").write_bytes(b"stale")
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "part-00003.parquet").write_bytes(b"stale")
    (tmp_path / "annotation").mkdir()
    (tmp_path / "annotation" / "part-00001.parquet").write_bytes(b"stale")
    m = fixtures.generate(tmp_path, rows=500, end=END)
    for table in ("journal", "inventory", "annotation"):
        assert sorted(p.name for p in (tmp_path / table).iterdir()) == ["part-00000.parquet"], table
    assert m["files"] == {"journal": ["journal/part-00000.parquet"], "inventory": ["inventory/part-00000.parquet"],
                          "annotation": ["annotation/part-00000.parquet"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotation", "inventory", "journal", "manifest.json"]


def test_end_defaults_to_current_hour_and_aware_end_is_converted(tmp_path):
    m = fixtures.generate(tmp_path / "d", rows=200, days=1)
    end = datetime.fromisoformat(m["end"])
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert end.minute == end.second == end.microsecond == 0
    assert timedelta(0) <= now - end < timedelta(hours=1, minutes=5)
    aware = datetime(2025, 11, 30, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    m = fixtures.generate(tmp_path / "e", rows=200, days=1, end=aware)
    assert m["end"] == "2025-11-30T00:00:00" and m["start"] == "2025-11-29T00:00:00"


# ---- per-row AWS rules ---------------------------------------------------------------------------------

def test_journal_sorted_and_inside_window(data):
    keys = [(r["record_timestamp"], r["bucket"], r["key"], r["sequence_number"]) for r in data.all_j]
    assert keys == sorted(keys)
    assert data.start <= data.all_j[0]["record_timestamp"] and data.all_j[-1]["record_timestamp"] < data.end


def test_inventory_sorted_and_unique(data):
    keys = [(r["bucket"], r["key"], r["sequence_number"]) for r in data.inv]
    assert keys == sorted(keys)
    assert len({(r["bucket"], r["key"], r["version_id"]) for r in data.inv}) == len(data.inv)


def test_permanent_deletes_are_null_except_required_columns(data):
    perm = [r for r in data.j if _is_permanent(r)]
    assert len(perm) > 20
    for r in perm:
        for col in schema.JOURNAL.names:
            if col not in schema.PERMANENT_DELETE_COLUMNS:
                assert r[col] is None, (col, r)
        assert r["bucket"] == "acme-logs" or r["version_id"] is not None


def test_delete_markers(data):
    markers = [r for r in data.j if r["record_type"] == "DELETE" and r["is_delete_marker"]]
    assert len(markers) > 20
    for r in markers:
        assert r["size"] == 0 and r["last_modified_date"] == r["record_timestamp"]
        assert r["version_id"] is not None and r["bucket"] != "acme-logs"
        for col in ("e_tag", "storage_class", "encryption_status", "kms_key_arn", "checksum_algorithm",
                    "object_tags", "user_metadata", "is_multipart", "is_bucket_key_enabled"):
            assert r[col] is None, col
        assert r["requester"] is not None and r["request_id"] is not None
        assert (r["requester"] == LIFECYCLE) == (r["source_ip_address"] is None)
    assert len({r["version_id"] for r in markers}) == len(markers)


def test_create_and_update_rows_are_complete(data):
    for r in data.j:
        if r["record_type"] == "DELETE":
            assert r["is_delete_marker"] in (True, None)
            continue
        assert r["is_delete_marker"] is False
        assert r["object_tags"] is not None and r["user_metadata"] is not None
        assert r["size"] > 0 and len(r["e_tag"].split("-")[0]) == 32
        assert r["storage_class"] in schema.STORAGE_CLASSES and r["requester"] is not None
        assert len(r["request_id"]) == 16 and r["request_id"].isalnum() and r["request_id"].upper() == r["request_id"]
        assert (r["kms_key_arn"] is not None) == (r["encryption_status"] in ("SSE-KMS", "DSSE-KMS"))
        assert r["is_bucket_key_enabled"] is not None and r["is_multipart"] is not None
        assert r["is_multipart"] == (r["size"] >= 100 * 2**20) == ("-" in r["e_tag"])
        assert r["last_modified_date"] <= r["record_timestamp"]
        if r["record_type"] == "CREATE":
            lag = r["record_timestamp"] - r["last_modified_date"]
            assert lag < (timedelta(hours=2) if r["is_multipart"] else timedelta(seconds=10))


def test_version_ids(data):
    for rows in (data.j, data.inv):
        for r in rows:
            if r["bucket"] == "acme-logs":
                assert r["version_id"] is None
            else:
                assert len(r["version_id"]) == 32
    creates = [r["version_id"] for r in data.j if r["record_type"] == "CREATE" and r["version_id"]]
    assert len(set(creates)) == len(creates)


def test_lifecycle_and_service_rows(data):
    lc = [r for r in data.j if r["requester"] == LIFECYCLE]
    assert {r["record_type"] for r in lc} == {"UPDATE_METADATA", "DELETE"}
    for r in lc:
        assert r["source_ip_address"] is None
        assert r["record_timestamp"].hour < 2  # the daily Lifecycle run
    gd = [r for r in data.j if r["requester"] == fixtures.GUARDDUTY_PRINCIPAL]
    assert gd
    for r in gd:
        assert r["source_ip_address"] is None and r["record_type"] == "UPDATE_METADATA"
        assert r["bucket"] == "acme-prod-data" and r["key"].startswith("uploads/")
        assert dict(r["object_tags"])[schema.GUARDDUTY_TAG] in fixtures.GUARDDUTY_STATUSES
    users = [r for r in data.j if r["requester"] in fixtures.ACCOUNTS]
    assert all(r["source_ip_address"] for r in users)
    assert any(":" in r["source_ip_address"] for r in users) and any("." in r["source_ip_address"] for r in users)
    ipv6 = {r["source_ip_address"] for r in users if ":" in r["source_ip_address"]}
    assert all(ip.startswith("2001:db8:") and ip == ip.lower() for ip in ipv6)


def test_ssekms_only_prefix_is_kms_apart_from_the_incident(data, benign):
    planted = set(data.manifest["incidents"]["unencrypted_kms_only"]["keys"])
    for d, allowed in ((data, planted), (benign, set())):
        for r in d.j + d.inv:
            if r["key"].startswith("ssekms-only/") and r.get("is_delete_marker") is False:
                assert r["encryption_status"] == "SSE-KMS" or r["key"] in allowed


def test_sequence_numbers_increase_per_key(data):
    last = {}
    for r in data.all_j:  # annotation rows share each key's sequence (the harder case for queries)
        ident = (r["bucket"], r["key"])
        assert len(r["sequence_number"]) >= 40 and r["sequence_number"] == r["sequence_number"].upper()
        if ident in last:
            assert r["sequence_number"] > last[ident]
        last[ident] = r["sequence_number"]


def test_record_type_mix(data):
    n = len(data.j)
    share = {t: sum(r["record_type"] == t for r in data.j) / n for t in schema.OBJECT_RECORD_TYPES}
    assert 0.45 < share["CREATE"] < 0.68 and 0.15 < share["UPDATE_METADATA"] < 0.35 and 0.1 < share["DELETE"] < 0.3
    # Annotation events make up the configured share of all rows (8%, the planted incident on top).
    assert 0.07 < len(data.a) / len(data.all_j) < 0.1
    assert {r["record_type"] for r in data.a} == ANNOTATION_TYPES


def test_office_hours_rhythm(data):
    busy = quiet = 0
    for r in data.j:
        if _is_lifecycle(r):
            continue
        ts = r["record_timestamp"]
        if ts.weekday() < 5 and 8 <= ts.hour < 19:
            busy += 1
        elif ts.hour < 6:
            quiet += 1
    assert quiet > 0 and busy > 4 * quiet


def test_hostile_keys_present(small, data):
    for d in (small, data):
        keys = {r["key"] for r in d.j}
        for needle in ('"', "'", ",", "\n", "\t", "<script>alert(1)</script>", "日本語/ファイル", "Ελληνικά",
                       "кириллица", "🎉", " ", "%20", "\\"):
            assert any(needle in k for k in keys), repr(needle)
    assert all(k.count("/") >= 2 for k in {r["key"] for r in data.inv})


# ---- inventory = replay of the journal + backfill ------------------------------------------------------

def test_inventory_is_replay_of_journal_plus_backfill(data):
    state, touched = {}, set()
    order = sorted(range(len(data.j)), key=lambda i: (data.j[i]["bucket"], data.j[i]["key"],
                                                     data.j[i]["sequence_number"]))
    for i in order:
        r = data.j[i]
        ident = (r["bucket"], r["key"], r["version_id"])
        touched.add(ident)
        if _is_permanent(r):
            state.pop(ident, None)
        else:
            state[ident] = {c: r[c] for c in INV_COLS}
    seen, backfilled = set(), 0
    for row in data.inv:
        ident = (row["bucket"], row["key"], row["version_id"])
        seen.add(ident)
        if ident in touched:
            assert ident in state, ("permanently deleted but in inventory", ident)
            assert row == state[ident], ident
        else:
            backfilled += 1
            assert row["last_modified_date"] < data.start, ident
    assert set(state) <= seen
    # Backfill is about 30% of the objects the journal creates; some backfilled objects change in the window.
    created = len({(r["bucket"], r["key"]) for r in data.j if r["record_type"] == "CREATE"})
    assert 0.15 * created < backfilled < 0.6 * created
    touched_backfill = {(r["bucket"], r["key"]) for r in data.j} - {
        (r["bucket"], r["key"]) for r in data.j if r["record_type"] == "CREATE"}
    assert touched_backfill


# ---- incidents -----------------------------------------------------------------------------------------

def test_mass_delete_incident(data):
    inc = data.manifest["incidents"]["mass_delete"]
    since, until = datetime.fromisoformat(inc["since"]), datetime.fromisoformat(inc["until"])
    assert inc["count"] == max(50, data.manifest["rows"] // 200) and until - since <= timedelta(minutes=15)
    assert since >= data.start + (data.end - data.start) * 0.6 and until < data.end
    by_actor = [r for r in data.j if r["requester"] == inc["actor"] or r["source_ip_address"] == inc["ip"]]
    assert len(by_actor) == inc["count"]
    for r in by_actor:
        assert r["requester"] == inc["actor"] and r["source_ip_address"] == inc["ip"]
        assert r["record_type"] == "DELETE" and r["is_delete_marker"] is True
        assert r["bucket"] == inc["bucket"] and r["key"].startswith(inc["prefix"])
        assert since <= r["record_timestamp"] <= until
    assert sorted(r["version_id"] for r in by_actor) == sorted(inc["marker_version_ids"])
    assert len(inc["hidden_versions"]) == inc["count"]
    inv = {(r["bucket"], r["key"], r["version_id"]): r for r in data.inv}
    marker_rows = {r["version_id"]: r for r in by_actor}
    for h in inc["hidden_versions"]:
        hidden = inv[(inc["bucket"], h["key"], h["version_id"])]
        assert hidden["is_delete_marker"] is False
        marker = marker_rows[h["marker_version_id"]]
        assert marker["key"] == h["key"]
        versions = [r for r in data.inv if r["bucket"] == inc["bucket"] and r["key"] == h["key"]]
        # The marker is now current, and the hidden version is the newest one below it.
        assert max(versions, key=lambda r: r["sequence_number"])["version_id"] == h["marker_version_id"]
        below = [r for r in versions if r["sequence_number"] < marker["sequence_number"]]
        assert max(below, key=lambda r: r["sequence_number"])["version_id"] == h["version_id"]
        earlier = [r for r in data.j if r["key"] == h["key"] and r["bucket"] == inc["bucket"]
                   and r["record_timestamp"] < marker["record_timestamp"]]
        if earlier:
            assert earlier[-1]["is_delete_marker"] is not True
    assert all(r["requester"] != inc["actor"] for r in data.j if r not in by_actor)


def test_unencrypted_kms_only_incident(data):
    inc = data.manifest["incidents"]["unencrypted_kms_only"]
    assert 5 <= inc["count"] == len(inc["keys"]) == len(inc["version_ids"]) <= 20
    rows = [r for r in data.j if r["key"].startswith("ssekms-only/") and r["record_type"] != "DELETE"
            and r["encryption_status"] is None]
    planted = sorted(zip(inc["keys"], inc["version_ids"], strict=True))
    assert sorted((r["key"], r["version_id"]) for r in rows) == planted
    for r in rows:
        assert r["record_type"] == "CREATE" and r["kms_key_arn"] is None and r["bucket"] == inc["bucket"]
        assert r["requester"] == inc["requester"] and r["source_ip_address"] == inc["ip"]
        assert r["record_timestamp"] >= data.start + (data.end - data.start) * 0.6
    assert inc["requester"] in fixtures.ACCOUNTS
    assert any(r["source_ip_address"] == inc["ip"] for r in data.j if r["key"] not in inc["keys"])
    unenc_inv = [r for r in data.inv if r["key"].startswith("ssekms-only/") and r["is_delete_marker"] is False
                 and r["encryption_status"] is None]
    assert len(unenc_inv) == inc["count"]


def test_malware_upload_incident(data):
    inc = data.manifest["incidents"]["malware_upload"]
    rows = [r for r in data.j if r["key"] == inc["key"]]
    assert [r["record_type"] for r in rows] == ["CREATE", "UPDATE_METADATA"]
    create, scan = rows
    assert create["version_id"] == scan["version_id"] == inc["version_id"]
    assert create["requester"] == inc["requester"] and create["source_ip_address"] == inc["ip"]
    assert create["record_timestamp"] == datetime.fromisoformat(inc["uploaded"])
    assert scan["record_timestamp"] == datetime.fromisoformat(inc["scan_timestamp"])
    assert timedelta(0) < scan["record_timestamp"] - create["record_timestamp"] < timedelta(minutes=10)
    assert scan["requester"] == fixtures.GUARDDUTY_PRINCIPAL and scan["source_ip_address"] is None
    assert dict(scan["object_tags"])[schema.GUARDDUTY_TAG] == "THREATS_FOUND"
    threats = [r for r in data.j + data.inv
               if r["object_tags"] and dict(r["object_tags"]).get(schema.GUARDDUTY_TAG) == "THREATS_FOUND"]
    assert len(threats) == 2  # the scan row, and the inventory row of that version
    assert inc["key"].startswith("uploads/") and inc["bucket"] == "acme-prod-data"


def test_no_incidents_when_disabled(benign):
    assert benign.manifest["incidents"] == {}
    for r in benign.j:
        assert r["requester"] != fixtures.MASS_DELETE_ACTOR and r["source_ip_address"] != fixtures.MASS_DELETE_IP
    for r in benign.j + benign.inv:
        if r["object_tags"]:
            assert dict(r["object_tags"]).get(schema.GUARDDUTY_TAG) != "THREATS_FOUND"
    assert any(r["encryption_status"] is None and r["record_type"] == "CREATE" for r in benign.j)


# ---- the committed small set ---------------------------------------------------------------------------

def test_committed_small_set_matches_generator(small, tmp_path):
    m = fixtures.generate(tmp_path, **SMALL_PARAMS)
    assert m == small.manifest
    for table in ("journal", "inventory"):
        assert _read(tmp_path, m, table).equals(getattr(small, table)), table


def test_committed_small_set_coverage(small):
    j, inv = small.j, small.inv
    assert small.manifest["rows"] == len(small.all_j) and abs(len(small.all_j) - 3000) <= 150
    for bucket, versioned in (("acme-prod-data", True), ("acme-logs", False), ("acme.media.assets", True)):
        rows = [r for r in j if r["bucket"] == bucket]
        assert any(_is_permanent(r) for r in rows), bucket
        assert any(_is_permanent(r) and r["version_id"] is None for r in rows) != versioned
        assert any(r["is_delete_marker"] for r in rows) == versioned, bucket
        assert any(r["requester"] == LIFECYCLE and r["record_type"] == "UPDATE_METADATA" for r in rows), bucket
    assert any(r["requester"] == LIFECYCLE and r["is_delete_marker"] for r in j)
    assert any(r["requester"] == fixtures.GUARDDUTY_PRINCIPAL for r in j)
    assert any(r["source_ip_address"] and ":" in r["source_ip_address"] for r in j)
    created = {r["encryption_status"] for r in j if r["record_type"] == "CREATE"}
    assert created >= set(schema.ENCRYPTION_STATUSES) | {None}
    assert {r["checksum_algorithm"] for r in j if r["record_type"] == "CREATE"} >= set(schema.CHECKSUM_ALGORITHMS)
    assert any(r["is_multipart"] for r in j) and any(r["size"] and r["size"] > 2**30 for r in j)
    assert any(r["is_delete_marker"] for r in inv)
    assert any(r["last_modified_date"] < small.start for r in inv)
    assert set(small.manifest["incidents"]) == {"mass_delete", "unencrypted_kms_only", "malware_upload",
                                                "annotation_tampering"}
    assert small.a and small.ann
    # 250 kB before the 2026 layout; its object_join_key (32 random hex digits a row) adds about 35 kB.
    for rel in small.manifest["files"]["journal"] + small.manifest["files"]["inventory"]:
        assert (SMALL / rel).stat().st_size < 290_000


# ---- annotations (the June 2026 layout) ----------------------------------------------------------------

@pytest.fixture(scope="module")
def sparse(tmp_path_factory) -> Data:
    out = tmp_path_factory.mktemp("sparse")
    return Data(out, fixtures.generate(out, rows=6000, seed=11, days=14, end=END, annotation_rows="sparse"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Data:
    """Too few compliance annotations for the incident: it gives some versions one first."""
    out = tmp_path_factory.mktemp("tiny")
    return Data(out, fixtures.generate(out, rows=300, seed=1, days=7, end=END))


def _by_key(rows):
    return sorted(rows, key=lambda r: (r["bucket"], r["key"], r["sequence_number"]))


def _md5(text):
    import hashlib
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("which", ["one_world", "shards", "sparse", "small", "tiny"])
def test_annotation_table_is_replay_of_journal(which, request):
    """The annotation table equals replaying the journal's annotation rows, in plain Python.

    Per (bucket, key, version, name), the latest CREATE_ANNOTATION sets the revision, an
    UPDATE_ANNOTATION_METADATA its replication status, a DELETE_ANNOTATION removes it; annotations of
    versions that no longer exist (deleted for good, or an unversioned key overwritten) are gone.
    Annotations the journal never saw written are the table's backfill: older than the journal.
    """
    d = request.getfixturevalue(which)
    state, touched = {}, set()
    for r in _by_key(d.a):
        a = r["annotation"]
        ident = (r["bucket"], r["key"], r["version_id"], a["name"])
        touched.add(ident)
        if r["record_type"] == "DELETE_ANNOTATION":
            state.pop(ident, None)  # a backfilled annotation (never written in the journal) may be deleted
        elif r["record_type"] == "CREATE_ANNOTATION":
            state[ident] = {"object_join_key": r["object_join_key"], "sequence_number": a["sequence_number"],
                            "last_modified_date": a["last_modified_date"], "size": a["size"], "e_tag": a["e_tag"],
                            "checksum_algorithm": a["checksum_algorithm"],
                            "replication_status": a["replication_status"]}
        else:
            assert ident in state  # an update follows the write it is about
            assert state[ident]["sequence_number"] == a["sequence_number"]  # the revision it updates
            state[ident]["replication_status"] = a["replication_status"]
    stored = {(r["bucket"], r["key"], r["version_id"], r["object_join_key"])
              for r in d.inv if not r["is_delete_marker"]}
    expected = {k: v for k, v in state.items() if (*k[:3], v["object_join_key"]) in stored}
    table = {(r["bucket"], r["object_key"], r["object_version_id"], r["name"]): r for r in d.ann}
    assert len(table) == len(d.ann)  # one row per bucket, key, version and name
    replayed = {k: {c: table[k][c] for c in expected[k]} for k in expected if k in table}
    assert replayed == expected and set(expected) <= set(table)
    backfilled = [r for k, r in table.items() if k not in touched]
    assert (backfilled or which == "tiny") and all(r["last_modified_date"] < d.start for r in backfilled)
    assert {k for k in table if k in touched} == set(expected)
    for r in d.ann:
        assert (r["bucket"], r["object_key"], r["object_version_id"], r["object_join_key"]) in stored
        assert r["size"] == len(r["text_value"].encode("utf-8")) and r["e_tag"] == _md5(r["text_value"])
        assert r["name"] in fixtures.ANNOTATION_NAMES


@pytest.mark.parametrize("which", ["one_world", "shards", "small"])
def test_object_join_key_is_consistent_across_the_three_tables(which, request):
    d = request.getfixturevalue(which)
    current, creates = {}, []
    for r in _by_key(d.all_j):
        version = (r["bucket"], r["key"], r["version_id"])
        if r["record_type"] == "CREATE" or (r["record_type"] == "DELETE" and r["is_delete_marker"]):
            assert r["object_join_key"] is not None and r["object_join_key"] != current.get(version)
            current[version] = r["object_join_key"]  # a new version, or a re-written null version
            creates.append(r["object_join_key"])
        elif r["record_type"] == "DELETE":
            assert r["object_join_key"] is None  # a permanent delete: the NULL rule
            current.pop(version, None)
        elif version in current:
            assert r["object_join_key"] == current[version], r
    assert len(set(creates)) == len(creates)
    inventory = {(r["bucket"], r["key"], r["version_id"]): r["object_join_key"] for r in d.inv}
    assert all(inventory[v] == key for v, key in current.items() if v in inventory)
    assert len(set(inventory.values())) == len(inventory) and None not in inventory.values()
    for r in d.ann:
        assert inventory[(r["bucket"], r["object_key"], r["object_version_id"])] == r["object_join_key"]


def test_annotation_rows(data, sparse):
    assert all(r["annotation"] is None for r in data.j)
    for d in (data, sparse):
        assert {r["annotation"]["name"] for r in d.a} >= {"pii-classification", "retention", "ml-labels"}
        for r in d.a:
            a = r["annotation"]
            assert r["version_id"] is not None or r["bucket"] == "acme-logs"
            assert r["object_join_key"] is not None and len(r["request_id"]) == 16
            assert a["name"] in fixtures.ANNOTATION_NAMES and len(a["sequence_number"]) == 40
            if r["record_type"] == "DELETE_ANNOTATION":  # names the revision, nothing else
                assert [k for k, v in a.items() if v is not None] == ["name", "sequence_number"]
            else:
                assert a["size"] > 0 and len(a["e_tag"]) == 32 and a["last_modified_date"] <= r["record_timestamp"]
            if r["record_type"] == "UPDATE_ANNOTATION_METADATA":  # S3 replicating the annotation
                assert r["requester"] == LIFECYCLE and r["source_ip_address"] is None
                assert a["replication_status"] in ("COMPLETED", "FAILED") and r["bucket"] == "acme-prod-data"
            elif r["requester"] != fixtures.TAMPER_ACTOR:
                writer = fixtures.ANNOTATION_WRITER if a["name"] in (
                    "pii-classification", "retention", "legal-hold", "classification") else fixtures.LABEL_PIPELINE
                assert r["requester"] == writer and r["source_ip_address"].startswith("10.0.")
            if r["record_type"] == "CREATE_ANNOTATION":
                assert a["replication_status"] == ("PENDING" if r["bucket"] == "acme-prod-data" else None)
    # Full rows carry the version's state, as UPDATE_METADATA rows do; sparse rows none of it.
    object_columns = ("is_delete_marker", "size", "last_modified_date", "e_tag", "storage_class", "is_multipart",
                      "encryption_status", "is_bucket_key_enabled", "checksum_algorithm", "object_tags",
                      "user_metadata")
    state = {}
    for r in _by_key(data.all_j):
        version = (r["bucket"], r["key"], r["object_join_key"])
        if r["record_type"] in ("CREATE", "UPDATE_METADATA"):
            state[version] = {c: r[c] for c in object_columns}
        elif r["record_type"] in ANNOTATION_TYPES and version in state:
            assert {c: r[c] for c in object_columns} == state[version]
    assert all(r["is_delete_marker"] is False for r in data.a)
    assert all(r[c] is None for r in sparse.a for c in object_columns + ("kms_key_arn",))
    # Payloads: JSON and plain text, hostile text among them.
    texts = {r["text_value"] for r in data.ann + sparse.ann}
    assert any(t.startswith("{") for t in texts) and any(not t.startswith("{") for t in texts)


def test_annotation_share_is_configurable(tmp_path):
    none = fixtures.generate(tmp_path / "none", rows=2000, seed=3, days=7, end=END, annotation_share=0)
    journal = pq.read_table(tmp_path / "none" / "journal")
    assert none["annotation_events"] == 0 and none["annotation_table_rows"] == 0
    assert set(journal.column("record_type").to_pylist()) == OBJECT_TYPES
    assert journal.column("annotation").null_count == journal.num_rows
    assert pq.read_table(tmp_path / "none" / "annotation").num_rows == 0
    assert "annotation_tampering" not in none["incidents"]
    many = fixtures.generate(tmp_path / "many", rows=4000, seed=3, days=7, end=END, annotation_share=0.25)
    assert 0.23 < many["annotation_events"] / many["rows"] < 0.27 and abs(many["rows"] - 4000) <= 200
    for bad in (-0.1, 0.9, "x", True):
        with pytest.raises(BadInput, match="annotation_share"):
            fixtures.generate(tmp_path / "bad", rows=200, annotation_share=bad)
    with pytest.raises(BadInput, match="annotation_rows"):
        fixtures.generate(tmp_path / "bad", rows=200, annotation_rows="partial")


@pytest.mark.parametrize("which", ["one_world", "shards", "tiny"])
def test_annotation_tampering_incident(which, request):
    data = request.getfixturevalue(which)
    inc = data.manifest["incidents"]["annotation_tampering"]
    since, until = datetime.fromisoformat(inc["since"]), datetime.fromisoformat(inc["until"])
    assert inc["count"] == len(inc["deleted"]) + len(inc["rewritten"]) == 12 and len(inc["rewritten"]) == 4
    assert since >= data.start + (data.end - data.start) * 0.6 and until - since <= timedelta(minutes=10)
    by_actor = [r for r in data.all_j if r["requester"] == inc["actor"] or r["source_ip_address"] == inc["ip"]]
    assert len(by_actor) == inc["count"]
    assert all(r["requester"] == inc["actor"] and r["source_ip_address"] == inc["ip"] for r in by_actor)
    assert inc["actor"] not in fixtures.ACCOUNTS
    done = {(r["key"], r["version_id"], r["annotation"]["name"]): r for r in by_actor}
    table = {(r["object_key"], r["object_version_id"], r["name"]): r for r in data.ann}
    for item in inc["deleted"]:
        ident = (item["key"], item["version_id"], item["name"])
        assert done[ident]["record_type"] == "DELETE_ANNOTATION" and ident not in table
    for item in inc["rewritten"]:
        ident = (item["key"], item["version_id"], item["name"])
        assert done[ident]["record_type"] == "CREATE_ANNOTATION"
        assert table[ident]["text_value"] == item["text"] != item["previous_text"]
    for item in inc["deleted"] + inc["rewritten"]:
        # Compliance annotations on protected prefixes, which existed (journal-written or backfilled) before.
        assert item["name"] in ("pii-classification", "retention", "legal-hold")
        assert item["key"].startswith(("finance/", "ssekms-only/")) and inc["bucket"] == "acme-prod-data"
        earlier = [r for r in data.a if (r["key"], r["version_id"], r["annotation"]["name"]) ==
                   (item["key"], item["version_id"], item["name"]) and r["record_timestamp"] < since]
        if earlier:
            assert earlier[-1]["record_type"] != "DELETE_ANNOTATION"
            assert earlier[-1]["annotation"]["e_tag"] == _md5(item["previous_text"]) or \
                earlier[-1]["record_type"] == "UPDATE_ANNOTATION_METADATA"


def test_cli_generates_with_an_annotation_share(tmp_path):
    from conftest import cli
    proc = cli("fixtures", "generate", "--out", str(tmp_path / "d"), "--rows", "1500", "--days", "3",
               "--end", "2025-11-30", "--annotation-share", "0.2", "--annotation-rows", "sparse")
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "d" / "manifest.json").read_text(encoding="utf-8"))
    assert m["annotation_share"] == 0.2 and m["annotation_rows"] == "sparse"
    assert f"({m['annotation_events']} annotation events)" in proc.stderr
    assert 0.18 < m["annotation_events"] / 1500 < 0.22
    proc = cli("fixtures", "generate", "--out", str(tmp_path / "e"), "--rows", "500", "--annotation-share", "0.7")
    assert proc.returncode == 2 and proc.stderr.startswith("s3meta: error: annotation_share must be")


@pytest.mark.parametrize("offset", [0, 1 << 50], ids=["packed", "lexsort"])  # 2^50: too wide to pack
def test_latest_record_at_or_before(offset):
    """The lookup behind a full annotation row's object columns, against a plain-Python answer."""
    import numpy as np

    rng = np.random.default_rng(1)
    t0 = 1_700_000_000_000_000
    group = rng.integers(0, 50, 400) + offset
    t = t0 + rng.integers(0, 10_000, 400) * 1000
    q_group = rng.integers(0, 60, 300) + offset
    q_t = t0 + rng.integers(0, 10_000, 300) * 1000
    got = fixtures._latest_at_or_before(group, t, q_group, q_t, t0)
    for i, (qg, qt) in enumerate(zip(q_group, q_t, strict=True)):
        rows = [j for j in range(len(group)) if group[j] == qg and t[j] <= qt]
        if not rows:
            assert got[i] == -1
        else:
            assert group[got[i]] == qg and t[got[i]] == max(t[j] for j in rows)


# ---- large data sets: shards, merged ------------------------------------------------------------------

def test_journal_row_groups_cover_successive_time_spans_with_statistics(data):
    # What lets a window prune: each row group's record_timestamp range, in its statistics, starts where
    # the previous one ended, so a day of a month meets few row groups.
    spans = []
    for rel in data.manifest["files"]["journal"]:
        meta = pq.ParquetFile(data.out / rel).metadata
        column = schema.JOURNAL.names.index("record_timestamp")
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(column).statistics
            assert stats is not None and stats.has_min_max
            spans.append((stats.min, stats.max))
    assert spans and all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_shards_are_deterministic_and_leave_no_runs_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(fixtures, "SHARD_ROWS", 1500)
    monkeypatch.setattr(fixtures, "_MERGE_BATCH", 200)
    a = fixtures.generate(tmp_path / "a", rows=4000, seed=5, days=10, end=END)
    b = fixtures.generate(tmp_path / "b", rows=4000, seed=5, days=10, end=END)
    assert a == b and a["rows"] == 4000
    assert a["annotation_events"] > 0 and a["annotation_table_rows"] > 0
    for rel in a["files"]["journal"] + a["files"]["inventory"] + a["files"]["annotation"] + ["manifest.json"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["annotation", "inventory", "journal",
                                                                  "manifest.json"]
    journal = pq.read_table(tmp_path / "a" / "journal")
    keys = journal.group_by(["bucket", "key"]).aggregate([]).num_rows
    # Three shards' objects are numbered apart: no key of one shard is another's.
    numbers = {k.rsplit("-", 1)[-1].split(".")[0] for k in journal.column("key").to_pylist() if "-" in k}
    assert keys > 1000 and any(n.startswith("2000000") for n in numbers) and any(len(n) < 6 for n in numbers)
