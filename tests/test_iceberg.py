"""S3 Tables read directly: the DuckDB engine over Iceberg tables written by pyiceberg, locally and on moto S3."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import analytics
from analytics import catalog, fixtures
from analytics.errors import BadInput, DataError, SQLRefused

MISSING = [m for m in ("duckdb_extensions", "duckdb_extension_httpfs", "duckdb_extension_iceberg",
                       "duckdb_extension_avro", "pyiceberg") if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (the iceberg extra)")

CLOCK = lambda: dt.datetime(2025, 11, 30)  # noqa: E731
ON_FIXTURES = sorted(q.name for q in catalog.shipped() if "inventory-report" not in q.tags)


@pytest.fixture(scope="module", autouse=True)
def extension_dir(tmp_path_factory):
    """A dedicated extension folder for the suite, so nothing lands in the user's cache."""
    folder = tmp_path_factory.mktemp("duckdb-extensions")
    old = os.environ.get("S3META_EXTENSION_DIR")
    os.environ["S3META_EXTENSION_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("S3META_EXTENSION_DIR", None)
    else:
        os.environ["S3META_EXTENSION_DIR"] = old


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, small_data):
    root = tmp_path_factory.mktemp("warehouse")
    return root, fixtures.write_iceberg(small_data, root)


def _values(session, name):
    from test_catalog_queries import REQUIRED_VALUES as REQUIRED

    query = session.query(name)
    values = {p.name: REQUIRED[p.name] for p in query.params if p.required}
    return values | ({"since": "14d"} if any(p.name == "since" for p in query.params) else {})


def test_every_catalog_query_answers_the_same_from_iceberg(warehouse, small_data):
    _, locations = warehouse
    iceberg = [f"{table}={location}" for table, location in locations.items()]
    with analytics.connect(data=small_data, clock=CLOCK) as parquet, \
            analytics.connect(iceberg=iceberg, clock=CLOCK) as ice:
        assert set(ice.engine.tables) == {"journal", "inventory", "annotation"}
        for name in ON_FIXTURES:
            expected = parquet.run(name, _values(parquet, name)).arrow()
            got = ice.run(name, _values(ice, name)).arrow()
            assert got.to_pylist() == expected.to_pylist(), name


def test_an_annotation_table_and_a_journal_from_before_the_launch(warehouse, small_data, tmp_path):
    """--iceberg annotation=...; a journal table created before June 2026 lacks the new columns."""
    import pyarrow.parquet as pq
    from pyiceberg.catalog.sql import SqlCatalog

    _, locations = warehouse
    old_columns = [c for c in analytics.schema.JOURNAL.names if c not in ("object_join_key", "annotation")]
    journal = pq.read_table(sorted((small_data / "journal").glob("*.parquet"))).select(old_columns)
    journal = journal.filter(pc.is_in(journal.column("record_type"), pa.array(analytics.schema.OBJECT_RECORD_TYPES)))
    journal = journal.cast(pa.schema([analytics.schema.JOURNAL.field(c) for c in old_columns]))
    catalog = SqlCatalog("old", uri=f"sqlite:///{tmp_path}/c.db", warehouse=tmp_path.as_uri())
    catalog.create_namespace("b_old")
    table = catalog.create_table("b_old.journal", schema=journal.schema)
    table.append(journal)
    with analytics.connect(iceberg=[f"journal={table.metadata_location}",
                                    f"annotation={locations['annotation']}"], clock=CLOCK) as ice, \
            analytics.connect(data=small_data, clock=CLOCK) as parquet:
        assert set(ice.engine.tables) == {"journal", "annotation"}
        assert ice.sql("SELECT count(*) AS n, count(object_join_key) AS k, count(annotation.name) AS a "
                       "FROM journal").rows() == [{"n": journal.num_rows, "k": 0, "a": 0}]
        assert ice.sql("SELECT * FROM annotation ORDER BY bucket, object_key, name").arrow().to_pylist() == \
            parquet.sql("SELECT * FROM annotation ORDER BY bucket, object_key, name").arrow().to_pylist()
        assert ice.run("recent_deletes", since="14d").rows() == parquet.run("recent_deletes", since="14d").rows()


