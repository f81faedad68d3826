"""The S3 Metadata schemas as AWS ships them in 2026, and data in both layouts read by the DuckDB engine.

2025 exports have a 21-column journal and a 16-column inventory and no annotation table; 2026 ones
add object_join_key (journal and inventory) and the annotation struct (journal), and the 12-column
annotation table (shared/reference/s3-annotations.md).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import analytics
from analytics import schema
from analytics.errors import DataError, SQLRefused
from conftest import HAND_INVENTORY, HAND_JOURNAL, write_tables

T = datetime
OLD_JOURNAL = [n for n in schema.JOURNAL.names if n not in ("object_join_key", "annotation")]
OLD_INVENTORY = [n for n in schema.INVENTORY.names if n != "object_join_key"]

ANN = dict(name="pii-classification", sequence_number="A0001", last_modified_date=T(2026, 6, 20, 9), size=12,
           e_tag="e0", replication_status="PENDING", checksum_algorithm="XXHASH3")
NEW_ROWS = [
    dict(bucket="vers-bucket", key="docs/a.txt", sequence_number="0005", record_type="CREATE_ANNOTATION",
         record_timestamp=T(2026, 6, 20, 9), version_id="v1", requester="111122223333",
         source_ip_address="192.0.2.10", request_id="REQA", object_join_key="jk-v1", annotation=ANN),
    dict(bucket="vers-bucket", key="docs/a.txt", sequence_number="0006", record_type="DELETE_ANNOTATION",
         record_timestamp=T(2026, 6, 21, 9), version_id="v1", requester="210987654321",
         source_ip_address="198.18.44.7", request_id="REQB", object_join_key="jk-v1",
         annotation=dict(name="pii-classification", sequence_number="A0001")),
]
ANNOTATION_ROWS = [
    dict(bucket="vers-bucket", object_key="logs/b.log", object_version_id="v2", object_join_key="jk-v2",
         name="retention", sequence_number="A0009", last_modified_date=T(2026, 6, 19), size=2, e_tag="e9",
         checksum_algorithm=None, replication_status="FAILED", text_value="7y"),
]


def test_the_2026_schemas():
    assert len(schema.JOURNAL) == 23 and schema.JOURNAL.names[21:] == ["object_join_key", "annotation"]
    assert schema.JOURNAL.names[:21] == OLD_JOURNAL and len(OLD_JOURNAL) == 21
    struct = schema.JOURNAL.field("annotation").type
    assert [f.name for f in struct] == ["name", "sequence_number", "last_modified_date", "size", "e_tag",
                                        "replication_status", "checksum_algorithm"]
    assert [str(f.type) for f in struct] == ["string", "string", "timestamp[us]", "int64", "string", "string", "string"]
    assert len(schema.INVENTORY) == 17 and schema.INVENTORY.names[3] == "object_join_key" and len(OLD_INVENTORY) == 16
    assert schema.ANNOTATION.names == ["bucket", "object_key", "object_version_id", "object_join_key", "name",
                                       "sequence_number", "last_modified_date", "size", "e_tag",
                                       "checksum_algorithm", "replication_status", "text_value"]
    assert [f.name for f in schema.ANNOTATION if not f.nullable] == [
        "bucket", "object_key", "object_join_key", "name", "sequence_number"]
    assert schema.RECORD_TYPES == ("CREATE", "UPDATE_METADATA", "DELETE", "CREATE_ANNOTATION",
                                   "DELETE_ANNOTATION", "UPDATE_ANNOTATION_METADATA")
    assert {"MD5", "XXHASH64", "XXHASH3", "XXHASH128", "SHA512"} < set(schema.CHECKSUM_ALGORITHMS)
    assert set(schema.TABLES) == {"journal", "inventory", "annotation"}
    assert schema.missing_columns("journal", OLD_JOURNAL) == []
    assert schema.missing_columns("inventory", OLD_INVENTORY[1:]) == ["bucket"]


def write_2025(root, journal=HAND_JOURNAL, inventory=HAND_INVENTORY):
    """A 2025 export: the 21- and 16-column tables, no annotation table."""
    write_tables(root, journal, inventory)
    for table, keep in (("journal", OLD_JOURNAL), ("inventory", OLD_INVENTORY)):
        path = root / table / "part-00000.parquet"
        pq.write_table(pq.read_table(path).select(keep), path)
    return root


def test_a_2025_export_reads_with_the_new_columns_as_null(tmp_path, hand):
    write_2025(tmp_path)
    with analytics.connect(data=tmp_path) as old:
        assert old.sql("SELECT count(*) AS n, count(object_join_key) AS k, count(annotation) AS a, "
                       "count(annotation.name) AS names FROM journal").rows() == [
            {"n": len(HAND_JOURNAL), "k": 0, "a": 0, "names": 0}]
        described = {r["column_name"]: r["column_type"] for r in old.sql("DESCRIBE journal").rows()}
        assert list(described) == schema.JOURNAL.names
        assert described["annotation"].startswith('STRUCT("name" VARCHAR, sequence_number VARCHAR')
        assert [r["column_name"] for r in old.sql("DESCRIBE inventory").rows()] == schema.INVENTORY.names
        window = {"since": "2025-11-20", "until": "2025-11-21"}
        for name in ("recent_deletes", "current_state", "prefix_delete_volume", "actor_summary"):
            assert old.run(name, **window).rows() == hand.run(name, **window).rows(), name
        with pytest.raises(DataError, match="no annotation data: nothing at .*annotation"):
            old.sql("SELECT count(*) FROM annotation")


@pytest.mark.parametrize("first", ["2025", "2026"])
def test_a_folder_of_2025_and_2026_files_reads_every_column_of_both(tmp_path, first):
    """DuckDB binds the first file's columns and silently drops those only later files have."""
    write_2025(tmp_path / "old")
    write_tables(tmp_path / "new", NEW_ROWS, HAND_INVENTORY[:1])
    names = {"2025": "part-a.parquet", "2026": "part-b.parquet"} if first == "2025" else \
        {"2025": "part-b.parquet", "2026": "part-a.parquet"}
    for table in ("journal", "inventory"):
        (tmp_path / "data" / table).mkdir(parents=True)
        (tmp_path / "old" / table / "part-00000.parquet").rename(tmp_path / "data" / table / names["2025"])
        (tmp_path / "new" / table / "part-00000.parquet").rename(tmp_path / "data" / table / names["2026"])
    with analytics.connect(data=tmp_path / "data") as session:
        rows = session.sql("SELECT record_type, object_join_key, annotation.name AS name FROM journal "
                           "WHERE annotation IS NOT NULL ORDER BY sequence_number").rows()
        assert rows == [{"record_type": "CREATE_ANNOTATION", "object_join_key": "jk-v1", "name": "pii-classification"},
                        {"record_type": "DELETE_ANNOTATION", "object_join_key": "jk-v1", "name": "pii-classification"}]
        assert session.sql("SELECT count(*) AS n FROM journal").rows() == [{"n": len(HAND_JOURNAL) + 2}]
        assert session.sql("SELECT count(*) AS n FROM inventory").rows() == [{"n": len(HAND_INVENTORY) + 1}]
        assert [r["column_name"] for r in session.sql("DESCRIBE journal").rows()] == schema.JOURNAL.names


