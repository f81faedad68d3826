"""Restore plans: exactly the planted hidden versions, the per-key rules, a script safe for any key."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlglot

import analytics
from analytics import catalog, fixtures, restore
from conftest import NOW, cli, write_tables

ACTOR, IP = "999988887777", "203.0.113.66"


# --- the generator's planted mass delete -------------------------------------------------------------

@pytest.fixture(scope="module", params=["small", 11, 23])
def planted(request, tmp_path_factory, small_data):
    """(data folder, mass_delete incident): the committed fixture and two freshly generated sets."""
    if request.param == "small":
        data = small_data
    else:
        data = tmp_path_factory.mktemp(f"gen{request.param}")
        fixtures.generate(data, rows=20_000, seed=request.param)
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    return data, manifest["incidents"]["mass_delete"]


def _window(incident: dict) -> dict:
    # The manifest's `until` is the last marker's time; the plan's window is half-open.
    until = datetime.fromisoformat(incident["until"]) + timedelta(seconds=1)
    return {"since": incident["since"], "until": until.isoformat()}


@pytest.mark.parametrize("actor", [{"requester": ACTOR}, {"ip": IP}, {"requester": ACTOR, "ip": IP}])
def test_plan_lists_exactly_the_planted_hidden_versions(planted, actor):
    data, incident = planted
    with analytics.connect(data=data) as session:
        plan = restore.plan(session, **_window(incident), **actor)
    expected = {(incident["bucket"], h["key"], h["version_id"], h["marker_version_id"])
                for h in incident["hidden_versions"]}
    found = {(r["bucket"], r["key"], r["hidden_version_id"], r["delete_marker_version_id"]) for r in plan.restores}
    assert found == expected
    assert {r["delete_marker_version_id"] for r in plan.restores} == set(incident["marker_version_ids"])
    assert len(plan.restores) == incident["count"] and not plan.unresolved and not plan.skipped
    # The script's commands remove exactly those markers, in those keys.
    removed = {(_opt(c, "bucket"), _opt(c, "key"), _opt(c, "version-id")) for c in plan.commands()}
    assert removed == {(b, k, m) for b, k, _, m in expected}


def test_the_whole_data_window_finds_the_same_markers(planted):
    data, incident = planted
    with analytics.connect(data=data) as session:
        plan = restore.plan(session, since="2000-01-01", until="2100-01-01", requester=ACTOR, bucket=incident["bucket"])
    assert {r["delete_marker_version_id"] for r in plan.restores} == set(incident["marker_version_ids"])


def _opt(command: list[str], name: str) -> str:
    if "--cli-input-json" in command:
        payload = json.loads(command[command.index("--cli-input-json") + 1])
        return payload[{"bucket": "Bucket", "key": "Key", "version-id": "VersionId"}[name]]
    [value] = [a.split("=", 1)[1] for a in command if a.startswith(f"--{name}=")]
    return value


# --- the per-key rules, on hand-written records ------------------------------------------------------

SEL = {"since": "x", "until": "y", "requester": ACTOR, "ip": None, "bucket": None}


def _j(key, seq, kind, vid, marker=None, selected=False, who="111122223333", size=10, sc="STANDARD"):
    return {"source": "journal", "bucket": "b", "key": key, "sequence_number": seq, "record_type": kind,
            "version_id": vid, "is_delete_marker": marker, "record_timestamp": datetime(2025, 1, 1, 0, 0, int(seq)),
            "requester": who, "source_ip_address": "192.0.2.1", "size": 0 if marker else size,
            "last_modified_date": datetime(2025, 1, 1), "storage_class": sc, "selected": selected}


def _inv(key, seq, vid, marker=False, size=10, lmd=datetime(2024, 1, 1), sc="STANDARD"):
    return {"source": "inventory", "bucket": "b", "key": key, "sequence_number": seq, "record_type": None,
            "version_id": vid, "is_delete_marker": marker, "record_timestamp": None, "requester": None,
            "source_ip_address": None, "size": size, "last_modified_date": lmd, "storage_class": sc,
            "selected": False}


def _dm(key, seq, vid, selected=True, who=ACTOR):
    return _j(key, seq, "DELETE", vid, marker=True, selected=selected, who=who)


def test_rules_for_each_situation():
    records = [
        # plain: created, then hidden by the actor's marker
        _j("plain", "01", "CREATE", "v1"), _dm("plain", "02", "m1"),
        # backfilled: the version is only in the inventory (created before the journal began)
        _inv("backfilled", "00", "old2", lmd=datetime(2023, 1, 1)), _inv("backfilled", "00", "old1"),
        _dm("backfilled", "03", "m2"),
        # the latest version below counts, not an older one; a transitioned (GLACIER) one is flagged
        _j("two", "01", "CREATE", "a"), _j("two", "02", "CREATE", "b", sc="GLACIER"), _dm("two", "03", "m3"),
        # restored already: someone deleted the marker
        _j("removed", "01", "CREATE", "v"), _dm("removed", "02", "m4"), _j("removed", "03", "DELETE", "m4"),
        # overwritten: a newer version is on top
        _j("newer", "01", "CREATE", "v"), _dm("newer", "02", "m5"), _j("newer", "03", "CREATE", "w"),
        # nothing left below: the only version was deleted for good
        _j("empty", "01", "CREATE", "v"), _j("empty", "02", "DELETE", "v"), _dm("empty", "03", "m6"),
        # two markers by the actor: both go, the version below returns
        _j("stack", "01", "CREATE", "v"), _dm("stack", "02", "m7"), _dm("stack", "03", "m8"),
        # someone else's marker below the actor's: removing the actor's would not restore anything
        _j("blocked", "01", "CREATE", "v"), _dm("blocked", "02", "other", selected=False, who="444455556666"),
        _dm("blocked", "03", "m9"),
        # a newer version, deleted for good again: the marker is current once more
        _j("revived", "01", "CREATE", "v"), _dm("revived", "02", "m10"), _j("revived", "03", "CREATE", "w"),
        _j("revived", "04", "DELETE", "w"),
    ]
    plan = restore.build(records, SEL)
    restores = {r["key"]: r for r in plan.restores}
    assert {k: (r["delete_marker_version_id"], r["hidden_version_id"], r["also_remove"])
            for k, r in restores.items()} == {
        "plain": ("m1", "v1", []), "backfilled": ("m2", "old1", []), "two": ("m3", "b", []),
        "stack": ("m8", "v", ["m7"]), "revived": ("m10", "v", []),
    }
    assert restores["backfilled"]["hidden_seen_in"] == "inventory"
    assert "GLACIER" in restores["two"]["warning"] and restores["plain"]["warning"] is None
    assert {r["key"]: r["reason"] for r in plan.unresolved} == {
        "empty": "hidden_version_not_found", "blocked": "blocked_by_other_marker"}
    assert {r["key"]: r["reason"] for r in plan.skipped} == {
        "removed": "marker_already_removed", "newer": "newer_version_on_top"}
    assert plan.markers == 10
    assert sorted(_opt(c, "version-id") for c in plan.commands()) == ["m1", "m10", "m2", "m3", "m7", "m8"]
    script = plan.script()
    for vid in ("m4", "m5", "m6", "m9", "other"):
        assert f"version-id={vid}" not in script


# --- hostile keys: the script yields exactly the keys, under bash and under shlex --------------------

HOSTILE = [
    'quarterly "final" report.pdf', "o'brien notes.txt", "line1\nline2.csv", "tab\there", "日本語/ファイル.txt",
    "$(touch pwned)", "`touch pwned`", "${HOME}/x", "semi;colon && rm -rf / #", "-starts-with-dash",
    "--key=trick", "file://etc/passwd", "fileb://x", "back\\slash", "trailing space ", " leading space",
    "*glob?[a]", "~tilde", "!bang", "percent%20", "emoji 🎉", "cr\rreturn", "quote'\"mix",
    "https://attacker.example/k", "http://169.254.169.254/latest/meta-data", "bidi\u202egnp.exe",
]


@pytest.fixture(scope="module")
def hostile_plan(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    journal, inventory = [], []
    for n, key in enumerate(HOSTILE):
        base = dict(bucket="vers-bucket", key=key, is_multipart=False, size=5, storage_class="STANDARD",
                    e_tag="e", object_tags=[], user_metadata=[])
        journal.append(base | dict(sequence_number="01", record_type="CREATE", version_id=f"v{n}",
                                   is_delete_marker=False, record_timestamp=datetime(2025, 11, 20, 1),
                                   last_modified_date=datetime(2025, 11, 20, 1), requester="111122223333"))
        journal.append(dict(bucket="vers-bucket", key=key, sequence_number="02", record_type="DELETE",
                            version_id=f"dm{n}", is_delete_marker=True, size=0,
                            record_timestamp=datetime(2025, 11, 20, 2, 0, n), requester=ACTOR,
                            source_ip_address=IP, last_modified_date=datetime(2025, 11, 20, 2)))
        inventory.append(dict(base, sequence_number="01", version_id=f"v{n}", is_delete_marker=False,
                              last_modified_date=datetime(2025, 11, 20, 1)))
        inventory.append(dict(bucket="vers-bucket", key=key, sequence_number="02", version_id=f"dm{n}",
                              is_delete_marker=True, size=0, last_modified_date=datetime(2025, 11, 20, 2)))
    write_tables(root, journal, inventory)
    with analytics.connect(data=root, clock=lambda: NOW) as session:
        plan = restore.plan(session, since="2025-11-20", until="2025-11-21", requester=ACTOR)
    json_path, sh_path = plan.write(tmp_path_factory.mktemp("out") / "hostile")
    return plan, json_path, sh_path


def test_hostile_plan_is_complete(hostile_plan):
    plan, json_path, _ = hostile_plan
    assert sorted(r["key"] for r in plan.restores) == sorted(HOSTILE)
    assert sorted(r["key"] for r in json.loads(json_path.read_text(encoding="utf-8"))["restores"]) == sorted(HOSTILE)


def test_script_header_and_bash_syntax(hostile_plan):
    _, json_path, sh_path = hostile_plan
    text = sh_path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert "Removes delete markers" in text and json_path.name in text
    assert os.access(sh_path, os.X_OK)
    subprocess.run(["bash", "-n", str(sh_path)], check=True)


def test_shlex_reads_exactly_the_keys(hostile_plan):
    plan, _, sh_path = hostile_plan
    text = sh_path.read_bytes().decode("utf-8")  # not read_text(): universal newlines would turn \r into \n
    calls = [shlex.split(stmt, comments=True) for stmt in _statements(text)]
    calls = [c for c in calls if c and c[0] == "remove_marker"]
    assert sorted(json.loads(c[1])["Key"] for c in calls) == sorted(HOSTILE)
    assert [["aws", "s3api", "delete-object", "--cli-input-json", c[1]] for c in calls] == plan.commands()
    assert all(c[1].isascii() for c in calls)  # control and bidi characters travel as JSON escapes


def _statements(text: str) -> list[str]:
    """The script split into shell statements: lines are joined while a quote is open (a key may
    hold a newline)."""
    out, buffer = [], ""
    for line in text.split("\n"):  # not splitlines(): a key may hold a bare \r
        line += "\n"
        buffer += line
        try:
            shlex.split(buffer, comments=True)
        except ValueError:  # no closing quotation: the statement goes on
            continue
        out.append(buffer)
        buffer = ""
    assert buffer == "", "unterminated quote in the script"
    return out


# A stub `aws` for running the script for real: it records each call's arguments, and answers
# head-object as S3 would for a delete marker (405), a removed version (404) or a data version (200).
_STUB = """#!/usr/bin/env bash
for a in "$@"; do printf '%s\\0' "$a"; done >> "$LOG"
printf '\\36\\0' >> "$LOG"
if [ "$2" = head-object ]; then
  case "$HEAD" in
    405) echo 'An error occurred (405) when calling the HeadObject operation: Method Not Allowed' >&2; exit 254;;
    404) echo 'An error occurred (404) when calling the HeadObject operation: Not Found' >&2; exit 254;;
    *) echo '{"ContentLength": 5}';;
  esac
