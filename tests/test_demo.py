"""`make demo`: the runtime install only, and a closing guide whose commands show the planted incidents."""

from __future__ import annotations

import json
import re
import shlex
import tomllib

import pytest

from analytics import demo, fixtures
from analytics.errors import DataError
from conftest import ROOT, cli


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo")
    fixtures.generate(data, rows=20_000, seed=11)
    return data


def test_make_demo_installs_the_runtime_only():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rule = makefile.split("\n$(RUNTIME):")[1].split("\n\n")[0]
    assert "pip install" in rule and "-e ." in rule and "[test]" not in rule
    demo_rule = makefile.split("\ndemo:")[1].split("\n\n")[0]
    assert "$(RUNTIME)" in demo_rule and "$(STAMP)" not in demo_rule
    assert "s3meta fixtures incidents $(DEMO)" in demo_rule
    generate = makefile.split("$(DEMO)/manifest.json:")[1].split("\n\n")[0]
    assert "| $(RUNTIME)" in generate
    # What the runtime install brings is enough for the demo: no test-only package at run time.
    test_only = {re.split(r"[\[=<>]", d)[0].lower() for d in tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]}
    assert {"moto", "pyiceberg", "ipykernel", "matplotlib"} <= test_only


def test_the_guide_names_every_incident_and_a_window_holding_them(planted):
    manifest = json.loads((planted / "manifest.json").read_text())
    proc = cli("fixtures", "incidents", str(planted))
    assert proc.returncode == 0, proc.stderr
    for kind in manifest["incidents"]:
        assert kind in proc.stdout
    since, until = demo.window(manifest["incidents"])
    for incident in manifest["incidents"].values():
        for field in ("since", "until", "uploaded", "scan_timestamp"):
            if incident.get(field):
                assert since.isoformat() <= incident[field] < until.isoformat()
    assert f"--since {since.isoformat()} --until {until.isoformat()}" in proc.stdout


def commands(text: str, verb: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.strip().startswith(f"s3meta {verb} "))
    return shlex.split(line)[1:]


def test_the_guides_report_finds_the_planted_incidents(planted, tmp_path):
    guide = cli("fixtures", "incidents", str(planted)).stdout
    args = commands(guide, "report")
    args[args.index("--format") + 1] = "json"
    args[args.index("--output") + 1] = str(tmp_path / "report.json")
    proc = cli(*args)
    assert proc.returncode == 1, proc.stderr  # findings at or above high
    found = {f["detector"] for f in json.loads((tmp_path / "report.json").read_text())["findings"]}
    assert {"mass_delete", "malware", "annotation_tampering"} <= found


def test_the_guides_restore_plan_restores_the_planted_keys(planted, tmp_path):
    manifest = json.loads((planted / "manifest.json").read_text())
    args = commands(cli("fixtures", "incidents", str(planted)).stdout, "restore-plan")
    args[args.index("--output") + 1] = str(tmp_path / "incident")
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((tmp_path / "incident.json").read_text())
    restored = {(r["key"], r["hidden_version_id"]) for r in plan["restores"]}
    expected = {(h["key"], h["version_id"]) for h in manifest["incidents"]["mass_delete"]["hidden_versions"]}
    assert restored == expected and expected


def test_no_generated_data_is_one_line_exit_2(tmp_path):
    proc = cli("fixtures", "incidents", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.startswith("s3meta: error: no generated data at")
    (tmp_path / "manifest.json").write_text('{"incidents": {}}')
    with pytest.raises(DataError, match="no planted incident"):
        demo.window(demo.incidents(tmp_path))
