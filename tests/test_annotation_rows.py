"""Nothing existing is fooled by annotation rows: the same answers about objects with and without them.

The same generated data three ways: as generated (2026 layout, annotation events in the journal),
without its annotation events, and without them in the 2025 layout (21- and 16-column tables).
Every catalog query and the report give the same object-level answers on all three, for annotation
rows of both shapes AWS might write ("full": with the version's object columns; "sparse": without).
Queries whose purpose is annotations are excepted. Queries that list what an actor or a key did
(ACTIVITY) show annotation events too, as rows with an annotation_name; queries that count activity
(COUNTS) count them apart, in annotation_* columns: the object answer is what remains without them.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import analytics
from analytics import catalog, fixtures, report, restore, schema

END = datetime(2025, 11, 30)
ACTIVITY = {"requester_activity", "ip_activity", "key_version_history"}
COUNTS = {"actor_summary", "source_ip_activity"}
ANNOTATION_TYPES = list(schema.ANNOTATION_RECORD_TYPES)


@pytest.fixture(scope="module", params=["full", "sparse"])
def variants(request, tmp_path_factory):
    """{"with": folder, "without": folder, "2025": folder}, and the manifest."""
    root = tmp_path_factory.mktemp(f"variants-{request.param}")
    manifest = fixtures.generate(root / "with", rows=12_000, seed=5, days=14, end=END,
                                 annotation_rows=request.param)
    for name, layout in (("without", schema.TABLES), ("2025", None)):
        for table in ("journal", "inventory"):
            data = pq.read_table(root / "with" / table)
            if table == "journal":
                data = data.filter(pc.invert(pc.is_in(data.column("record_type"), pc.cast(ANNOTATION_TYPES, "string"))))
            if layout is None:
                data = data.drop_columns(list(schema.ADDED_IN_2026[table]))
            (root / name / table).mkdir(parents=True)
            pq.write_table(data, root / name / table / "part-00000.parquet")
    assert pq.read_table(root / "with" / "journal").num_rows > pq.read_table(root / "without" / "journal").num_rows
    return {name: root / name for name in ("with", "without", "2025")}, manifest


def values(query, manifest) -> dict:
    """Values that make each query answer something: an actor and a key that have annotation events too."""
    tampered = manifest["incidents"]["annotation_tampering"]
    given = {"since": "14d", "until": END, "requester": fixtures.ANNOTATION_WRITER,
             "ip": manifest["incidents"]["unencrypted_kms_only"]["ip"], "key": tampered["rewritten"][0]["key"],
             "extension": "csv", "tag": "env", "prefix": "finance/"}
    return {p.name: given[p.name] for p in query.params if p.name in given}


def object_answer(name: str, table, layout: str) -> list[dict]:
    rows = table.to_pylist()
    if name in ACTIVITY:
        rows = [r for r in rows if r["record_type"] not in ANNOTATION_TYPES]
    if name in COUNTS:
        rows = [r for r in rows if r["record_count"] > 0]
    drop = {c for c in table.column_names if c.startswith("annotation")}
    if layout == "2025":
        drop |= {c for c in table.column_names if "object_join_key" in c}
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


QUERIES = [q.name for q in catalog.shipped() if not {"inventory-report", "annotation"} & set(q.tags)]


@pytest.mark.parametrize("name", QUERIES)
def test_every_catalog_query_gives_the_same_object_answer(variants, name):
    folders, manifest = variants
    results = {}
    for layout, folder in folders.items():
        with analytics.connect(data=folder, clock=lambda: END) as session:
            query = session.query(name)
            results[layout] = session.run(name, values(query, manifest)).arrow()
    assert object_answer(name, results["with"], "2026") == object_answer(name, results["without"], "2026")
    # A 2025 export has no object_join_key: the rest of the answer is the same.
    assert object_answer(name, results["2025"], "2025") == object_answer(name, results["without"], "2025")


def test_activity_queries_show_the_annotation_events_too(variants):
    folders, manifest = variants
    tampered = manifest["incidents"]["annotation_tampering"]
    with analytics.connect(data=folders["with"], clock=lambda: END) as session:
        by_ip = session.run("ip_activity", ip=tampered["ip"], since="14d").rows()
        assert len(by_ip) == tampered["count"] and {r["record_type"] for r in by_ip} <= set(ANNOTATION_TYPES)
        assert {r["annotation_name"] for r in by_ip} <= {"pii-classification", "retention", "legal-hold"}
        by_actor = session.run("requester_activity", requester=tampered["actor"], since="14d").rows()
        assert [r["sequence_number"] for r in by_actor] == [r["sequence_number"] for r in by_ip]
        summary = [r for r in session.run("actor_summary", since="14d").rows() if r["requester"] == tampered["actor"]]
        assert summary == [dict(summary[0], record_count=0, annotation_changes=12,
                                annotation_deletes=len(tampered["deleted"]))]
        ips = {r["source_ip_address"]: r for r in session.run("source_ip_activity", since="14d").rows()}
        assert ips[tampered["ip"]]["record_count"] == 0 and ips[tampered["ip"]]["annotation_events"] == 12
        for item in tampered["rewritten"]:
            history = session.run("key_version_history", key=item["key"]).rows()
            assert {r["record_type"] for r in history} >= {"CREATE_ANNOTATION"}
            assert all((r["annotation_name"] is not None) == (r["record_type"] in ANNOTATION_TYPES) for r in history)
            assert item["name"] in {r["annotation_name"] for r in history}
        # a key with object records and annotation records: both are in its history, in sequence order
        mixed = session.sql("SELECT key FROM journal GROUP BY key HAVING count(DISTINCT record_type IN "
                            "('CREATE', 'UPDATE_METADATA', 'DELETE')) = 2 ORDER BY key LIMIT 1").rows()[0]["key"]
        history = session.run("key_version_history", key=mixed).rows()
        assert len({r["record_type"] in ANNOTATION_TYPES for r in history}) == 2
        assert [r["sequence_number"] for r in history] == sorted(r["sequence_number"] for r in history)


def test_the_report_gives_the_same_object_findings(variants):
    folders, manifest = variants
    since = datetime.fromisoformat(manifest["incidents"]["mass_delete"]["since"]).replace(minute=0, second=0)
    reports = {}
    for layout, folder in folders.items():
        with analytics.connect(data=folder, clock=lambda: END) as session:
            r = report.run(session, since=since - timedelta(hours=12), until=since + timedelta(hours=12))
        findings = [f for f in r.to_dict()["findings"] if not f["detector"].startswith("annotation")]
        # The charts mark every finding's hour; the annotation detector's marks are not object answers.
        titles = {f["title"] for f in findings}
        charts = dict(r.charts, marks=[m for m in r.charts["marks"] if m["title"] in titles])
        reports[layout] = (findings, charts, {k: r.stats[k] for k in ("window_events", "baseline_events")})
    assert reports["with"][0], "the window holds the planted mass delete"
    assert reports["with"] == reports["without"] == reports["2025"]


def test_the_restore_plan_is_the_same(variants):
    folders, manifest = variants
    incident = manifest["incidents"]["mass_delete"]
    window = {"since": incident["since"], "until": datetime.fromisoformat(incident["until"]) + timedelta(seconds=1)}
    plans = {}
    for layout, folder in folders.items():
        with analytics.connect(data=folder, clock=lambda: END) as session:
            plans[layout] = restore.plan(session, requester=incident["actor"], **window).to_dict()
            plans[layout].pop("created_at")
    assert plans["with"] == plans["without"] == plans["2025"]
    assert plans["with"]["summary"]["keys_to_restore"] == incident["count"]


def test_the_restore_plan_ignores_annotation_records():
    """restore.build orders versions by the records that made them: an annotation record makes none."""
    t = datetime(2025, 11, 20)
    base = dict(source="journal", bucket="b", key="k", is_delete_marker=False, requester="111122223333",
                source_ip_address="192.0.2.1", size=5, last_modified_date=t, storage_class="STANDARD",
                selected=False)
    records = [
        dict(base, sequence_number="01", record_type="CREATE", version_id="v1", record_timestamp=t),
        dict(base, sequence_number="02", record_type="DELETE", version_id="dm", is_delete_marker=True, size=0,
             record_timestamp=t + timedelta(hours=1), selected=True),
        # Annotation rows after the marker, shaped as AWS might write them: on the hidden version, and
        # sparse (no object columns) on a version id nothing else knows.
        dict(base, sequence_number="03", record_type="CREATE_ANNOTATION", version_id="v1",
             record_timestamp=t + timedelta(hours=2)),
        dict(base, sequence_number="04", record_type="DELETE_ANNOTATION", version_id="v9", is_delete_marker=None,
             size=None, last_modified_date=None, storage_class=None, record_timestamp=t + timedelta(hours=3)),
    ]
    plan = restore.build(records, {"requester": "111122223333"})
    assert [(r["delete_marker_version_id"], r["hidden_version_id"]) for r in plan.restores] == [("dm", "v1")]
    assert not plan.unresolved and not plan.skipped


def test_annotation_rows_in_a_folder_of_their_own_still_count(tmp_path, variants):
    """Copying a data folder keeps working with annotation/ beside journal/ and inventory/."""
    folders, _ = variants
    shutil.copytree(folders["with"], tmp_path / "copy")
    with analytics.connect(data=tmp_path / "copy") as session:
        assert set(session.engine.tables) == {"journal", "inventory", "annotation"}


def test_hidden_versions_does_not_order_versions_by_the_inventory_sequence_number(tmp_path):
    """If AWS advances a version's inventory sequence_number for an annotation change (undocumented),
    an annotation written on the hidden version after the marker must not hide it from the plan."""
    from conftest import write_tables

    t = datetime(2025, 11, 20, 9)
    obj = dict(bucket="b", key="finance/q.csv", is_delete_marker=False, size=7, e_tag="e", storage_class="STANDARD",
               requester="111122223333", source_ip_address="192.0.2.1")
    journal = [
        dict(obj, sequence_number="0001", record_type="CREATE", record_timestamp=t, version_id="v1",
             last_modified_date=t, object_join_key="j1"),
        dict(bucket="b", key="finance/q.csv", sequence_number="0002", record_type="DELETE", is_delete_marker=True,
             size=0, record_timestamp=t + timedelta(hours=1), last_modified_date=t + timedelta(hours=1),
             version_id="dm", requester="999988887777", source_ip_address="203.0.113.66", object_join_key="j2"),
        dict(obj, sequence_number="0003", record_type="CREATE_ANNOTATION", record_timestamp=t + timedelta(hours=2),
             version_id="v1", last_modified_date=t, object_join_key="j1",
             annotation=dict(name="retention", sequence_number="A1")),
    ]
    inventory = [dict(obj, sequence_number="0003", version_id="v1", last_modified_date=t, object_join_key="j1"),
                 dict(bucket="b", key="finance/q.csv", sequence_number="0002", version_id="dm",
                      is_delete_marker=True, size=0, last_modified_date=t + timedelta(hours=1), object_join_key="j2")]
    write_tables(tmp_path, journal, inventory)
    with analytics.connect(data=tmp_path) as session:
        window = {"since": "2025-11-20", "until": "2025-11-21"}
        rows = session.run("hidden_versions", **window).rows()
        assert [(r["delete_marker_version_id"], r["hidden_version_id"], r["hidden_size"]) for r in rows] == [
            ("dm", "v1", 7)]
        plan = restore.plan(session, requester="999988887777", **window)
        assert [(r["delete_marker_version_id"], r["hidden_version_id"]) for r in plan.restores] == [("dm", "v1")]