def test_a_table_folder_resolves_to_its_newest_metadata(warehouse, small_data):
    root, locations = warehouse
    with analytics.connect(data=small_data, iceberg=[f"inventory={root / 's3meta' / 'inventory'}"]) as session:
        assert session.engine.tables["inventory"][0].endswith(locations["inventory"].rsplit("/", 1)[-1])
        assert session.engine.tables["journal"][0].endswith(".parquet")  # the journal still from --data


@pytest.mark.parametrize("value,message", [
    ("journal=/tmp/x'); COPY (SELECT 1) TO '/tmp/pwn", "refused location"),
    ("journal=/tmp/a\\b.metadata.json", "refused location"),
    ("requests=/tmp/a.metadata.json", "unknown table 'requests' \\(expected journal, inventory or annotation\\)"),
    ("/tmp/a.metadata.json", "TABLE=LOCATION"),
])
def test_locations_are_checked_before_any_sql(value, message):
    with pytest.raises(BadInput, match=message):
        analytics.connect(iceberg=[value])


def test_the_sandbox_holds_with_iceberg(warehouse):
    _, locations = warehouse
    with analytics.connect(iceberg=[f"journal={locations['journal']}"]) as session:
        con = session.engine.con
        settings = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'autoinstall_known_extensions', 'autoload_known_extensions')").fetchall())
        assert settings == {"enable_external_access": "false", "lock_configuration": "true",
                            "autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
        with pytest.raises(SQLRefused):
            session.sql("SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(SQLRefused):
            session.sql("SELECT * FROM iceberg_scan('/etc/x.metadata.json')")


def test_extensions_come_from_the_wheels_into_the_dedicated_folder(warehouse, extension_dir, monkeypatch):
    """Loading never asks DuckDB's server: every INSTALL names a file inside an installed wheel."""
    import duckdb

    installs = []
    real = duckdb.DuckDBPyConnection.sql

    def spy(self, query, *args, **kwargs):
        installs.append(query)
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(duckdb.DuckDBPyConnection, "sql", spy)
    _, locations = warehouse
    with analytics.connect(iceberg=[f"journal={locations['journal']}"]):
        pass
    install = [q for q in installs if "INSTALL" in q]
    assert len(install) == 3 and all("site-packages" in q and ".duckdb_extension'" in q for q in install), install
    assert {p.name for p in extension_dir.glob("**/*.duckdb_extension")} >= {
        "avro.duckdb_extension", "httpfs.duckdb_extension", "iceberg.duckdb_extension"}


def test_missing_metadata_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no Iceberg metadata"):
        analytics.connect(iceberg=[f"journal={tmp_path}"])


def test_iceberg_and_report_on_s3_through_moto(aws, small_data, tmp_path):
    import boto3

    boto3.client("s3").create_bucket(Bucket="s3meta-tables")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    locations = fixtures.write_iceberg(small_data, "s3://s3meta-tables/warehouse", catalog_uri=f"sqlite:///{tmp_path}/c.db",
                                       properties={"s3.endpoint": endpoint, "s3.access-key-id": "testing",
                                                   "s3.secret-access-key": "testing", "s3.region": "us-east-1"})
    assert all(loc.startswith("s3://s3meta-tables/") for loc in locations.values())
    with analytics.connect(data=small_data, clock=CLOCK) as parquet, \
            analytics.connect(iceberg=[f"journal={locations['journal']}",
                                       "inventory=s3://s3meta-tables/warehouse/s3meta/inventory"],
                              clock=CLOCK) as ice:
        for name in ("recent_deletes", "encryption_status_summary", "prefix_delete_volume"):
            assert ice.run(name, _values(ice, name)).arrow().to_pylist() == \
                parquet.run(name, _values(parquet, name)).arrow().to_pylist(), name
        with pytest.raises(SQLRefused):  # other objects in the bucket stay out of reach
            ice.sql("SELECT * FROM read_parquet('s3://s3meta-tables/elsewhere/x.parquet')")


def test_bucket_restricts_iceberg_tables(warehouse):
    _, locations = warehouse
    iceberg = [f"{table}={location}" for table, location in locations.items()]
    with analytics.connect(iceberg=iceberg, buckets=["acme-logs"]) as session:
        for table in ("journal", "inventory"):
            assert session.sql(f"SELECT DISTINCT bucket FROM {table}").rows() == [{"bucket": "acme-logs"}], table
