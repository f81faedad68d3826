"""footers.same_schema: byte-equal schemas say "one layout"; anything else defers to DuckDB's check.

The one thing it must never do is answer True for files whose schemas differ (the engine would then
read a 2026 file's new columns through a 2025 file's schema and drop them), nor raise on a file
that is not what it seems.
"""

from __future__ import annotations

import itertools

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import fixtures, footers
from analytics.engines.duckdb import parquet_files

ANNOTATION = pa.struct([("name", pa.string()), ("value", pa.string()), ("at", pa.timestamp("us"))])
# Each a table of one row; several differ from another only in a type, an order, a nesting or a name.
VARIANTS = {
    "base": pa.table({"bucket": ["b"], "key": ["k"], "size": pa.array([1], pa.int64())}),
    "reordered": pa.table({"key": ["k"], "bucket": ["b"], "size": pa.array([1], pa.int64())}),
    "int32 size": pa.table({"bucket": ["b"], "key": ["k"], "size": pa.array([1], pa.int32())}),
    "extra column": pa.table({"bucket": ["b"], "key": ["k"], "size": pa.array([1], pa.int64()), "tags": [True]}),
    "missing column": pa.table({"bucket": ["b"], "key": ["k"]}),
    "renamed": pa.table({"bucket": ["b"], "kee": ["k"], "size": pa.array([1], pa.int64())}),
    "map": pa.table({"bucket": ["b"], "tags": pa.array([[("a", "1")]], pa.map_(pa.string(), pa.string()))}),
    "map of ints": pa.table({"bucket": ["b"], "tags": pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int64()))}),
    "struct": pa.table({"bucket": ["b"], "annotation": pa.array([None], ANNOTATION)}),
    "struct, fields reordered": pa.table({"bucket": ["b"], "annotation": pa.array(
        [None], pa.struct([ANNOTATION.field(1), ANNOTATION.field(0), ANNOTATION.field(2)]))}),
    "timestamp ms": pa.table({"bucket": ["b"], "at": pa.array([0], pa.timestamp("ms"))}),
    "timestamp us": pa.table({"bucket": ["b"], "at": pa.array([0], pa.timestamp("us"))}),
    "timestamp utc": pa.table({"bucket": ["b"], "at": pa.array([0], pa.timestamp("us", tz="UTC"))}),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every variant twice by pyarrow (other values, other statistics) and once by DuckDB."""
    root = tmp_path_factory.mktemp("footers")
    con = duckdb.connect()
    files = {}
    for name, table in VARIANTS.items():
        slug = name.replace(" ", "-").replace(",", "")
        first, second, by_duckdb = (str(root / f"{slug}-{n}.parquet") for n in ("a", "b", "duckdb"))
        pq.write_table(table, first)
        pq.write_table(pa.concat_tables([table] * 3), second, compression="zstd")  # other data, same schema
        con.from_arrow(table).write_parquet(by_duckdb)
        files[name] = (first, second, by_duckdb)
    return files


def test_files_of_one_writer_and_one_schema_are_one_layout(written):
    for name, (first, second, _) in written.items():
        assert footers.same_schema([first, second, first]), name


def test_never_true_for_different_schemas(written):
    paths = [p for trio in written.values() for p in trio]
    for a, b in itertools.product(paths, repeat=2):
        if footers.same_schema([a, b]):
            assert pq.read_schema(a).equals(pq.read_schema(b), check_metadata=False), (a, b)
    for (x, (a, _, _)), (y, (b, _, _)) in itertools.combinations(written.items(), 2):
        assert not footers.same_schema([a, b]), (x, y)


def test_the_schema_tables_cut_into_parts_are_one_layout(tmp_path):
    """An export in parts, as the engine sees it: the 2026 journal (nested annotation struct, maps)."""
    fixtures.generate(tmp_path / "one", rows=3000, seed=5, days=3)
    for table in ("journal", "inventory", "annotation"):
        rows = pq.read_table(tmp_path / "one" / table)
        (tmp_path / "parts" / table).mkdir(parents=True)
        for i in range(4):
            pq.write_table(rows.slice(i * 800, 800), tmp_path / "parts" / table / f"part-{i}.parquet")
        files = parquet_files(tmp_path / "parts" / table)
        assert footers.same_schema(files), table
        assert not footers.same_schema([files[0], *parquet_files(tmp_path / "one" / "journal" if table != "journal"
                                                                  else tmp_path / "one" / "inventory")])


def _parquet(footer: bytes) -> bytes:
    return b"PAR1" + footer + len(footer).to_bytes(4, "little") + b"PAR1"


@pytest.mark.parametrize("content", [
    b"", b"PAR1", b"not parquet at all, just text\n", b"\0" * 64,
    _parquet(b"\x15\x02")[:-1],  # cut short
    _parquet(b"\x15\x02\x19\x00")[:-4] + b"PARE",  # an encrypted footer's magic
    b"PAR1" + (10 ** 6).to_bytes(4, "little") + b"PAR1",  # a footer longer than the file
    _parquet(b"\x15\x02" + b"\x19\x19" * 5000),  # lists nested five thousand deep
    _parquet(b"\x15\x02\x19\xf9\xff\xff\xff\xff\x0f"),  # a list claiming four billion lists, then nothing
    _parquet(b"\x16\x02"),  # a version that is not an i32
], ids=["empty", "magic only", "text", "zeros", "truncated", "encrypted", "long footer", "deep", "huge list",
        "odd version"])
def test_files_that_are_not_what_they_seem_are_not_one_layout(written, tmp_path, content):
    odd = tmp_path / "odd.parquet"
    odd.write_bytes(content)
    good = written["base"][0]
    assert not footers.same_schema([str(odd), good])
    assert not footers.same_schema([good, str(odd)])
    assert not footers.same_schema([str(odd), str(odd)])


def test_a_missing_file_is_not_one_layout(written, tmp_path):
    assert not footers.same_schema([written["base"][0], str(tmp_path / "gone.parquet")])
