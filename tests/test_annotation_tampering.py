"""The annotation_tampering detector: on hand-made evidence one rule at a time, on generated data, and configured."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

import analytics
from analytics import detectors, fixtures, report
from analytics.detectors import Allowlist, Inputs
from analytics.detectors.annotation import RUNBOOK, protected_regex
from analytics.errors import BadInput
from conftest import cli

SINCE = datetime(2025, 11, 20)
UNTIL = datetime(2025, 11, 21)
BASELINE = SINCE - timedelta(days=7)
H = timedelta(hours=1)
A, P, X = "111122223333", "444455556666", "210987654321"
END = datetime(2025, 11, 30)


def change(record_type, at, requester, ip, name="pii-classification", key="finance/a.csv", previous="CREATE_ANNOTATION",
           seq="0009"):
    return {"grain": "change", "bucket": "b", "key": key, "version_id": "v1", "sequence_number": seq,
            "record_type": record_type, "record_timestamp": at, "requester": requester, "source_ip_address": ip,
            "annotation_name": name, "e_tag": None if record_type == "DELETE_ANNOTATION" else "e2",
            "previous_type": previous, "previous_e_tag": "e1" if previous else None,
            "previous_requester": A if previous else None, "previous_at": None, "hour": None, "in_window": True,
            "events": 1, "protected_changes": None, "first_seen": at, "last_seen": at}


def aggregate(grain, requester, ip=None, hour=None, events=3, in_window=False, protected_changes=0):
    at = hour or BASELINE + 2 * H
    return {"grain": grain, "bucket": "b", "key": "", "version_id": None, "sequence_number": "", "record_type": None,
            "record_timestamp": None, "requester": requester, "source_ip_address": ip, "annotation_name": None,
            "e_tag": None, "previous_type": None, "previous_e_tag": None, "previous_requester": None,
            "previous_at": None, "hour": hour, "in_window": in_window, "events": events,
            "protected_changes": protected_changes if grain == "actor" else None, "first_seen": at,
            "last_seen": at + timedelta(minutes=30)}


def pair(requester, ip, in_window=False):
    at = SINCE + H if in_window else BASELINE + H
    return {"grain": "pair", "bucket": "b", "requester": requester, "source_ip_address": ip, "in_window": in_window,
            "events": 5, "first_seen": at, "last_seen": at}


# The compliance team (A, 10.0.0.1) maintains protected annotations; the pipeline (P) only uploads.
BASE = [aggregate("actor", A, "10.0.0.1", protected_changes=2), aggregate("actor", P, "10.0.0.9")]


def detect(rows, activity=(), **options):
    d = detectors.DETECTORS["annotation_tampering"]
    inputs = Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, activity=list(activity),
                    evidence={"annotation_tampering": [(None, list(rows))]})
    allowlist = options.pop("_allowlist", Allowlist())
    return d.detect(inputs, {**d.defaults, "_allowlist": allowlist, "_rules": [], **options})


def test_the_maintainer_changing_protected_annotations_from_a_known_address_is_no_finding():
    rows = BASE + [change("DELETE_ANNOTATION", SINCE + 2 * H, A, "10.0.0.1"),
                   change("CREATE_ANNOTATION", SINCE + 3 * H, A, "10.0.0.1", seq="0010")]
    assert detect(rows) == []


def test_a_known_account_that_never_maintained_them_is_high():
    rows = BASE + [change("DELETE_ANNOTATION", SINCE + 2 * H, P, "10.0.0.9", name="retention")]
    [f] = detect(rows)
    assert (f.severity, f.bucket, f.evidence["requester"], f.evidence["new_actor"]) == ("high", "b", P, False)
    assert f.evidence["changes"] == {"deleted": 1} and f.evidence["names"] == {"retention": 1}
    assert f.title == f"Protected annotations changed by {P}: 1 deleted"
    assert f.events == (("b", "finance/a.csv", "0009"),) and "permanent and not replicated" in f.runbook


def test_a_never_seen_account_is_critical_and_every_kind_of_change_is_told():
    rows = BASE + [change("DELETE_ANNOTATION", SINCE + 2 * H, X, "198.18.44.7"),
                   change("CREATE_ANNOTATION", SINCE + 2 * H, X, "198.18.44.7", name="retention", seq="0010",
                          previous="UPDATE_ANNOTATION_METADATA"),
                   change("CREATE_ANNOTATION", SINCE + 2 * H, X, "198.18.44.7", name="legal-hold", seq="0011",
                          previous=None),
                   change("CREATE_ANNOTATION", SINCE + 2 * H, X, "198.18.44.7", seq="0012",
                          previous="DELETE_ANNOTATION")]
    [f] = detect(rows)
    assert f.severity == "critical" and f.evidence["new_requester"] and f.evidence["new_source_ips"] == ["198.18.44.7"]
    # after a write: overwritten; after nothing (or a delete): written, since the journal cannot tell
    assert f.evidence["changes"] == {"deleted": 1, "overwritten": 1, "written": 2} and f.evidence["count"] == 4
    assert f.title.startswith(f"Protected annotations changed by {X} (never seen before): 1 deleted and 1 overwritten")


def test_while_learning_nobody_is_new_and_unconfigured_findings_cannot_page():
    # The journal was just enabled: no baseline, so every account and address would look new.
    rows = [change("DELETE_ANNOTATION", SINCE + 2 * H, X, "198.18.44.7")]
    inputs = Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, activity=[pair(A, "10.0.0.1", in_window=True)],
                    evidence={"annotation_tampering": [(None, rows)]}, min_baseline=timedelta(hours=24))
    assert inputs.learning
    found = detectors.run_all(inputs, {"annotation_tampering": {}})
    assert [(f.severity, f.evidence["new_actor"]) for f in found] == [("info", False)]
    # Writers named in the config are not learned from the baseline: a change by anyone else still pages.
    found = detectors.run_all(inputs, {"annotation_tampering": {"writers": [A]}})
    assert [f.severity for f in found] == ["high"]


def test_the_maintainer_from_a_never_seen_address_is_critical():
    rows = BASE + [change("DELETE_ANNOTATION", SINCE + 2 * H, A, "203.0.113.200")]
    [f] = detect(rows)
    assert f.severity == "critical" and not f.evidence["new_requester"]
    assert f.evidence["new_source_ips"] == ["203.0.113.200"] and "from 203.0.113.200, never seen before" in f.title
    # Seen in the object activity of the baseline, or allowlisted: a known address.
    assert detect(rows, activity=[pair(A, "203.0.113.200")]) == []
    assert detect(rows, _allowlist=Allowlist.parse(cidrs=["203.0.113.0/24"])) == []


def test_allowlist_writers_and_learning_settings():
    rows = [aggregate("actor", P, "10.0.0.9"), change("DELETE_ANNOTATION", SINCE + 2 * H, P, "10.0.0.9")]
    assert [f.severity for f in detect(rows)] == ["high"]
    assert detect(rows, writers=[P]) == []
    allow = Allowlist.parse(accounts=[P])
    assert detect(rows, _allowlist=allow) == []
    assert [f.severity for f in detect(rows, _allowlist=allow, use_allowlist=False)] == ["high"]
    learned = BASE + [change("DELETE_ANNOTATION", SINCE + 2 * H, A, "10.0.0.1")]
    assert [f.evidence["requester"] for f in detect(learned, learn_writers=False)] == [A]


def test_s3_itself_is_never_a_tamperer():
    assert detect(BASE + [change("CREATE_ANNOTATION", SINCE + H, "s3.amazonaws.com", None)]) == []


def test_a_burst_of_annotation_deletes_against_the_baseline():
    quiet = [aggregate("deletes", P, hour=BASELINE + i * H, events=2) for i in range(7 * 24)]
    burst = [aggregate("deletes", P, hour=SINCE + 5 * H, events=400, in_window=True)]
    journal = [dict(pair(A, "10.0.0.1"), first_seen=BASELINE)]  # the journal is observed from BASELINE on
    [f] = detect(BASE + quiet + burst, activity=journal)
    assert (f.severity, f.evidence["requester"], f.evidence["count"]) == ("high", P, 400)
    assert not f.evidence["new_actor"]
    assert f.title == f"Burst of annotation deletes by {P}: 400 in 2 h (baseline peak 4)" and f.runbook == RUNBOOK
    assert detect(BASE + quiet + [dict(burst[0], events=40)], activity=journal) == []  # under burst_min_count
    assert detect(BASE + quiet + burst, activity=journal, burst_min_count=500) == []
    new = [aggregate("deletes", X, hour=SINCE + 5 * H, events=80, in_window=True)]
    assert [(f.severity, f.evidence["requester"]) for f in detect(BASE + new)] == [("critical", X)]


@pytest.mark.parametrize("patterns,regex", [
    (["pii*", "retention*", "legal-hold*", "classification*"], "^(pii.*|retention.*|legal\\-hold.*|classification.*)$"),
    (["PII-?", "a.b"], "^(pii\\-.|a\\.b)$"), ([], "^$")])
def test_protected_patterns_become_one_regular_expression(patterns, regex):
    assert protected_regex(patterns) == regex


@pytest.mark.parametrize("bad", ["pii*", ["pii)|(.*"], ["a b"], [""], [1]])
def test_bad_protected_patterns_are_refused(bad):
    with pytest.raises(ValueError, match="protected"):
        protected_regex(bad)


# --- generated data ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("tamper")
    return out, fixtures.generate(out, rows=20_000, seed=9, days=14, end=END)


def _window(manifest):
    since = datetime.fromisoformat(manifest["incidents"]["annotation_tampering"]["since"])
    hour = since.replace(minute=0, second=0)
    return hour - timedelta(hours=6), hour + timedelta(hours=6)


def test_the_planted_incident_is_found_and_nothing_else(generated):
    out, manifest = generated
    inc = manifest["incidents"]["annotation_tampering"]
    since, until = _window(manifest)
    with analytics.connect(data=out, clock=lambda: END) as session:
        r = report.run(session, since=since, until=until)
    found = [f for f in r.findings if f.detector == "annotation_tampering"]
    assert len(found) == 1
    f = found[0]
    assert (f.severity, f.bucket, f.evidence["requester"], f.evidence["source_ip"]) == (
        "critical", inc["bucket"], inc["actor"], inc["ip"])
    assert f.evidence["count"] == inc["count"] and f.evidence["changes"]["deleted"] == len(inc["deleted"])
    assert sum(f.evidence["changes"].values()) - f.evidence["changes"]["deleted"] == len(inc["rewritten"])
    planted = {(i["key"], i["name"]) for i in inc["deleted"] + inc["rewritten"]}
    assert {(s["key"], s["name"]) for s in f.evidence["sample"]} <= planted and len(f.events) == inc["count"]


@pytest.mark.parametrize("seed", [1, 2])
def test_no_finding_on_data_without_incidents(tmp_path, seed):
    """The compliance team's routine rewrites and deletes, the pipeline's labels: daily runs find nothing."""
    from test_detectors import daily_findings

    fixtures.generate(tmp_path, rows=20_000, seed=seed, days=14, end=END, incidents=False)
    found = daily_findings(tmp_path, report.parse_config({}))
    assert [f.title for f in found if f.detector == "annotation_tampering"] == []


def test_settings_come_from_the_config_file(generated, tmp_path):
    out, manifest = generated
    since, until = _window(manifest)
    config = tmp_path / "config.toml"
    config.write_text('[report.detectors.annotation_tampering]\nprotected = ["ml-*"]\nlearn_writers = false\n'
                      'severity = "medium"\nnew_actor_severity = "high"\n')
    with analytics.connect(data=out, clock=lambda: END) as session:
        r = report.run(session, since=since, until=until, config=config)
    found = [f for f in r.findings if f.detector == "annotation_tampering"]
    # The incident changed no ml-labels; the pipeline's own ml-labels changes are flagged once it is not learned.
    assert found and all(set(f.evidence["names"]) == {"ml-labels"} for f in found)
    assert {f.evidence["requester"] for f in found} == {fixtures.LABEL_PIPELINE}
    assert {f.severity for f in found} <= {"medium", "high"}


@pytest.mark.parametrize("text,message", [
    ('protected = "pii*"', "detectors.annotation_tampering.protected must be a list of strings"),
    ('writers = [111122223333]', "detectors.annotation_tampering.writers must be a list of strings"),
    ('learn_writers = "yes"', "learn_writers must be true or false"),
    ('burst_min_count = -1', "burst_min_count must be a number >= 0"),
    ('protectd = ["x"]', "unknown key detectors.annotation_tampering.'protectd'"),
])
def test_bad_settings_are_one_line_and_exit_2(generated, tmp_path, text, message):
    out, _ = generated
    config = tmp_path / "config.toml"
    config.write_text(f"[report.detectors.annotation_tampering]\n{text}\n")
    proc = cli("report", "--data", str(out), "--config", str(config), "--since", "2025-11-28", "--until", "2025-11-29")
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_pattern_the_query_cannot_take_is_bad_input(generated, tmp_path):
    out, _ = generated
    config = tmp_path / "config.toml"
    config.write_text('[report.detectors.annotation_tampering]\nprotected = ["pii)|(.*"]\n')
    with analytics.connect(data=out, clock=lambda: END) as session:
        with pytest.raises(BadInput, match=r"\[report.detectors.annotation_tampering\] protected: 'pii\)\|\(\.\*'"):
            report.run(session, since="2025-11-28", until="2025-11-29", config=config)
    proc = cli("report", "--data", str(out), "--config", str(config), "--since", "2025-11-28", "--until", "2025-11-29")
    assert proc.returncode == 2 and proc.stderr.startswith("s3meta: error: [report.detectors.annotation_tampering]")


def test_the_cli_report_fails_on_the_incident_with_the_runbook(generated, tmp_path):
    out, manifest = generated
    since, until = _window(manifest)
    proc = cli("report", "--data", str(out), "--since", since.isoformat(), "--until", until.isoformat(),
               "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    [f] = [f for f in doc["findings"] if f["detector"] == "annotation_tampering"]
    assert f["severity"] == "critical" and "Annotation deletes are permanent and not replicated" in f["runbook"]
