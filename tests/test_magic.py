"""The %s3meta / %%s3meta magic, in a real IPython shell."""

from __future__ import annotations

import pytest

pytest.importorskip("IPython")

from analytics import notebook  # noqa: E402
from conftest import HAND_JOURNAL, NOW, WINDOW  # noqa: E402

PLAIN = sum(r["bucket"] == "plain-bucket" for r in HAND_JOURNAL)


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "analytics")
    yield ip
    notebook.unload_ipython_extension(ip)


def run(shell, source: str):
    result = shell.run_cell(source, store_history=False, silent=False)
    return result


@pytest.fixture
def connected(shell, hand_data):
    assert run(shell, f"%s3meta connect --data {hand_data}").success
    # A pinned clock, so relative windows are reproducible: the magic's session is a plain Session.
    notebook._MAGICS[id(shell)].session.clock = lambda: NOW
    yield shell
    run(shell, "%s3meta close")


def test_line_magic_runs_a_catalog_query_into_a_variable(connected):
    r = run(connected, f"%s3meta query recent_deletes since={WINDOW['since']} until={WINDOW['until']} -o deletes")
    assert r.success, r.error_in_exec
    deletes = connected.user_ns["deletes"]
    assert deletes is connected.user_ns["_s3meta"] is r.result
    assert deletes.query == "recent_deletes" and len(deletes) == 7


def test_query_word_may_be_left_out_and_params_take_cli_forms(connected):
    r = run(connected, "%s3meta recent_deletes since=30h bucket=plain-bucket --out plain")
    assert r.success, r.error_in_exec
    assert {row["bucket"] for row in connected.user_ns["plain"].rows()} == {"plain-bucket"}
    assert connected.user_ns["plain"].params["bucket"] == "plain-bucket"


def test_python_values_expand_into_the_line(connected):
    connected.user_ns["who"] = "111122223333"
    r = run(connected, "%s3meta query requester_activity requester={who} since=2d")
    assert r.success, r.error_in_exec
    assert r.result.params["requester"] == "111122223333" and len(r.result) > 0


def test_quoted_values_are_split_like_a_shell_line(connected):
    from conftest import SCRIPT_KEY
    r = run(connected, f"%s3meta query key_version_history 'key={SCRIPT_KEY}' bucket=plain-bucket")
    assert r.success, r.error_in_exec
    assert {row["key"] for row in r.result.rows()} == {SCRIPT_KEY}


def test_cell_magic_runs_ad_hoc_sql(connected):
    cell = "%%s3meta -o counts\nSELECT bucket, count(*) AS n\nFROM inventory\nGROUP BY bucket ORDER BY bucket"
    r = run(connected, cell)
    assert r.success, r.error_in_exec
    assert connected.user_ns["counts"].rows() == [{"bucket": "plain-bucket", "n": 2}, {"bucket": "vers-bucket", "n": 4}]
    assert "<table>" in r.result._repr_html_() and "2 rows" in r.result._repr_html_()


def test_cell_magic_refuses_writes_in_one_line(connected):
    r = run(connected, "%%s3meta\nDELETE FROM journal")
    assert not r.success
    from IPython.core.error import UsageError
    assert isinstance(r.error_in_exec, UsageError)
    message = str(r.error_in_exec)
    assert message.startswith("s3meta: refused") and "\n" not in message


@pytest.mark.parametrize("line, words", [
    ("%s3meta query recent_deletes since=whenever", "since"),
    ("%s3meta query no_such_query", "unknown query"),
    ("%s3meta query recent_deletes -o 1bad", "variable name"),
    ("%s3meta frobnicate", "unknown query 'frobnicate'"),
    ("%s3meta -x", "unknown command"),
    ("%s3meta query recent_deletes --no-such-flag", "unrecognized arguments"),
])
def test_bad_input_is_a_one_line_usage_error(connected, line, words):
    r = run(connected, line)
    assert not r.success and words in str(r.error_in_exec) and "\n" not in str(r.error_in_exec)


def test_session_is_reused_across_cells(connected):
    before = notebook._MAGICS[id(connected)].session
    assert run(connected, "%s3meta recent_deletes since=2d").success
    assert run(connected, "%%s3meta\nSELECT 1 AS one").success
    assert notebook._MAGICS[id(connected)].session is before


