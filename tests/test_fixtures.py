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


def _read(out: Path, manifest: dict, table: str) -> pa.Table:
    parts = [pq.read_table(out / rel) for rel in manifest["files"][table]]
    return pa.concat_tables(parts)


class Data:
    def __init__(self, out: Path, manifest: dict):
        self.out, self.manifest = out, manifest
        self.journal = _read(out, manifest, "journal")
        self.inventory = _read(out, manifest, "inventory")
        self.j = self.journal.to_pylist()
        self.inv = self.inventory.to_pylist()
        self.start = datetime.fromisoformat(manifest["start"])
        self.end = datetime.fromisoformat(manifest["end"])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Data:
    out = tmp_path_factory.mktemp("gen")
    return Data(out, fixtures.generate(out, rows=6000, seed=11, days=14, end=END))


@pytest.fixture(scope="module")
def benign(tmp_path_factory) -> Data:
    out = tmp_path_factory.mktemp("benign")
    return Data(out, fixtures.generate(out, rows=4000, seed=11, days=14, end=END, incidents=False))


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Data:
    """Every attack and benign twin of analytics.scenarios over a background with incidents."""
    from analytics.scenarios import SCENARIOS
    out = tmp_path_factory.mktemp("planted")
    return Data(out, fixtures.generate(out, rows=8000, seed=11, days=14, end=END, scenarios=tuple(SCENARIOS)))


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
    assert data.journal.schema.names == schema.JOURNAL.names
    assert [f.nullable for f in data.journal.schema] == [f.nullable for f in schema.JOURNAL]
    assert [f.nullable for f in data.inventory.schema] == [f.nullable for f in schema.INVENTORY]


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


def test_manifest_shape(data):
    m = data.manifest
    assert m["generator"] == "s3meta" and m["format_version"] == 1 and m["seed"] == 11 and m["days"] == 14
    assert m["end"] == "2025-11-30T00:00:00" and m["start"] == "2025-11-16T00:00:00"
    assert m["rows"] == data.journal.num_rows and m["inventory_rows"] == data.inventory.num_rows
    assert {b["name"]: b["versioned"] for b in m["buckets"]} == {
        "acme-prod-data": True, "acme-logs": False, "acme.media.assets": True}
    assert set(m["incidents"]) == {"mass_delete", "unencrypted_kms_only", "malware_upload"}
    text = (data.out / "manifest.json").read_text(encoding="utf-8")
    assert text == json.dumps(m, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_deterministic_bytes(tmp_path):
    a = fixtures.generate(tmp_path / "a", rows=2500, seed=5, days=10, end=END)
    b = fixtures.generate(tmp_path / "b", rows=2500, seed=5, days=10, end=END)
    assert a == b
    for rel in a["files"]["journal"] + a["files"]["inventory"] + ["manifest.json"]:
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
    m = fixtures.generate(tmp_path, rows=500, end=END)
    assert sorted(p.name for p in (tmp_path / "journal").iterdir()) == ["part-00000.parquet"]
    assert sorted(p.name for p in (tmp_path / "inventory").iterdir()) == ["part-00000.parquet"]
    assert m["files"] == {"journal": ["journal/part-00000.parquet"], "inventory": ["inventory/part-00000.parquet"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory", "journal", "manifest.json"]


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
    keys = [(r["record_timestamp"], r["bucket"], r["key"], r["sequence_number"]) for r in data.j]
    assert keys == sorted(keys)
    assert data.start <= data.j[0]["record_timestamp"] and data.j[-1]["record_timestamp"] < data.end


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
    for r in data.j:
        ident = (r["bucket"], r["key"])
        assert len(r["sequence_number"]) >= 40 and r["sequence_number"] == r["sequence_number"].upper()
        if ident in last:
            assert r["sequence_number"] > last[ident]
        last[ident] = r["sequence_number"]


def test_record_type_mix(data):
    n = len(data.j)
    share = {t: sum(r["record_type"] == t for r in data.j) / n for t in schema.RECORD_TYPES}
    assert 0.45 < share["CREATE"] < 0.68 and 0.15 < share["UPDATE_METADATA"] < 0.35 and 0.1 < share["DELETE"] < 0.3


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

@pytest.mark.parametrize("name", ["data", "planted"])
def test_inventory_is_replay_of_journal_plus_backfill(name, request):
    data = request.getfixturevalue(name)
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
    assert small.manifest["rows"] == len(j) and abs(len(j) - 3000) <= 150
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
    assert set(small.manifest["incidents"]) == {"mass_delete", "unencrypted_kms_only", "malware_upload"}
    for rel in small.manifest["files"]["journal"] + small.manifest["files"]["inventory"]:
        assert (SMALL / rel).stat().st_size < 250_000
