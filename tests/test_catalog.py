"""The catalog format: headers, typed parameters, placeholders outside strings and comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics import catalog
from analytics.errors import CatalogError

GOOD = """-- Title line.
--
-- Longer description.
--
-- @tags workshop, deletes
-- @param since timestamp = 24h: start
-- @param key key: required key
SELECT ':not_a_param' AS s, "col:x" AS c, a::VARCHAR -- :nor_this
FROM journal /* :nor_that */ WHERE record_timestamp >= :since AND key = :key AND key <> :key
"""


def write(tmp_path: Path, text: str, name: str = "q.sql") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_header_and_params(tmp_path):
    q = catalog.parse(write(tmp_path, GOOD))
    assert (q.name, q.title, q.description, q.tags) == ("q", "Title line.", "Longer description.",
                                                        ("workshop", "deletes"))
    assert [(p.name, p.type, p.default, p.description) for p in q.params] == [
        ("since", "timestamp", "24h", "start"), ("key", "key", None, "required key")]
    assert q.sql.startswith("SELECT") and not q.sql.endswith(";")


def test_placeholders_skip_strings_identifiers_comments_and_casts():
    assert catalog.placeholders(GOOD) == ["since", "key", "key"]
    rendered = catalog.substitute(GOOD, lambda name: "?")
    assert "':not_a_param'" in rendered and '"col:x"' in rendered and "a::VARCHAR" in rendered
    assert "-- :nor_this" in rendered and "/* :nor_that */" in rendered
    assert rendered.count("?") == 3


def test_placeholders_with_escaped_quotes():
    sql = "SELECT 'it''s :x' , \"a\"\"b:y\" FROM t WHERE a = :real"
    assert catalog.placeholders(sql) == ["real"]


@pytest.mark.parametrize("text,message", [
    ("-- T\n-- @param a string: x\nSELECT 1", "declared but not used: a"),
    ("-- T\nSELECT :b", "used but not declared: b"),
    ("-- T\n-- @param a sting: x\nSELECT :a", "unknown type 'sting'"),
    ("-- T\n-- @param a\nSELECT 1", "malformed parameter line"),
    ("-- T\n-- @param a string: x\n-- @param a string: y\nSELECT :a", "declared twice"),
    ("-- T\n-- @author me\nSELECT 1", "unknown header directive"),
    ("SELECT 1", "needs a title line"),
    ("-- Only a header\n", "no SQL after the header"),
])
def test_malformed_files_are_refused_with_the_file_named(tmp_path, text, message):
    with pytest.raises(CatalogError) as err:
        catalog.parse(write(tmp_path, text, "bad_query.sql"))
    assert "bad_query.sql" in str(err.value) and message in str(err.value)


def test_unknown_query_suggests_the_closest_name():
    with pytest.raises(CatalogError, match="did you mean 'recent_deletes'"):
        catalog.shipped().get("recent_delete")
    with pytest.raises(CatalogError, match="s3meta list"):
        catalog.shipped().get("zzzz")


def test_shipped_catalog_has_the_six_workshop_queries():
    names = {q.name for q in catalog.shipped().tagged("workshop")}
    assert names == {"recent_deletes", "recent_user_deletes", "source_ip_activity", "recent_metadata_updates",
                     "encryption_status_summary", "prefix_delete_volume"}


def test_every_shipped_query_is_documented():
    for q in catalog.shipped():
        assert q.title and q.description, q.name
        for p in q.params:
            assert p.description, f"{q.name}.{p.name} has no description"


def test_every_shipped_query_orders_its_rows():
    # Without a top-level ORDER BY, two engines (or two runs) may return rows in different orders.
    import sqlglot

    for q in catalog.shipped():
        tree = sqlglot.parse_one(catalog.substitute(q.sql, lambda name: "?"), read="athena")
        assert tree.args.get("order") is not None, f"{q.name} has no top-level ORDER BY"


def test_every_parameter_sits_in_a_where_clause():
    # Athena's ExecutionParameters: "currently, ? parameters can be placed only in the WHERE clause;
    # syntax such as SELECT ? FROM table is not supported" (Athena user guide, parameterized queries).
    import sqlglot
    from sqlglot import exp

    outside = []
    for q in catalog.shipped():
        tree = sqlglot.parse_one(catalog.substitute(q.sql, lambda name: "?"), read="athena")
        for placeholder in tree.find_all(exp.Placeholder):
            if placeholder.find_ancestor(exp.Where) is None:
                outside.append(f"{q.name}: {placeholder.parent.sql('athena')[:50]}")
    assert outside == []
