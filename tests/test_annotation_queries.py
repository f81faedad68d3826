"""The annotation queries, with rows worked out by hand, on DuckDB and as the statement Athena receives.

ANN_* below is a small 2026 data set: a versioned bucket `vbk` (replicated) and an unversioned
one `pbk`, annotations written, overwritten, deleted by an unexpected account, failing to replicate, a
hostile key whose object was overwritten while the annotation table still shows the old instance's
annotation, a 2025 inventory row without object_join_key, JSON and plain payloads.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest
import sqlglot

import analytics
from analytics import catalog
from analytics.engines.athena import namespace_for
from analytics.engines.duckdb import ATHENA_FUNCTIONS
from conftest import write_tables

T = datetime
A = "111122223333"  # the compliance team
P = "444455556666"  # a labelling pipeline
X = "210987654321"  # the unexpected account
S3 = "s3.amazonaws.com"
ODD = 'q"uote,comma\nnew.csv'
SCRIPT = "<script>alert(1)</script>.txt"
WINDOW = {"since": "2025-11-20T00:00:00", "until": "2025-11-21T00:00:00"}
NAMES = ("annotation_changes", "objects_missing_annotation", "annotation_search", "annotation_replication_failures")


def obj(**row):
    return dict(is_delete_marker=False, e_tag="0123456789abcdef0123456789abcdef", storage_class="STANDARD",
                encryption_status="SSE-S3", request_id="REQ0") | row


def ann(record_type, at, name, seq, requester, ip, **fields):
    """An annotation record as AWS might write it: object identity, the request, the struct."""
    return dict(record_type=record_type, record_timestamp=at, requester=requester, source_ip_address=ip,
                request_id="REQA", annotation=dict(name=name, sequence_number=seq) | fields)


ANN_JOURNAL = [
    # vb/docs/a.pdf: v1, then v2 (current); v2's classification written, overwritten (its replication
    # fails), its pii-classification written then deleted by an unexpected account from a new IP.
    obj(bucket="vbk", key="docs/a.pdf", sequence_number="0001", record_type="CREATE", version_id="v1",
        record_timestamp=T(2025, 11, 20, 9), size=10, object_join_key="J-a1", requester=A,
        source_ip_address="10.0.0.1"),
    obj(bucket="vbk", key="docs/a.pdf", sequence_number="0002", record_type="CREATE", version_id="v2",
        record_timestamp=T(2025, 11, 20, 10), size=20, object_join_key="J-a2", requester=A,
        source_ip_address="10.0.0.1"),
    dict(bucket="vbk", key="docs/a.pdf", sequence_number="0003", version_id="v2", object_join_key="J-a2",
         **ann("CREATE_ANNOTATION", T(2025, 11, 20, 10, 5), "classification", "S1", A, "10.0.0.1",
               last_modified_date=T(2025, 11, 20, 10, 5), size=12, e_tag="E-conf", replication_status="PENDING")),
    dict(bucket="vbk", key="docs/a.pdf", sequence_number="0004", version_id="v2", object_join_key="J-a2",
         **ann("CREATE_ANNOTATION", T(2025, 11, 20, 10, 6), "pii-classification", "S2", A, "10.0.0.1",
               last_modified_date=T(2025, 11, 20, 10, 6), size=36, e_tag="E-pii", replication_status="PENDING")),
    dict(bucket="vbk", key="docs/a.pdf", sequence_number="0005", version_id="v2", object_join_key="J-a2",
         **ann("UPDATE_ANNOTATION_METADATA", T(2025, 11, 20, 10, 7), "classification", "S1", S3, None,
               last_modified_date=T(2025, 11, 20, 10, 5), size=12, e_tag="E-conf", replication_status="COMPLETED")),
    dict(bucket="vbk", key="docs/a.pdf", sequence_number="0006", version_id="v2", object_join_key="J-a2",
         **ann("CREATE_ANNOTATION", T(2025, 11, 20, 11), "classification", "S3", A, "10.0.0.2",
               last_modified_date=T(2025, 11, 20, 11), size=8, e_tag="E-int", replication_status="PENDING")),
    dict(bucket="vbk", key="docs/a.pdf", sequence_number="0007", version_id="v2", object_join_key="J-a2",
         **ann("UPDATE_ANNOTATION_METADATA", T(2025, 11, 20, 11, 1), "classification", "S3", S3, None,
               last_modified_date=T(2025, 11, 20, 11), size=8, e_tag="E-int", replication_status="FAILED")),
    dict(bucket="vbk", key="docs/a.pdf", sequence_number="0008", version_id="v2", object_join_key="J-a2",
         **ann("DELETE_ANNOTATION", T(2025, 11, 20, 12), "pii-classification", "S2", X, "198.18.44.7")),
    # vb/docs/b.csv: no classification, a pii-classification saying false
    obj(bucket="vbk", key="docs/b.csv", sequence_number="0001", record_type="CREATE", version_id="v3",
        record_timestamp=T(2025, 11, 20, 9, 30), size=30, object_join_key="J-b", requester=A,
        source_ip_address="10.0.0.1"),
    dict(bucket="vbk", key="docs/b.csv", sequence_number="0002", version_id="v3", object_join_key="J-b",
         **ann("CREATE_ANNOTATION", T(2025, 11, 20, 9, 40), "pii-classification", "S4", A, "10.0.0.1",
               last_modified_date=T(2025, 11, 20, 9, 40), size=37, e_tag="E-pii-b", replication_status="PENDING")),
    # vb/docs/c.txt: annotated, then hidden by a delete marker (the current version is the marker)
    obj(bucket="vbk", key="docs/c.txt", sequence_number="0001", record_type="CREATE", version_id="v4",
        record_timestamp=T(2025, 11, 20, 9), size=40, object_join_key="J-c", requester=A, source_ip_address="10.0.0.1"),
    dict(bucket="vbk", key="docs/c.txt", sequence_number="0002", record_type="DELETE", version_id="dm4",
         is_delete_marker=True, size=0, last_modified_date=T(2025, 11, 20, 13), record_timestamp=T(2025, 11, 20, 13),
         object_join_key="J-dm4", requester=A, source_ip_address="10.0.0.1"),
    # pb (unversioned): the odd key's object was overwritten; the table still shows the old instance's label
    obj(bucket="pbk", key=ODD, sequence_number="0002", record_type="CREATE", version_id=None,
        record_timestamp=T(2025, 11, 20, 13), size=50, object_join_key="J-p2", requester=P,
        source_ip_address="10.0.0.9"),
    dict(bucket="pbk", key=SCRIPT, sequence_number="0002", version_id=None, object_join_key="J-s",
         **ann("CREATE_ANNOTATION", T(2025, 11, 20, 14), "ml-labels", "S5", P, "10.0.0.9",
               last_modified_date=T(2025, 11, 20, 14), size=62, e_tag="E-ml", replication_status=None)),
]

ANN_INVENTORY = [
    obj(bucket="vbk", key="docs/a.pdf", sequence_number="0001", version_id="v1", object_join_key="J-a1", size=10,
        last_modified_date=T(2025, 11, 20, 9)),
    obj(bucket="vbk", key="docs/a.pdf", sequence_number="0002", version_id="v2", object_join_key="J-a2", size=20,
        last_modified_date=T(2025, 11, 20, 10)),
    obj(bucket="vbk", key="docs/b.csv", sequence_number="0001", version_id="v3", object_join_key="J-b", size=30,
        last_modified_date=T(2025, 11, 20, 9, 30)),
    obj(bucket="vbk", key="docs/c.txt", sequence_number="0001", version_id="v4", object_join_key="J-c", size=40,
        last_modified_date=T(2025, 11, 20, 9)),
    dict(bucket="vbk", key="docs/c.txt", sequence_number="0002", version_id="dm4", object_join_key="J-dm4",
         is_delete_marker=True, size=0, last_modified_date=T(2025, 11, 20, 13)),
    obj(bucket="pbk", key=ODD, sequence_number="0002", version_id=None, object_join_key="J-p2", size=50,
        last_modified_date=T(2025, 11, 20, 13)),
    obj(bucket="pbk", key=SCRIPT, sequence_number="0001", version_id=None, object_join_key="J-s", size=5,
        last_modified_date=T(2025, 10, 1)),
    # exported before June 2026: no object_join_key
    obj(bucket="pbk", key="old.log", sequence_number="0001", version_id=None, object_join_key=None, size=60,
        last_modified_date=T(2025, 1, 1)),
]

ML = json.dumps({"labels": ["cat", "<script>alert(1)</script>"], "model": "vision-v3", "confidence": 0.93})
ANN_TABLE = [
    dict(bucket="vbk", object_key="docs/a.pdf", object_version_id="v2", object_join_key="J-a2", name="classification",
         sequence_number="S3", last_modified_date=T(2025, 11, 20, 11), size=8, e_tag="E-int", checksum_algorithm=None,
         replication_status="FAILED", text_value="internal"),
    # backfilled (written before the journal began); its replication failed too
    dict(bucket="vbk", object_key="docs/a.pdf", object_version_id="v1", object_join_key="J-a1", name="classification",
         sequence_number="S0", last_modified_date=T(2025, 6, 1), size=6, e_tag="E-pub", checksum_algorithm="SHA256",
         replication_status="FAILED", text_value="public"),
    dict(bucket="vbk", object_key="docs/b.csv", object_version_id="v3", object_join_key="J-b",
         name="pii-classification", sequence_number="S4", last_modified_date=T(2025, 11, 20, 9, 40), size=37,
         e_tag="E-pii-b", checksum_algorithm=None, replication_status="COMPLETED",
         text_value='{"pii": false, "categories": []}'),
    dict(bucket="vbk", object_key="docs/c.txt", object_version_id="v4", object_join_key="J-c", name="classification",
         sequence_number="S6", last_modified_date=T(2025, 11, 1), size=12, e_tag="E-c", checksum_algorithm=None,
         replication_status="COMPLETED", text_value="confidential"),
    # the overwritten instance's annotation, still in the (lagging) table
    dict(bucket="pbk", object_key=ODD, object_version_id=None, object_join_key="J-p1", name="classification",
         sequence_number="S7", last_modified_date=T(2025, 11, 19), size=26, e_tag="E-odd", checksum_algorithm=None,
         replication_status=None, text_value='confidential\n"quoted", <b>'),
    dict(bucket="pbk", object_key=SCRIPT, object_version_id=None, object_join_key="J-s", name="ml-labels",
         sequence_number="S5", last_modified_date=T(2025, 11, 20, 14), size=len(ML), e_tag="E-ml",
         checksum_algorithm="XXHASH3", replication_status=None, text_value=ML),
    dict(bucket="pbk", object_key="old.log", object_version_id=None, object_join_key="J-o", name="classification",
         sequence_number="S8", last_modified_date=T(2025, 2, 1), size=8, e_tag="E-o", checksum_algorithm=None,
         replication_status=None, text_value="internal"),
]


@pytest.fixture(scope="module")
def ann_data(tmp_path_factory):
    return write_tables(tmp_path_factory.mktemp("ann"), ANN_JOURNAL, ANN_INVENTORY, ANN_TABLE)


@pytest.fixture(scope="module")
def session(ann_data):
    with analytics.connect(data=ann_data, clock=lambda: T(2025, 11, 21)) as s:
        yield s


def keys(result, *columns):
    return [tuple(r[c] for c in columns) for r in result.rows()]


# --- expected rows, worked out by hand (the same cases run below as Athena's statement) ---------------

CASES = [
    ("annotation_changes", WINDOW, ("record_type", "key", "annotation_name", "annotation_e_tag", "requester",
                                    "source_ip_address", "replication_status"), [
        ("CREATE_ANNOTATION", SCRIPT, "ml-labels", "E-ml", P, "10.0.0.9", None),
        ("DELETE_ANNOTATION", "docs/a.pdf", "pii-classification", None, X, "198.18.44.7", None),
        ("UPDATE_ANNOTATION_METADATA", "docs/a.pdf", "classification", "E-int", S3, None, "FAILED"),
        ("CREATE_ANNOTATION", "docs/a.pdf", "classification", "E-int", A, "10.0.0.2", "PENDING"),
        ("UPDATE_ANNOTATION_METADATA", "docs/a.pdf", "classification", "E-conf", S3, None, "COMPLETED"),
        ("CREATE_ANNOTATION", "docs/a.pdf", "pii-classification", "E-pii", A, "10.0.0.1", "PENDING"),
        ("CREATE_ANNOTATION", "docs/a.pdf", "classification", "E-conf", A, "10.0.0.1", "PENDING"),
        ("CREATE_ANNOTATION", "docs/b.csv", "pii-classification", "E-pii-b", A, "10.0.0.1", "PENDING")]),
    ("annotation_changes", dict(WINDOW, annotation_name="pii-classification", requester=X),
     ("record_type", "key", "version_id", "object_join_key", "sequence_number"), [
        ("DELETE_ANNOTATION", "docs/a.pdf", "v2", "J-a2", "0008")]),
    ("annotation_changes", dict(WINDOW, bucket="pbk", prefix="<script>"), ("key", "annotation_size"), [(SCRIPT, 62)]),
    ("annotation_changes", dict(WINDOW, since="2025-11-20T12:00:01"), ("key",), [(SCRIPT,)]),
    # the odd key's current instance (J-p2) has no classification: the table's row is the old instance's;
    # old.log (no join key in a 2025 inventory row) is matched on the version; c.txt's current version is
    # a marker; a.pdf's current version v2 has one
    ("objects_missing_annotation", {"annotation_name": "classification"},
     ("bucket", "key", "version_id", "is_current", "size", "object_join_key"), [
        ("pbk", SCRIPT, None, True, 5, "J-s"), ("pbk", ODD, None, True, 50, "J-p2"),
        ("vbk", "docs/b.csv", "v3", True, 30, "J-b")]),
    ("objects_missing_annotation", {"annotation_name": "classification", "all_versions": 1, "bucket": "vbk"},
     ("key", "version_id", "is_current"), [("docs/b.csv", "v3", True)]),
    ("objects_missing_annotation", {"annotation_name": "pii-classification", "all_versions": 1, "prefix": "docs/"},
     ("key", "version_id", "is_current"), [
        ("docs/a.pdf", "v2", True), ("docs/a.pdf", "v1", False), ("docs/c.txt", "v4", False)]),
    ("annotation_search", {"contains": "confidential"}, ("bucket", "object_key", "name"), [
        ("pbk", ODD, "classification"), ("vbk", "docs/c.txt", "classification")]),
    ("annotation_search", {"contains": '"quoted", <b>'}, ("object_key", "text_value"), [
        (ODD, 'confidential\n"quoted", <b>')]),
    ("annotation_search", {"path": "$.pii", "value": "false"}, ("object_key", "name"), [
        ("docs/b.csv", "pii-classification")]),
    ("annotation_search", {"path": "$.labels[1]", "value": "<script>alert(1)</script>"}, ("object_key",), [(SCRIPT,)]),
    ("annotation_search", {"path": "$.confidence", "value": "0.93", "annotation_name": "ml-labels"}, ("object_key",),
     [(SCRIPT,)]),
    # present at the path, any value; an array at the path never matches; plain text never matches a path
    ("annotation_search", {"path": "$.pii"}, ("object_key",), [("docs/b.csv",)]),
    ("annotation_search", {"path": "$.labels"}, ("object_key",), []),
    ("annotation_search", {"path": "$.pii", "value": "true"}, ("object_key",), []),
    ("annotation_search", {"bucket": "vbk", "annotation_name": "classification"}, ("object_key", "object_version_id"),
     [("docs/a.pdf", "v1"), ("docs/a.pdf", "v2"), ("docs/c.txt", "v4")]),
    # the failed revision's writer: the second write (same ETag), not the first; the backfilled one has none
    ("annotation_replication_failures", WINDOW, ("object_key", "object_version_id", "name", "e_tag", "written_at",
                                                 "writer", "writer_ip"), [
        ("docs/a.pdf", "v2", "classification", "E-int", T(2025, 11, 20, 11), A, "10.0.0.2"),
        ("docs/a.pdf", "v1", "classification", "E-pub", None, None, None)]),
    ("annotation_replication_failures", dict(WINDOW, since="2025-11-20T11:00:01"), ("object_version_id", "writer"),
     [("v2", None), ("v1", None)]),
    ("annotation_replication_failures", dict(WINDOW, annotation_name="ml-labels"), ("object_key",), []),
    # the detector's evidence: baseline actors and their protected changes, the window's protected
    # changes (the record before each is looked for in the window only), and hourly deletes
    ("detect_annotation_tampering", {"baseline_since": "2025-11-19", "since": "2025-11-20T10:30:00",
                                     "until": "2025-11-21"},
     ("grain", "key", "record_type", "requester", "source_ip_address", "annotation_name", "previous_type", "events",
      "protected_changes"), [
        ("actor", "", None, A, "10.0.0.1", None, None, 3, 3), ("actor", "", None, S3, None, None, None, 1, 0),
        ("change", "docs/a.pdf", "CREATE_ANNOTATION", A, "10.0.0.2", "classification", None, 1, None),
        ("change", "docs/a.pdf", "DELETE_ANNOTATION", X, "198.18.44.7", "pii-classification", None, 1, None),
        ("deletes", "", "DELETE_ANNOTATION", X, None, None, None, 1, None)]),
    # the whole day as the window: an overwrite after a replication update, a delete after a write
    ("detect_annotation_tampering", {"baseline_since": "2025-11-19", **WINDOW},
     ("grain", "key", "record_type", "requester", "annotation_name", "previous_type", "previous_requester"), [
        ("change", "docs/b.csv", "CREATE_ANNOTATION", A, "pii-classification", None, None),
        ("change", "docs/a.pdf", "CREATE_ANNOTATION", A, "classification", None, None),
        ("change", "docs/a.pdf", "CREATE_ANNOTATION", A, "pii-classification", None, None),
        ("change", "docs/a.pdf", "CREATE_ANNOTATION", A, "classification", "UPDATE_ANNOTATION_METADATA", S3),
        ("change", "docs/a.pdf", "DELETE_ANNOTATION", X, "pii-classification", "CREATE_ANNOTATION", A),
        ("deletes", "", "DELETE_ANNOTATION", X, None, None, None)]),
    ("detect_annotation_tampering", {"baseline_since": "2025-11-19", "since": "2025-11-20T10:30:00",
                                     "until": "2025-11-21", "protected": "^(ml-.*)$"},
     ("grain", "key", "annotation_name", "protected_changes"), [
        ("actor", "", None, 0), ("actor", "", None, 0), ("change", SCRIPT, "ml-labels", None),
        ("deletes", "", None, None)]),
]


@pytest.mark.parametrize("name,values,columns,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_hand_checked_rows_on_duckdb(session, name, values, columns, expected):
    assert keys(session.run(name, values), *columns) == expected


def test_the_queries_are_in_the_catalog_with_their_tag():
    loaded = catalog.shipped()
    for name in NAMES:
        query = loaded.get(name)
        assert "annotation" in query.tags and query.title and query.description
        tree = sqlglot.parse_one(catalog.substitute(query.sql, lambda n: "?"), read="athena")
        tables = {t.name for t in tree.find_all(sqlglot.exp.Table)} - {c.alias for c in tree.find_all(sqlglot.exp.CTE)}
        assert tables <= {"journal", "inventory", "annotation"}


@pytest.fixture(scope="module")
def s3_tables(ann_data):
    """S3 Tables mimicked in DuckDB: catalog "s3tablescatalog/aws-s3", a b_<bucket> schema per bucket,
    and the Athena functions DuckDB lacks (the engine's macros)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for macro, body in ATHENA_FUNCTIONS.items():
        con.execute(f"CREATE TEMP MACRO {macro} AS {body}")  # found whatever the USE
    con.execute("ATTACH ':memory:' AS \"s3tablescatalog/aws-s3\"")
    for table in ("journal", "inventory", "annotation"):
        con.read_parquet(str(ann_data / table / "part-00000.parquet")).create_view(table)
        for bucket in ("vbk", "pbk"):
            schema = f'"s3tablescatalog/aws-s3"."{namespace_for(bucket)}"'
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM memory.main.{table} WHERE bucket = ?",
                        [bucket])
    yield con
    con.close()