def test_the_annotation_table_is_a_view_over_nested_files(tmp_path):
    write_tables(tmp_path, NEW_ROWS, HAND_INVENTORY, ANNOTATION_ROWS)
    nested = tmp_path / "annotation" / "dt=2026-06-20"
    nested.mkdir()
    (tmp_path / "annotation" / "part-00000.parquet").rename(nested / "x.parquet")
    with analytics.connect(data=tmp_path) as session:
        assert session.sql("SELECT object_key, name, text_value FROM annotation").rows() == [
            {"object_key": "logs/b.log", "name": "retention", "text_value": "7y"}]
        assert session.engine.tables["annotation"] == [str(nested / "x.parquet")]


def test_annotation_alone_is_data(tmp_path):
    write_tables(tmp_path, [], [], ANNOTATION_ROWS)
    for table in ("journal", "inventory"):
        for f in (tmp_path / table).glob("*.parquet"):
            f.unlink()
    with analytics.connect(data=tmp_path) as session:
        assert set(session.engine.tables) == {"annotation"}


@pytest.mark.parametrize("drop,message", [
    (("annotation", "text_value"), "annotation data under .* missing column text_value"),
    (("annotation", "object_key"), "missing column object_key"),
    (("journal", "requester"), "journal data under .* missing column requester"),
])
def test_missing_columns_are_named(tmp_path, drop, message):
    write_tables(tmp_path, NEW_ROWS, HAND_INVENTORY, ANNOTATION_ROWS)
    table, column = drop
    path = tmp_path / table / "part-00000.parquet"
    pq.write_table(pq.read_table(path).drop_columns([column]), path)
    with pytest.raises(DataError, match=message):
        analytics.connect(data=tmp_path)