fi
if [ "$2" = delete-object ] && [ -n "${FAIL_DELETE:-}" ]; then echo 'An error occurred (AccessDenied)' >&2; exit 254; fi
"""


def _run_script(sh_path, tmp_path, **env_extra):
    stub = tmp_path / "bin" / "aws"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text(_STUB, encoding="utf-8")
    stub.chmod(0o755)
    log = tmp_path / "log"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("AWS", "DRY_RUN")}
    env.update(PATH=f"{stub.parent}:{env['PATH']}", LOG=str(log), HOME=str(tmp_path), **env_extra)
    proc = subprocess.run(["bash", str(sh_path)], cwd=tmp_path, env=env, capture_output=True, text=True)
    fields = log.read_bytes().decode("utf-8").split("\0")[:-1] if log.exists() else []
    calls, current = [], []
    for f in fields:
        if f == "\x1e":
            calls.append(current)
            current = []
        else:
            current.append(f)
    return proc, calls


def test_bash_passes_exactly_the_arguments(hostile_plan, tmp_path):
    """Run the script for real against a stub `aws`: each marker is checked, then removed; nothing else runs."""
    plan, _, sh_path = hostile_plan
    proc, calls = _run_script(sh_path, tmp_path, HEAD="405")
    assert proc.returncode == 0, proc.stderr
    deletes = [c for c in calls if c[1] == "delete-object"]
    heads = [c for c in calls if c[1] == "head-object"]
    assert deletes == [c[1:] for c in plan.commands()]
    assert [h[2:] for h in heads] == [d[2:] for d in deletes]  # the same request, checked first
    n = len(deletes)
    assert f"[{n}/{n}] removed" in proc.stderr and f"{n} removed, 0 already removed, 0 failed, of {n}" in proc.stderr
    assert not (tmp_path / "pwned").exists()


def test_script_runs_again_safely_skipping_markers_already_gone(hostile_plan, tmp_path):
    plan, _, sh_path = hostile_plan
    proc, calls = _run_script(sh_path, tmp_path, HEAD="404")
    n = len(plan.commands())
    assert proc.returncode == 0 and f"0 removed, {n} already removed, 0 failed" in proc.stderr
    assert not [c for c in calls if c[1] == "delete-object"]


def test_script_never_deletes_a_version_that_holds_data(hostile_plan, tmp_path):
    plan, _, sh_path = hostile_plan
    proc, calls = _run_script(sh_path, tmp_path, HEAD="200")
    assert proc.returncode != 0 and "refused: the version is not a delete marker" in proc.stderr
    assert not [c for c in calls if c[1] == "delete-object"]


def test_script_goes_on_after_a_failure_and_exits_nonzero(hostile_plan, tmp_path):
    plan, _, sh_path = hostile_plan
    proc, calls = _run_script(sh_path, tmp_path, HEAD="405", FAIL_DELETE="1")
    n = len(plan.commands())
    assert proc.returncode == 1 and f"0 removed, 0 already removed, {n} failed" in proc.stderr
    assert len([c for c in calls if c[1] == "delete-object"]) == n


def test_dry_run_prints_the_commands_and_calls_nothing(hostile_plan, tmp_path):
    plan, _, sh_path = hostile_plan
    proc, calls = _run_script(sh_path, tmp_path, DRY_RUN="1")
    assert proc.returncode == 0 and calls == []
    assert proc.stdout.count("s3api delete-object --cli-input-json") == len(plan.commands())


def test_every_key_travels_as_json_never_as_an_option_a_file_or_a_url():
    for key in ("-x", "--key=trick", "file://etc/passwd", "fileb://x", "https://attacker.example/k"):
        command = restore._command("b", key, "v")
        assert command[3:4] == ["--cli-input-json"] and len(command) == 5
        assert json.loads(command[4]) == {"Bucket": "b", "Key": key, "VersionId": "v"}


def test_a_key_with_a_nul_byte_is_unresolved_not_turned_into_another_key():
    records = [dict(source="journal", bucket="b", key="a\x00b", version_id="v1", sequence_number="01",
                    record_type="CREATE", is_delete_marker=False, size=1, storage_class="STANDARD",
                    last_modified_date=None, selected=False, record_timestamp=None, requester=ACTOR,
                    source_ip_address=None),
               dict(source="journal", bucket="b", key="a\x00b", version_id="dm1", sequence_number="02",
                    record_type="DELETE", is_delete_marker=True, size=0, storage_class=None,
                    last_modified_date=None, selected=True, record_timestamp=None, requester=ACTOR,
                    source_ip_address=None)]
    plan = restore.build(records, SEL)
    assert plan.restores == [] and [u["reason"] for u in plan.unresolved] == ["key_not_passable"]
    assert "remove_marker" not in plan.script().split("\n}\n", 1)[1]


def test_archived_hidden_versions_are_counted_and_explained():
    plan = restore.RestorePlan(selection=SEL, restores=[
        {"bucket": "b", "key": k, "delete_marker_version_id": "dm", "also_remove": [], "hidden_version_id": "v",
         "hidden_size": 1, "hidden_storage_class": sc, "marker_at": None}
        for k, sc in (("a", "GLACIER"), ("b", "DEEP_ARCHIVE"), ("c", "GLACIER_IR"), ("d", "STANDARD"))])
    assert plan.to_dict()["summary"]["archived_hidden_versions"] == 2
    assert "2 hidden version(s) in GLACIER or DEEP_ARCHIVE must be restored from archive" in plan.message()
    assert "2 hidden version(s) in GLACIER or DEEP_ARCHIVE" in plan.script()


# --- empty plans, the SQL, the CLI -------------------------------------------------------------------

def test_an_actor_with_no_markers_gets_an_empty_plan_that_says_so(small_data, tmp_path):
    with analytics.connect(data=small_data) as session:
        plan = restore.plan(session, since="2000-01-01", until="2100-01-01", requester="123456789012")
    assert len(plan) == 0 and plan.markers == 0 and "nothing to restore" in plan.message()
    json_path, sh_path = plan.write(tmp_path / "empty")
    body = json.loads(json_path.read_text(encoding="utf-8"))
    assert body["summary"]["markers_in_window"] == 0 and body["restores"] == []
    assert "nothing to restore" in body["summary"]["message"]
    assert "remove_marker '" not in sh_path.read_text(encoding="utf-8").split("set -euo pipefail")[1]
    subprocess.run(["bash", "-n", str(sh_path)], check=True)


def test_plan_sql_is_athena_sql():
    athena = analytics.connect("athena", buckets=["acme-prod-data", "acme.media.assets"])
    values = {"since": datetime(2025, 1, 1), "until": datetime(2025, 1, 2), "bucket": None,
              "requester": ACTOR, "ip": None}
    rendered = athena.engine.render(catalog.shipped().get(restore.QUERY_NAME).sql, values)
    sqlglot.parse_one(rendered.sql, read="athena")
    assert len(rendered.parameters) == len(catalog.placeholders(catalog.shipped().get(restore.QUERY_NAME).sql))


def test_cli_writes_both_files(small_data, small_manifest, tmp_path):
    incident = small_manifest["incidents"]["mass_delete"]
    w = _window(incident)
    proc = cli("restore-plan", "--data", str(small_data), "--since", w["since"], "--until", w["until"],
               "--requester", ACTOR, "--ip", IP, "--bucket", incident["bucket"], "--output", str(tmp_path / "p"))
    assert proc.returncode == 0, proc.stderr
    body = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert body["format"] == "s3meta-restore-plan" and body["summary"]["keys_to_restore"] == incident["count"]
    assert body["selection"]["bucket"] == incident["bucket"]
    assert os.access(tmp_path / "p.sh", os.X_OK)
    assert f"{incident['count']} key(s) to restore" in proc.stderr


def test_cli_empty_plan_says_so(small_data, tmp_path):
    proc = cli("restore-plan", "--data", str(small_data), "--since", "3650d", "--ip", "198.51.100.250",
               "--output", str(tmp_path / "none"))
    assert proc.returncode == 0 and "nothing to restore" in proc.stderr
    assert Path(tmp_path / "none.sh").is_file()


@pytest.mark.parametrize("args, message", [
    ([], "name the actor"),
    (["--requester", "not-an-account"], "requester"),
    (["--ip", "999.1.1.1"], "ip"),
    (["--requester", ACTOR, "--since", "yesterday-ish"], "since"),
    (["--requester", ACTOR, "--since", "2025-01-02", "--until", "2025-01-01"], "empty"),
])
def test_cli_bad_input_exits_2_with_one_line(small_data, tmp_path, args, message):
    proc = cli("restore-plan", "--data", str(small_data), "--output", str(tmp_path / "x"), *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s3meta: error:") and message in lines[0]
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "x.sh").exists()