@pytest.mark.parametrize("name,values,columns,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_statement_athena_receives_gives_the_same_rows(s3_tables, session, name, values, columns, expected):
    """One bucket: the catalog text as-is (Athena resolves the tables from the context). Several buckets:
    the UNION ALL rewrite. Both run here on the per-bucket tables, parameters bound in Athena's order."""
    from analytics.catalog import placeholders

    query, bound = session.bind(name, values)
    order = [bound[n] for n in placeholders(query.sql)]
    with analytics.connect("athena", buckets=["vbk", "pbk"], clock=lambda: T(2025, 11, 21)) as athena:
        rendered = athena.render(name, values)
    assert "UNION ALL" in rendered.sql and rendered.context == {"Catalog": "s3tablescatalog/aws-s3"}
    table = s3_tables.execute(rendered.sql, order).to_arrow_table()
    assert [tuple(r[c] for c in columns) for r in table.to_pylist()] == expected
    for bucket in ("vbk", "pbk"):
        with analytics.connect("athena", buckets=[bucket]) as one:
            single = one.render(name, values)
        assert single.sql == catalog.substitute(query.sql, lambda n: "?")
        s3_tables.execute(f'USE "s3tablescatalog/aws-s3"."{namespace_for(bucket)}"')
        got = s3_tables.execute(single.sql, order).to_arrow_table().to_pylist()
        s3_tables.execute("USE memory.main")
        assert [tuple(r[c] for c in columns) for r in got] == [
            e for e in expected if _bucket_of(e, columns, table, bucket)]


def _bucket_of(row, columns, table, bucket):
    """Whether an expected row (projected on columns) is one of `bucket`'s rows of the full result."""
    for full in table.to_pylist():
        if tuple(full[c] for c in columns) == row:
            return full["bucket"] == bucket
    return False


def test_athena_receives_the_search_with_its_values_as_parameters(aws):
    from test_athena import RESULTS, can, received

    # moto's result file does not double quotes inside values (Athena's does), so this payload has none.
    text = "cat, <script>alert(1)</script>\nline two"
    can(aws, [("bucket", "varchar"), ("object_key", "varchar"), ("object_version_id", "varchar"),
              ("name", "varchar"), ("size", "bigint"), ("last_modified_date", "timestamp"),
              ("text_value", "varchar"), ("object_join_key", "varchar")],
        [["pbk", SCRIPT, None, "ml-labels", str(len(text)), "2025-11-20 14:00:00.000", text, "J-s"]])
    hostile = "x' OR '1'='1"
    with analytics.connect("athena", buckets=["pbk"], output_location=RESULTS) as athena:
        result = athena.run("annotation_search", path="$.labels[1]", value=hostile, annotation_name="ml-labels")
    sent = received(result.stats["query_execution_id"])
    assert "json_extract_scalar(text_value, ?)" in sent["Query"] and hostile not in sent["Query"]
    assert sent["QueryExecutionContext"] == {"Catalog": "s3tablescatalog/aws-s3", "Database": "b_pbk"}
    assert sent["ExecutionParameters"][:2] == ["'ml-labels'", "'ml-labels'"]
    assert "'x'' OR ''1''=''1'" in sent["ExecutionParameters"] and "'$.labels[1]'" in sent["ExecutionParameters"]
    assert result.rows() == [{"bucket": "pbk", "object_key": SCRIPT, "object_version_id": None, "name": "ml-labels",
                              "size": len(text), "last_modified_date": T(2025, 11, 20, 14), "text_value": text,
                              "object_join_key": "J-s"}]


def test_a_bad_json_path_is_a_clear_error(session):
    from analytics.errors import SQLRefused
    with pytest.raises(SQLRefused, match="JSON path"):
        session.run("annotation_search", path="$.[bad")