def _with_struct(tmp_path, struct: pa.DataType, values):
    write_tables(tmp_path, NEW_ROWS, HAND_INVENTORY)
    path = tmp_path / "journal" / "part-00000.parquet"
    table = pq.read_table(path)
    i = table.schema.get_field_index("annotation")
    pq.write_table(table.set_column(i, "annotation", pa.array(values, struct)), path)


def test_a_struct_without_a_documented_field_is_named(tmp_path):
    struct = pa.struct([f for f in schema.ANNOTATION_STRUCT if f.name != "e_tag"])
    _with_struct(tmp_path, struct, [None, None])
    with pytest.raises(DataError, match="column annotation has no field e_tag"):
        analytics.connect(data=tmp_path)


def test_a_struct_field_of_the_wrong_type_is_named(tmp_path):
    struct = pa.struct([f.with_type(pa.string()) if f.name == "size" else f for f in schema.ANNOTATION_STRUCT])
    _with_struct(tmp_path, struct, [None, None])
    with pytest.raises(DataError, match="column annotation field size has type VARCHAR, expected BIGINT"):
        analytics.connect(data=tmp_path)


def test_a_struct_from_another_writer_reads_the_same(tmp_path):
    """Fields in another order, an extra field, and a zone-aware timestamp (AWS's page says "Timestamp")."""
    fields = [pa.field("checksum_algorithm", pa.string()), pa.field("name", pa.string()),
              pa.field("last_modified_date", pa.timestamp("ns", tz="UTC")), pa.field("size", pa.int64()),
              pa.field("e_tag", pa.string()), pa.field("replication_status", pa.string()),
              pa.field("sequence_number", pa.string()), pa.field("future_field", pa.int32())]
    value = dict(ANN, last_modified_date=T(2026, 6, 20, 9, tzinfo=timezone.utc), future_field=1)
    _with_struct(tmp_path, pa.struct(fields), [value, None])
    with analytics.connect(data=tmp_path) as session:
        rows = session.sql("SELECT annotation.name AS name, annotation.last_modified_date AS at, "
                           "annotation.size AS size FROM journal ORDER BY sequence_number").rows()
    assert rows == [{"name": "pii-classification", "at": T(2026, 6, 20, 9), "size": 12},
                    {"name": None, "at": None, "size": None}]


REFUSED = ["DROP VIEW annotation", "INSERT INTO annotation SELECT * FROM annotation", "DELETE FROM annotation",
           "CREATE OR REPLACE VIEW annotation AS SELECT 1", "COPY annotation TO 'x.csv'",
           "UPDATE annotation SET text_value = 'x'", "ALTER VIEW annotation RENAME TO a2",
           "SELECT text_value FROM annotation; DROP VIEW annotation"]


@pytest.mark.parametrize("statement", REFUSED)
def test_ad_hoc_sql_on_the_annotation_table_is_read_only(tmp_path, statement):
    write_tables(tmp_path, NEW_ROWS, HAND_INVENTORY, ANNOTATION_ROWS)
    with analytics.connect(data=tmp_path) as session:
        with pytest.raises(SQLRefused, match="^refused"):
            session.sql(statement)
        assert session.sql("SELECT a.name, j.annotation.name AS event FROM annotation AS a, journal AS j "
                           "WHERE j.annotation IS NOT NULL ORDER BY j.sequence_number").rows() == [
            {"name": "retention", "event": "pii-classification"}, {"name": "retention", "event": "pii-classification"}]
