"""The six STG302 workshop queries on the hand-built data set, against answers worked out by hand."""

from __future__ import annotations

from datetime import datetime

import pytest

from conftest import MiB, ODD_KEY, SCRIPT_KEY, WINDOW

T = datetime


def keys(result, *columns):
    return [tuple(row[c] for c in columns) for row in result.rows()]


def test_recent_deletes_filters_on_record_timestamp_over_a_half_open_window(hand):
    result = hand.run("recent_deletes", **WINDOW)
    assert keys(result, "bucket", "key", "version_id", "record_timestamp") == [
        ("vers-bucket", "logs/b.log", "dm2", T(2025, 11, 20, 12)),
        ("vers-bucket", "old/lagging.bin", "vB", T(2025, 11, 20, 11, 50)),
        ("plain-bucket", "old/backfilled.bin", None, T(2025, 11, 20, 11, 45)),
        ("plain-bucket", ODD_KEY, None, T(2025, 11, 20, 11, 30)),
        ("vers-bucket", "docs/a.txt", "v1", T(2025, 11, 20, 10, 30)),
        ("vers-bucket", "docs/a.txt", "dm1", T(2025, 11, 20, 10)),
        ("vers-bucket", "edge/at-since.txt", "e1", T(2025, 11, 20, 0)),
    ]
    for column in ("bucket", "key", "version_id", "record_timestamp", "is_delete_marker", "requester",
                   "source_ip_address", "last_modified_date"):
        assert column in result.columns


def test_recent_deletes_carries_the_null_rule_of_permanent_deletes(hand):
    rows = {(r["key"], r["version_id"]): r for r in hand.run("recent_deletes", **WINDOW).rows()}
    permanent = rows[("docs/a.txt", "v1")]
    assert permanent["is_delete_marker"] is None
    assert permanent["requester"] is None and permanent["source_ip_address"] is None
    assert permanent["last_modified_date"] is None  # why the workshop's filter missed it
    marker = rows[("docs/a.txt", "dm1")]
    assert marker["is_delete_marker"] is True
    assert (marker["requester"], marker["source_ip_address"]) == ("444455556666", "2001:db8::1")


def test_recent_deletes_bucket_parameter(hand):
    result = hand.run("recent_deletes", bucket="plain-bucket", **WINDOW)
    assert {r["bucket"] for r in result.rows()} == {"plain-bucket"}
    assert len(result) == 2


def test_recent_user_deletes_drops_lifecycle_but_keeps_unattributed(hand):
    result = hand.run("recent_user_deletes", **WINDOW)
    got = keys(result, "key", "version_id", "requester")
    assert ("logs/b.log", "dm2", "s3.amazonaws.com") not in got
    assert got == [
        ("old/lagging.bin", "vB", None),
        ("old/backfilled.bin", None, None),
        (ODD_KEY, None, None),
        ("docs/a.txt", "v1", None),
        ("docs/a.txt", "dm1", "444455556666"),
        ("edge/at-since.txt", "e1", None),
    ]


def test_source_ip_activity_counts_null_as_aws_services(hand):
    result = hand.run("source_ip_activity", **WINDOW)
    assert result.columns == ["source_ip_address", "record_count", "annotation_events"]
    assert {r["annotation_events"] for r in result.rows()} == {0}  # hand has no annotation records
    assert keys(result, "source_ip_address", "record_count") == [
        (None, 7),  # lifecycle, permanent deletes (at-since included)
        ("192.0.2.10", 3),
        ("198.51.100.7", 2),
        ("2001:db8::1", 1),
        ("203.0.113.9", 1),
    ]


def test_recent_metadata_updates_newest_first_with_limit(hand):
    result = hand.run("recent_metadata_updates", **WINDOW)
    assert result.columns == ["key", "version_id", "record_timestamp", "record_type", "object_tags",
                              "user_metadata", "size", "last_modified_date"]
    assert keys(result, "key", "record_timestamp") == [
        ("logs/b.log", T(2025, 11, 20, 11)), ("docs/a.txt", T(2025, 11, 20, 9, 30))]
    assert result.rows()[1]["object_tags"] == {"env": "prod"}
    assert len(hand.run("recent_metadata_updates", limit=1, **WINDOW)) == 1


def test_encryption_status_summary_leaves_delete_markers_out(hand):
    result = hand.run("encryption_status_summary")
    assert keys(result, "encryption_status", "number_of_keys", "total_capacity_in_bytes") == [
        ("SSE-S3", 2, 11 * MiB),
        (None, 1, 100),
        ("SSE-KMS", 1, 4 * MiB),
    ]
    assert keys(hand.run("encryption_status_summary", bucket="plain-bucket"),
                "encryption_status", "number_of_keys") == [(None, 1), ("SSE-S3", 1)]


def test_prefix_delete_volume_sizes_from_the_journal_create_then_the_inventory(hand):
    result = hand.run("prefix_delete_volume", **WINDOW)
    assert result.columns == ["top_level_prefix", "delete_count", "total_capacity_deleted_in_mb"]
    assert keys(result, "top_level_prefix", "delete_count", "total_capacity_deleted_in_mb") == [
        ("docs", 2, 2.0),      # marker 0 MB + permanent delete of v1, sized by its CREATE
        ("old", 2, 4.0),       # backfilled and gone: 0; lagging inventory: 4 MiB
        ("edge", 1, 0.0),
        ("logs", 1, 0.0),      # a lifecycle delete marker frees nothing
        (ODD_KEY, 1, 5.0),     # unversioned: the overwrite's size, not the first CREATE's
    ]


@pytest.mark.parametrize("name", ["recent_deletes", "recent_user_deletes", "source_ip_activity",
                                  "recent_metadata_updates", "prefix_delete_volume"])
def test_workshop_windows_default_to_the_last_24_hours(hand, name):
    # The pinned clock is 2025-11-21T06:00, so the default window [05:59 the day before, 06:00)
    # catches only the records after 06:00 on the 20th.
    default = hand.run(name)
    explicit = hand.run(name, since="2025-11-20T06:00:00", until="2025-11-21T06:00:00")
    assert default.rows() == explicit.rows()
    assert default.params["until"] == T(2025, 11, 21, 6)


def test_duration_counts_back_from_until(hand):
    result = hand.run("recent_deletes", since="90m", until="2025-11-20T12:00:00")
    # 90 minutes before 12:00 is 10:30, and since is inclusive.
    assert [r["record_timestamp"] for r in result.rows()] == [
        T(2025, 11, 20, 11, 50), T(2025, 11, 20, 11, 45), T(2025, 11, 20, 11, 30), T(2025, 11, 20, 10, 30)]


def test_offsets_convert_to_utc(hand):
    result = hand.run("recent_deletes", since="2025-11-20T12:30:00+02:00", until="2025-11-20T13:00:00+02:00")
    assert [r["key"] for r in result.rows()] == ["docs/a.txt"]  # 10:30 UTC


def test_hostile_keys_round_trip(hand):
    keys_seen = {r["key"] for r in hand.run("recent_deletes", **WINDOW).rows()}
    assert ODD_KEY in keys_seen
    assert SCRIPT_KEY in {r["key"] for r in hand.sql("SELECT key FROM inventory").rows()}
