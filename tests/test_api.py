"""The Python API as a notebook or script uses it."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

import analytics
from conftest import SCRIPT_KEY, WINDOW


def test_run_returns_arrow_and_pandas(hand):
    result = hand.run("recent_metadata_updates", **WINDOW)
    assert result.arrow().num_rows == 2 == len(result)
    frame = result.df()
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == result.columns
    assert frame.loc[1, "object_tags"] == {"env": "prod"}
    assert str(frame["record_timestamp"].dtype).startswith("datetime64")


def test_parameters_as_a_dict_or_keywords(hand):
    a = hand.run("recent_deletes", dict(WINDOW), bucket="plain-bucket")
    b = hand.run("recent_deletes", bucket="plain-bucket", **WINDOW)
    assert a.rows() == b.rows() and a.params == b.params


def test_html_view_escapes_and_states_truncation(hand):
    html = hand.sql("SELECT key FROM inventory").table
    view = hand.sql("SELECT key FROM inventory")._repr_html_()
    assert "<script>" not in view and "&lt;script&gt;" in view and "6 rows" in view
    big = hand.sql("SELECT range AS n FROM range(50)")._repr_html_()
    assert "50 rows, showing the first 20" in big
    assert html.num_rows == 6 and SCRIPT_KEY in html.column("key").to_pylist()


def test_module_level_shortcuts(hand_data):
    assert len(analytics.run("recent_deletes", data=hand_data, **WINDOW)) == 7
    assert analytics.sql("SELECT count(*) AS n FROM inventory", data=hand_data).rows() == [{"n": 6}]


def test_session_lists_and_renders(hand):
    assert "recent_deletes" in {q.name for q in hand.queries()}
    assert hand.query("recent_deletes").param("since").default == "24h"
    assert repr(hand).startswith("<Session engine=duckdb")


def test_all_is_complete():
    public = {name for name in dir(analytics) if not name.startswith("_") and name[0].isupper() or
              name in ("connect", "run", "sql")}
    assert public <= set(analytics.__all__)
    for name in analytics.__all__:
        assert hasattr(analytics, name), name


def test_import_stays_light():
    code = ("import sys, analytics; heavy = [m for m in ('duckdb', 'boto3', 'pyathena', 'pandas', 'sqlglot') "
            "if m in sys.modules]; print(','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""
