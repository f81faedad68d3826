"""Hostile parameter values are bound by the driver: they match nothing and never change the query."""

from __future__ import annotations

import pytest

from analytics.errors import ParamError
from conftest import WINDOW

HOSTILE = [
    "'", "''", "\"", "' OR '1'='1", "x' OR 1=1 --", "'; DROP VIEW journal; --", "; DROP VIEW journal",
    "-- comment", "/* block */", "*/ OR 1=1 /*", "\\", "%", "_", "docs/%", "$since", ":since", "?",
    "日本語' OR ''='", "\u202e\u0000", "a\x00b", "x" * 10_000, "\n", "<script>alert(1)</script>",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_match_nothing(hand, value):
    # A string parameter that reaches SQL text would change the query; bound, it is just a value.
    sql = hand.catalog.get("recent_deletes").sql
    before = hand.sql("SELECT count(*) AS n FROM journal").rows()
    result = hand.engine.execute(
        "SELECT key FROM journal WHERE key = :key", {"key": value})
    assert result.table.num_rows == 0
    assert hand.sql("SELECT count(*) AS n FROM journal").rows() == before
    assert hand.catalog.get("recent_deletes").sql == sql


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_in_typed_parameters_are_refused_or_inert(hand, value):
    try:
        result = hand.run("recent_deletes", bucket=value, **WINDOW)
    except ParamError as err:
        assert "parameter 'bucket'" in str(err) and "\n" not in str(err)
    else:  # pragma: no cover - no hostile value is a valid bucket name
        assert len(result) == 0


def test_a_tautology_does_not_widen_a_result(hand):
    honest = hand.engine.execute("SELECT count(*) AS n FROM journal WHERE key = :key", {"key": "docs/a.txt"})
    attack = hand.engine.execute("SELECT count(*) AS n FROM journal WHERE key = :key",
                                 {"key": "docs/a.txt' OR '1'='1"})
    assert honest.table.to_pylist() == [{"n": 4}]
    assert attack.table.to_pylist() == [{"n": 0}]
