"""The six workshop queries against an independent plain-Python computation on generated data."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pyarrow.parquet as pq
import pytest

import analytics
from analytics import fixtures

END = datetime(2025, 11, 30)
LIFECYCLE = "s3.amazonaws.com"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    fixtures.generate(out, rows=40_000, seed=11, days=10, end=END)
    journal = pq.read_table(out / "journal").to_pylist(maps_as_pydicts="strict")
    inventory = pq.read_table(out / "inventory").to_pylist(maps_as_pydicts="strict")
    with analytics.connect(data=out, clock=lambda: END) as session:
        yield session, journal, inventory


WINDOWS = [
    (END - timedelta(days=3), END),                      # the planted incidents' third
    (END - timedelta(days=10), END - timedelta(days=6)),  # early, quiet data only
    (datetime(2025, 11, 27, 9, 13, 7), datetime(2025, 11, 27, 17, 2, 11)),  # odd edges, office hours
]


def in_window(row, since, until):
    return since <= row["record_timestamp"] < until


def project(rows, columns):
    return [tuple(r[c] for c in columns) for r in rows]


@pytest.mark.parametrize("since,until", WINDOWS)
@pytest.mark.parametrize("bucket", [None, "acme-logs"])
def test_recent_deletes_and_user_deletes(generated, since, until, bucket):
    session, journal, _ = generated
    deletes = [r for r in journal if r["record_type"] == "DELETE" and in_window(r, since, until)
               and (bucket is None or r["bucket"] == bucket)]
    # ORDER BY record_timestamp DESC, bucket, key, sequence_number DESC, done as stable sorts.
    deletes.sort(key=lambda r: r["sequence_number"], reverse=True)
    deletes.sort(key=lambda r: (r["bucket"], r["key"]))
    deletes.sort(key=lambda r: r["record_timestamp"], reverse=True)
    columns = ["bucket", "key", "version_id", "sequence_number", "record_timestamp", "is_delete_marker",
               "requester", "source_ip_address", "last_modified_date"]
    got = session.run("recent_deletes", since=since, until=until, bucket=bucket).rows()
    assert project(got, columns) == project(deletes, columns) and deletes
    user = [r for r in deletes if r["requester"] != LIFECYCLE]
    got = session.run("recent_user_deletes", since=since, until=until, bucket=bucket).rows()
    assert project(got, columns) == project(user, columns)
    assert any(r["requester"] is None for r in user)  # unattributed deletes are kept


@pytest.mark.parametrize("since,until", WINDOWS)
def test_source_ip_activity(generated, since, until):
    session, journal, _ = generated
    counts, annotations = Counter(), Counter()
    for r in journal:
        if in_window(r, since, until):
            about_object = r["record_type"] in ("CREATE", "UPDATE_METADATA", "DELETE")
            counts[r["source_ip_address"]] += about_object
            annotations[r["source_ip_address"]] += not about_object
    expected = sorted(((ip, counts[ip], annotations[ip]) for ip in counts),
                      key=lambda t: (-t[1], t[0] is not None, t[0] or ""))
    got = session.run("source_ip_activity", since=since, until=until).rows()
    assert project(got, ["source_ip_address", "record_count", "annotation_events"]) == expected
    assert sum(annotations.values()) > 0


@pytest.mark.parametrize("since,until", WINDOWS)
@pytest.mark.parametrize("limit", [50, 1000000])
def test_recent_metadata_updates(generated, since, until, limit):
    session, journal, _ = generated
    updates = [r for r in journal if r["record_type"] == "UPDATE_METADATA" and in_window(r, since, until)]
    updates.sort(key=lambda r: r["sequence_number"], reverse=True)
    updates.sort(key=lambda r: (r["key"], r["bucket"]))
    updates.sort(key=lambda r: r["record_timestamp"], reverse=True)
    columns = ["key", "version_id", "record_timestamp", "record_type", "object_tags", "user_metadata", "size",
               "last_modified_date"]
    got = session.run("recent_metadata_updates", since=since, until=until, limit=limit).rows()
    assert project(got, columns) == project(updates[:limit], columns)


@pytest.mark.parametrize("bucket", [None, "acme-prod-data", "acme.media.assets"])
def test_encryption_status_summary(generated, bucket):
    session, _, inventory = generated
    count, size = Counter(), Counter()
    for r in inventory:
        if not r["is_delete_marker"] and (bucket is None or r["bucket"] == bucket):
            count[r["encryption_status"]] += 1
            size[r["encryption_status"]] += r["size"] or 0
    expected = sorted(((k, count[k], size[k]) for k in count),
                      key=lambda t: (-t[1], t[0] is not None, t[0] or ""))
    got = session.run("encryption_status_summary", bucket=bucket).rows()
    assert project(got, ["encryption_status", "number_of_keys", "total_capacity_in_bytes"]) == expected
    assert None in count  # unencrypted objects exist and are counted under NULL


@pytest.mark.parametrize("since,until", WINDOWS)
def test_prefix_delete_volume(generated, since, until):
    session, journal, inventory = generated
    creates = defaultdict(list)
    for r in journal:
        if r["record_type"] == "CREATE" and r["record_timestamp"] < until:
            creates[(r["bucket"], r["key"], r["version_id"])].append(r)
    stored = {(r["bucket"], r["key"], r["version_id"]): r for r in inventory if not r["is_delete_marker"]}
    count, size = Counter(), Counter()
    for d in journal:
        if d["record_type"] != "DELETE" or not in_window(d, since, until):
            continue
        ident = (d["bucket"], d["key"], d["version_id"])
        earlier = [c for c in creates.get(ident, []) if c["sequence_number"] < d["sequence_number"]]
        if earlier:
            bytes_ = max(earlier, key=lambda c: c["sequence_number"])["size"]
        elif ident in stored and stored[ident]["sequence_number"] < d["sequence_number"]:
            bytes_ = stored[ident]["size"]
        else:
            bytes_ = 0
        prefix = d["key"].split("/", 1)[0]
        count[prefix] += 1
        size[prefix] += bytes_
    expected = sorted(count, key=lambda p: (-count[p], p))
    got = session.run("prefix_delete_volume", since=since, until=until).rows()
    assert [r["top_level_prefix"] for r in got] == expected
    for row in got:
        p = row["top_level_prefix"]
        assert row["delete_count"] == count[p]
        assert row["total_capacity_deleted_in_mb"] == pytest.approx(size[p] / 1048576, abs=0.0051)
    assert any(size[p] > 0 for p in count)