def test_connects_from_the_environment(shell, hand_data, monkeypatch):
    run(shell, "%s3meta close")
    monkeypatch.setenv("S3META_DATA", str(hand_data))
    r = run(shell, "%%s3meta\nSELECT count(*) AS n FROM journal")
    assert r.success, r.error_in_exec
    assert r.result.rows()[0]["n"] > 0
    run(shell, "%s3meta close")


def test_restore_plan_magic(connected, tmp_path):
    r = run(connected, f"%s3meta restore-plan requester=444455556666 since={WINDOW['since']} "
                       f"until={WINDOW['until']} --output {tmp_path}/plan -o plan")
    assert r.success, r.error_in_exec
    plan = connected.user_ns["plan"]
    # dm1 on docs/a.txt hides v1, but v1 was deleted for good afterwards: nothing to restore there.
    assert [u["reason"] for u in plan.unresolved] == ["hidden_version_not_found"] and not plan.restores
    assert (tmp_path / "plan.json").is_file() and (tmp_path / "plan.sh").is_file()


def test_list_show_and_help_print(connected, capsys):
    assert run(connected, "%s3meta list --tag workshop").success
    assert run(connected, "%s3meta show recent_deletes").success
    assert run(connected, "%s3meta").success
    out = capsys.readouterr().out
    assert "recent_user_deletes" in out and "Parameters:" in out and "%load_ext analytics" in out


# --- ad-hoc SQL with values from the notebook, bound by the driver ---------------------------------------

def test_line_sql_keeps_its_quotes(connected):
    r = run(connected, "%s3meta sql SELECT count(*) AS n FROM journal WHERE bucket = 'plain-bucket'")
    assert r.success, r.error_in_exec
    assert r.result.rows() == [{"n": PLAIN}]
    r = run(connected, "%s3meta sql -o pairs --data {} SELECT 'a b' AS \"two  words\"".format(
        notebook._MAGICS[id(connected)]._connection["data"]))
    assert r.success, r.error_in_exec
    assert connected.user_ns["pairs"].rows() == [{"two  words": "a b"}]


@pytest.mark.parametrize("source", [
    "%%s3meta -o found\nSELECT key FROM journal WHERE bucket = '{b}' ORDER BY key",
    "%%s3meta -o found\nSELECT key FROM journal WHERE bucket = {b} ORDER BY key",
    "%%s3meta -o found\nSELECT key FROM journal WHERE bucket = :b ORDER BY key",
    "%s3meta sql -o found SELECT key FROM journal WHERE bucket = '{b}' ORDER BY key",
    "%s3meta sql -o found SELECT key FROM journal WHERE bucket = :b ORDER BY key",
])
def test_notebook_variables_are_bound_not_pasted(connected, source):
    connected.user_ns["b"] = "plain-bucket"
    r = run(connected, source)
    assert r.success, r.error_in_exec
    found = connected.user_ns["found"]
    assert len(found) == PLAIN and found.params == {"b": "plain-bucket"}
    assert "plain-bucket" not in found.sql and ":b" in found.sql
    # A value that would change the statement if it were pasted matches nothing.
    connected.user_ns["b"] = "x' OR '1'='1"
    r = run(connected, source)
    assert r.success, r.error_in_exec
    assert len(connected.user_ns["found"]) == 0


def test_braces_in_strings_stay_text_unless_they_name_a_variable(connected):
    connected.user_ns["b"] = "plain-bucket"
    r = run(connected, "%%s3meta\nSELECT '{nothing_here}' AS a, 'x{2}' AS c")
    assert r.success, r.error_in_exec
    assert r.result.rows() == [{"a": "{nothing_here}", "c": "x{2}"}]
    r = run(connected, "%%s3meta\nSELECT key FROM journal WHERE key LIKE '{b}/%'")
    assert not r.success and "concatenate" in str(r.error_in_exec) and "\n" not in str(r.error_in_exec)


@pytest.mark.parametrize("source, words", [
    ("%%s3meta\nSELECT :nowhere_defined", ":nowhere_defined names no variable"),
    ("%%s3meta\nSELECT {nowhere_defined}", "{nowhere_defined} names no variable"),
    ("%s3meta sql", "no statement given"),
])
def test_unbound_names_are_one_line_errors(connected, source, words):
    r = run(connected, source)
    assert not r.success and words in str(r.error_in_exec), r.error_in_exec


def test_info_magic(connected):
    r = run(connected, "%s3meta info -o info")
    assert r.success, r.error_in_exec
    assert connected.user_ns["info"].tables == ("journal", "inventory", "annotation")
    assert "rows by bucket:" in repr(r.result)
