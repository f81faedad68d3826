"""Incidents: related findings grouped into one, and the command each says to run next.

On generated data the planted attack (a mass delete by a new account from a new IP) must come out as
one incident whose next command, run as printed, writes the restore plan of exactly the planted keys.
The grouping rules and the shell quoting are checked on hand-made findings.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from datetime import datetime, timedelta

import pytest

import analytics
from analytics import fixtures, report
from analytics.detectors import Finding
from analytics.detectors.wording import burst, duration, plural, seconds_text
from analytics.report.incidents import NEAR, Step, group, shell_quote
from conftest import HAND_INVENTORY, cli, write_tables

END = datetime(2025, 11, 30)
T = datetime(2025, 11, 20, 10)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("incidents")
    manifest = fixtures.generate(out, rows=12000, seed=5, days=14, end=END)
    incident = manifest["incidents"]["mass_delete"]
    hour = datetime.fromisoformat(incident["since"]).replace(minute=0, second=0)
    with analytics.connect(data=out) as session:
        r = report.run(session, since=hour - timedelta(hours=3), until=hour + timedelta(hours=3))
    return out, incident, r


# --- the planted attack -----------------------------------------------------------------------------

def test_the_planted_attack_is_one_incident_first(planted):
    _, incident, r = planted
    first = r.incidents[0]
    assert first.number == 1 and first.severity == "critical"
    assert {f.detector for f in first.findings} >= {"mass_delete", "delete_spike", "new_requester", "new_source_ip"}
    assert first.requesters == [incident["actor"]] and first.source_ips == [incident["ip"]]
    assert first.buckets == [incident["bucket"]] and incident["prefix"] in first.prefixes
    # Nothing of the attack is left outside it.
    for other in r.incidents[1:]:
        assert not {incident["actor"], incident["ip"]} & (set(other.requesters) | set(other.source_ips))


def test_the_mass_delete_title_says_how_long_the_burst_took(planted):
    _, incident, r = planted
    since, until = datetime.fromisoformat(incident["since"]), datetime.fromisoformat(incident["until"])
    mass = next(f for f in r.findings if f.detector == "mass_delete")
    assert burst(incident["count"], "delete", since, until) in mass.title
    assert "in 2 h" not in mass.title and duration(since, until).endswith("min")


def test_the_next_command_restores_exactly_the_planted_keys(planted, tmp_path):
    out, incident, r = planted
    step = r.incidents[0].steps[0]
    until = datetime.fromisoformat(incident["until"]) + timedelta(seconds=1)
    assert step.command == (f"s3meta restore-plan --requester {incident['actor']} --ip {incident['ip']} "
                            f"--bucket {incident['bucket']} --since {incident['since']} --until {until.isoformat()} "
                            "--output incident-1")
    assert shlex.split(step.command) == step.argv
    # Run it as printed, with the report's data folder and the plan written here.
    argv = step.argv[1:]
    argv[argv.index("--output") + 1] = str(tmp_path / "incident-1")
    proc = cli(*argv, "--data", str(out))
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((tmp_path / "incident-1.json").read_text(encoding="utf-8"))
    assert sorted((p["key"], p["hidden_version_id"]) for p in plan["restores"]) == \
        sorted((h["key"], h["version_id"]) for h in incident["hidden_versions"])


def test_json_lists_incidents_and_each_finding_names_its_own(planted):
    _, _, r = planted
    doc = json.loads(r.to_json())
    ids = [i["id"] for i in doc["incidents"]]
    assert len(ids) == len(set(ids)) == len(r.incidents)
    members = [fp for i in doc["incidents"] for fp in i["findings"]]
    assert sorted(members) == sorted(f["fingerprint"] for f in doc["findings"])
    by_fingerprint = {fp: i["id"] for i in doc["incidents"] for fp in i["findings"]}
    for f in doc["findings"]:
        assert f["incident"] == by_fingerprint[f["fingerprint"]]
        assert f["first_seen"] and f["last_seen"]
    first = doc["incidents"][0]
    assert {"id", "number", "severity", "title", "new", "buckets", "requesters", "source_ips", "prefixes",
            "first_seen", "last_seen", "duration_seconds", "findings", "next_steps"} <= set(first)
    assert first["next_steps"][0]["argv"][:2] == ["s3meta", "restore-plan"]


# --- grouping rules ---------------------------------------------------------------------------------

def _f(detector, bucket="b", at=T, minutes=10, severity="medium", **evidence) -> Finding:
    return Finding(detector, severity, f"{detector} {evidence}", bucket, dict(evidence), "Look.",
                   subject=(detector, tuple(sorted(evidence.items())), bucket, at), first_seen=at,
                   last_seen=at + timedelta(minutes=minutes))


def _groups(*findings) -> list[set[str]]:
    return sorted(({f.detector for f in i.findings} for i in group(findings)), key=sorted)


def test_findings_about_one_actor_or_prefix_at_one_time_group():
    assert _groups(_f("a", requester="111122223333"), _f("b", bucket="other", requester="111122223333"),
                   _f("c", source_ip="192.0.2.9"), _f("d", source_ip="192.0.2.9", prefix="x/")) == \
        [{"a", "b"}, {"c", "d"}]
    # A prefix relates findings of one bucket, and a nested prefix counts as the same place.
    assert _groups(_f("a", prefix="finance/"), _f("b", prefix="finance/2025/"), _f("c", bucket="o", prefix="finance/"))\
        == [{"a", "b"}, {"c"}]
    # The prefix all sample keys share stands for a finding's place; keys all over say nothing.
    assert _groups(_f("a", prefix="finance/"), _f("b", sample_keys=["finance/1", "finance/2"]),
                   _f("c", sample_keys=["finance/1", "hr/2"])) == [{"a", "b"}, {"c"}]


def test_time_apart_is_another_incident():
    late = T + timedelta(minutes=10) + NEAR + timedelta(seconds=1)
    assert _groups(_f("a", requester="1"), _f("b", requester="1", at=late)) == [{"a"}, {"b"}]
    assert _groups(_f("a", requester="1"), _f("b", requester="1", at=late - timedelta(seconds=2))) == [{"a", "b"}]


def test_a_service_principal_relates_findings_of_one_bucket_only():
    lifecycle = "s3.amazonaws.com"
    assert _groups(_f("a", requester=lifecycle), _f("b", bucket="other", requester=lifecycle)) == [{"a"}, {"b"}]
    assert _groups(_f("a", requester=lifecycle), _f("b", requester=lifecycle)) == [{"a", "b"}]


def test_an_attack_in_two_steps_is_one_incident():
    # The shape of issue 16's detectors: SSE-C rewrites by a stolen key, then S3 Lifecycle expiring
    # the same prefix; related through the prefix, with the actor's activity as the next command.
    rewrite = _f("sse_c_ransomware", severity="critical", requester="444455556666", source_ip="198.51.100.7",
                 prefix="data/", minutes=20)
    expire = _f("lifecycle_expiration", severity="high", at=T + timedelta(minutes=50), requester="s3.amazonaws.com",
                source_ip=None, prefix="data/")
    [incident] = group([expire, rewrite])
    assert incident.severity == "critical" and [f.detector for f in incident.findings][0] == "sse_c_ransomware"
    assert incident.steps[0].command == ("s3meta query requester_activity -p requester=444455556666 "
                                         "-p since=2025-11-20T10:00:00 -p until=2025-11-20T10:20:01")


def test_incidents_are_worst_first():
    incidents = group([_f("a", severity="low", requester="1"), _f("b", severity="high", requester="2"),
                       _f("c", severity="medium", requester="2"), _f("d", severity="high", requester="3")])
    assert [(i.number, i.severity, len(i.findings)) for i in incidents] == [(1, "high", 2), (2, "high", 1),
                                                                            (3, "low", 1)]


# --- next steps ----------------------------------------------------------------------------------------

def _restore(**evidence) -> list[str]:
    [incident] = group([_f("mass_delete", severity="critical", **evidence)])
    return incident.steps[0].argv


def test_restore_plan_selects_the_actor_exactly():
    assert _restore(actor_type="requester", requester="1", source_ip="192.0.2.1",
                    source_ips={"192.0.2.1": 5})[2:6] == ["--requester", "1", "--ip", "192.0.2.1"]
    # Several addresses: narrowing to the busiest would leave markers behind.
    assert "--ip" not in _restore(actor_type="requester", requester="1", source_ip="192.0.2.1",
                                  source_ips={"192.0.2.1": 5, "192.0.2.2": 1})
    assert _restore(actor_type="ip", requester="1", source_ip="192.0.2.1")[2:5] == ["--ip", "192.0.2.1", "--bucket"]
    # A value that starts with '-' stays a value.
    assert "--requester=-1" in _restore(actor_type="requester", requester="-1")


def test_the_same_query_for_several_findings_is_one_command_over_their_span():
    incidents = group([_f("new_requester", requester="1"),
                       _f("change_surge", requester="1", at=T + timedelta(minutes=30))])
    assert [s.command for s in incidents[0].steps] == [
        "s3meta query requester_activity -p requester=1 -p since=2025-11-20T10:00:00 -p until=2025-11-20T10:40:01"]


@pytest.mark.parametrize("value", ["plain/key.csv", "it's", "new\nline", "bidi\u202egnp.exe", "tab\tand\\slash",
                                   "日本語 $(rm -rf /) `x` *", "\x1b[31mred", "c1\x9bx"])
def test_shell_quoting_gives_bash_the_exact_value(value):
    quoted = shell_quote(value)
    assert quoted.isprintable() and "\u202e" not in quoted  # one visible line, nothing disguised
    shown = subprocess.run(["bash", "-c", f"printf %s {quoted}"], capture_output=True, check=True).stdout
    assert shown.decode("utf-8") == value


def test_a_value_bash_cannot_carry_gets_no_command():
    [incident] = group([_f("new_requester", requester="a\x00b")])
    assert incident.steps == []


def test_step_options_are_the_api_call():
    step = Step("why", ["s3meta", "restore-plan", "--requester", "1", "--ip=-x", "--since", "a", "--output", "o"])
    assert step.options() == {"requester": "1", "ip": "-x", "since": "a", "output": "o"}
    assert Step("", ["s3meta", "query", "q", "-p", "key=a=b"]).options() == {"key": "a=b"}


# --- words ---------------------------------------------------------------------------------------------

def test_counts_and_durations_read_right():
    assert [plural(n, "upload") for n in (0, 1, 2)] == ["0 uploads", "1 upload", "2 uploads"]
    assert [seconds_text(s) for s in (0.2, 40, 896, 3599, 10020, 93600)] == \
        ["under a second", "40 s", "15 min", "1 h", "2 h 47 min", "1 d 2 h"]


def test_one_unencrypted_upload_is_singular(tmp_path):
    rows = [dict(bucket="b", key="plain/a", sequence_number="0001", record_type="CREATE", e_tag="e", size=5,
                 record_timestamp=T, requester="111122223333", source_ip_address="192.0.2.1",
                 storage_class="STANDARD")]
    write_tables(tmp_path, rows, HAND_INVENTORY)
    with analytics.connect(data=tmp_path, clock=lambda: T + timedelta(hours=1)) as session:
        r = report.run(session, since="24h")
    # A journal this young has no baseline: the report is learning and only absolute rules speak.
    assert [f.title for f in r.findings] == ["1 unencrypted upload by 111122223333"]
    for page in (r.render("markdown"), r.render("html")):
        assert "1 finding in 1 incident" in page and "1 journal record in the window" in page
