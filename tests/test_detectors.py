"""Detectors on hand-made inputs (one rule at a time), and on generated data with and without incidents."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

import analytics
from analytics import detectors, fixtures, report
from analytics.detectors import Allowlist, Finding, Inputs, run_all, severity_rank

SINCE = datetime(2025, 11, 20)
UNTIL = datetime(2025, 11, 21)
BASELINE = SINCE - timedelta(days=7)
H = timedelta(hours=1)
END = datetime(2025, 11, 30)
KMS_RULE = {"encryption_rules": [{"bucket": "acme-prod-data", "prefix": "ssekms-only/", "require": ["SSE-KMS"]}]}


def row(grain, hour, events, bucket="b", kind="DELETE_MARKER", actor_class="user", prefix="data/",
        requester="111122223333", ip="192.0.2.10", delete_ip=None):
    return {"grain": grain, "bucket": bucket, "top_level_prefix": prefix if grain == "prefix" else None,
            "requester": requester if grain in ("requester", "pair") else None,
            "source_ip_address": ip if grain == "pair" else None,
            "delete_ip": delete_ip if grain == "ip" else None, "kind": kind if grain != "pair" else None,
            "actor_class": actor_class if grain == "prefix" else None, "hour": hour if grain != "pair" else None,
            "in_window": hour >= SINCE, "events": events, "first_seen": hour, "last_seen": hour + timedelta(minutes=30)}


def background(grain, per_hour=3, **kw):
    """A quiet baseline: a few events every hour of the week before the window."""
    return [row(grain, BASELINE + i * H, per_hour, **kw) for i in range(7 * 24)]


def inputs(rows, **kw) -> Inputs:
    return Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, activity=rows, **kw)


def detect(name, data, **options):
    d = detectors.DETECTORS[name]
    return d.detect(data, {**d.defaults, "_allowlist": Allowlist(), "_rules": [], **options})


# --- statistics --------------------------------------------------------------------------------------

def test_median_and_mad():
    assert detectors.median([1, 2, 3, 100]) == 2.5
    assert detectors.mad([1, 1, 1, 1], 1) == 0
    assert detectors.mad([1, 2, 3, 4, 100], 3) == pytest.approx(1.4826)


def test_severities_are_ordered():
    assert [severity_rank(s) for s in ("info", "low", "medium", "high", "critical")] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        severity_rank("urgent")


def test_fingerprint_is_stable_and_depends_on_key_facts():
    a = Finding("mass_delete", "high", "t", "b", {}, "r", subject=("requester", "1"))
    b = Finding("mass_delete", "critical", "other title", "b", {"x": 1}, "r", subject=("requester", "1"))
    c = Finding("mass_delete", "high", "t", "b", {}, "r", subject=("requester", "2"))
    assert a.fingerprint == b.fingerprint != c.fingerprint


# --- delete detectors --------------------------------------------------------------------------------

def test_delete_spike_against_the_baseline_and_its_minimum_count():
    rows = background("prefix") + [row("prefix", SINCE + 10 * H, 120)]
    found = detect("delete_spike", inputs(rows))
    assert [(f.bucket, f.evidence["prefix"], f.severity) for f in found] == [("b", "data/", "high")]
    assert found[0].evidence["baseline"]["peak_per_span"] == 6  # 2-hour spans of 3 + 3
    assert detect("delete_spike", inputs(rows), min_count=500) == []
    quiet = background("prefix") + [row("prefix", SINCE + 10 * H, 12)]
    assert detect("delete_spike", inputs(quiet)) == []  # 3x the baseline peak, but under min_count


def test_delete_spike_leaves_lifecycle_out():
    rows = background("prefix") + [row("prefix", SINCE + 2 * H, 5000, actor_class="lifecycle")]
    assert detect("delete_spike", inputs(rows)) == []


def test_mass_delete_by_a_new_requester_is_critical_and_lifecycle_is_left_out():
    rows = background("requester") + [row("pair", BASELINE, 10)]
    rows += [row("requester", SINCE + 5 * H, 200, requester="999988887777"),
             row("requester", SINCE + 5 * H, 9000, requester="s3.amazonaws.com"),
             row("pair", SINCE + 5 * H, 200, requester="999988887777", ip="203.0.113.66")]
    found = detect("mass_delete", inputs(rows))
    assert len(found) == 1
    f = found[0]
    assert (f.severity, f.evidence["requester"], f.evidence["source_ip"], f.evidence["new_actor"]) == \
        ("critical", "999988887777", "203.0.113.66", True)


def test_mass_delete_by_a_known_requester_is_high():
    rows = background("requester") + [row("pair", BASELINE, 10), row("requester", SINCE + 5 * H, 200)]
    assert [f.severity for f in detect("mass_delete", inputs(rows))] == ["high"]


def test_a_known_account_deleting_from_a_never_seen_ip_is_critical():
    # Stolen keys: the account is routine, the address is not.
    rows = background("requester") + [row("pair", BASELINE, 10)]
    rows += [row("requester", SINCE + 5 * H, 200),
             row("pair", SINCE + 5 * H, 200, ip="203.0.113.66")]
    (f,) = detect("mass_delete", inputs(rows))
    assert (f.severity, f.evidence["new_actor"], f.evidence["new_source_ips"]) == ("critical", True, ["203.0.113.66"])
    assert "from 203.0.113.66, never seen in the baseline" in f.title


def test_a_never_seen_actor_needs_fewer_deletes():
    rows = background("requester") + [row("pair", BASELINE, 10)]
    few = [row("requester", SINCE + 5 * H, 25, requester="999988887777"),
           row("pair", SINCE + 5 * H, 25, requester="999988887777", ip="203.0.113.66")]
    assert [f.severity for f in detect("mass_delete", inputs(rows + few))] == ["critical"]
    # 25 deletes by a known account from a known address is routine at this minimum count.
    known = [row("requester", SINCE + 5 * H, 25), row("pair", SINCE + 5 * H, 25)]
    assert detect("mass_delete", inputs(rows + known)) == []
    # Fewer than new_actor_min_count is not a mass delete, however new the actor.
    tiny = [row("requester", SINCE + 5 * H, 19, requester="999988887777")]
    assert detect("mass_delete", inputs(rows + tiny)) == []


def test_mass_delete_by_ip_when_requesters_differ():
    rows = [row("ip", SINCE + 3 * H, 40, delete_ip="203.0.113.7"),
            row("ip", SINCE + 4 * H, 40, delete_ip="203.0.113.7")]
    found = detect("mass_delete", inputs(rows))
    assert [(f.evidence["actor_type"], f.evidence["source_ip"]) for f in found] == [("ip", "203.0.113.7")]


def test_a_burst_before_since_in_the_hour_that_straddles_it_is_not_in_the_window():
    # The run at 11:05 (window from 09:05): the burst 09:00:30 to 09:03:30 is in hour 09, before since.
    since, hour = SINCE + 9 * H + timedelta(minutes=5), SINCE + 9 * H
    stamps = {"first_seen": hour + timedelta(seconds=30), "last_seen": hour + timedelta(minutes=3, seconds=30)}
    actor = {"requester": "999988887777", "ip": "203.0.113.66", "delete_ip": "203.0.113.66"}
    burst = [dict(row(grain, hour, 300, **actor), **stamps) for grain in ("requester", "ip", "pair")]
    later = [dict(row(grain, hour, 4, **actor), first_seen=since + H / 6, last_seen=since + H / 4)
             for grain in ("requester", "ip", "pair")]  # a few deletes after since, in the same hour
    rows = background("requester") + [row("pair", BASELINE, 10)]
    for r in burst:
        r["in_window"] = False
    for r in later:
        r["in_window"] = True
    data = Inputs(since=since, until=since + 2 * H, baseline_since=BASELINE, activity=rows + burst + later)
    assert detect("mass_delete", data) == [] and detect("delete_spike", data) == []
    # With the burst inside the window it is one finding, by account, which explains the address.
    for r in burst:
        r["in_window"] = True
    data = Inputs(since=hour, until=since + 2 * H, baseline_since=BASELINE, activity=rows + burst + later)
    (f,) = detect("mass_delete", data)
    assert (f.evidence["actor_type"], f.evidence["count"], f.first_seen, f.last_seen) == \
        ("requester", 304, stamps["first_seen"], since + H / 4)


def test_while_learning_novelty_cannot_page_and_absolute_rules_still_do():
    # The journal was enabled an hour before the window: everything is "new", nothing is known.
    rows = [row("requester", SINCE + 5 * H, 300, requester="999988887777"),
            row("pair", SINCE + 5 * H, 300, requester="999988887777", ip="203.0.113.66"),
            row("pair", SINCE - H, 5, requester="111122223333", ip="192.0.2.10"),
            row("prefix", SINCE + 5 * H, 300), row("prefix", SINCE - H, 5)]
    configured = {"bucket": "b", "prefix": "kms/", "require": ["SSE-KMS"]}
    inferred = {**configured, "prefix": "auto/", "inferred": True, "baseline_uploads": 12}
    evidence = {"malware": [(None, [scan("x.exe", "THREATS_FOUND")])],
                "encryption_rule": [(configured, [upload("kms/a", "SSE-S3")]), (inferred, [upload("auto/b", None)])]}
    data = Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, activity=rows, evidence=evidence,
                  min_baseline=timedelta(hours=24))
    assert data.learning and data.baseline_hours == 1
    found = {(f.detector, f.evidence.get("prefix")): f for f in run_all(data, {})}
    assert found[("malware", None)].severity == "critical"
    assert found[("encryption_rule", "kms/")].severity == "high"
    assert found[("encryption_rule", "auto/")].severity == "info"  # a rule inferred from one hour
    mass = found[("mass_delete", None)]
    assert (mass.severity, mass.evidence["new_actor"], mass.evidence["learning"]) == \
        ("info", False, "high once the baseline covers 24 h (it covers 1 h)")
    assert "never seen" not in mass.title and found[("delete_spike", "data/")].severity == "info"
    assert not [f for f in found.values() if f.detector in ("new_requester", "new_source_ip")]
    # With a day of baseline, the same burst is the critical it is.
    data.min_baseline = timedelta(0)
    assert [f.severity for f in run_all(data, {}) if f.detector == "mass_delete"] == ["critical"]


def test_permanent_deletes_feed_the_unattributed_detector_only():
    rows = background("prefix", actor_class="unattributed") + \
        [row("prefix", SINCE + 1 * H, 400, kind="DELETE", actor_class="unattributed"),
         row("requester", SINCE + 1 * H, 400, kind="DELETE", requester=None)]
    data = inputs(rows)
    assert detect("delete_spike", data) == [] and detect("mass_delete", data) == []
    found = detect("unattributed_deletes", data)
    assert [(f.detector, f.severity, f.evidence["count"]) for f in found] == \
        [("unattributed_deletes", "medium", 400)]


# --- actors ------------------------------------------------------------------------------------------

def test_new_requester_and_ip_ignore_null_and_allowlists():
    rows = [row("pair", BASELINE + H, 5, requester="111122223333", ip="192.0.2.10"),
            row("pair", SINCE + H, 5, requester="222233334444", ip="10.1.2.3"),
            row("pair", SINCE + H, 5, requester=None, ip=None),
            row("pair", SINCE + H, 5, requester="111122223333", ip="2001:db8::7")]
    data = inputs(rows)
    assert [f.evidence["requester"] for f in detect("new_requester", data)] == ["222233334444"]
    assert {f.evidence["source_ip"] for f in detect("new_source_ip", data)} == {"10.1.2.3", "2001:db8::7"}
    allow = Allowlist.parse(cidrs=["10.0.0.0/8", "2001:db8::/32"], accounts=["222233334444"])
    assert detect("new_requester", data, _allowlist=allow) == []
    assert detect("new_source_ip", data, _allowlist=allow) == []


def test_state_first_seen_sets_count_as_known():
    rows = [row("pair", SINCE + H, 5, requester="222233334444", ip="10.1.2.3")]
    data = inputs(rows, known_ips={"10.1.2.3": BASELINE}, known_requesters={"222233334444": BASELINE})
    assert detect("new_requester", data) == [] and detect("new_source_ip", data) == []


def test_change_surge_by_one_account_leaves_services_out():
    rows = background("requester", kind="UPDATE_METADATA")
    rows += [row("requester", SINCE + 9 * H, 900, kind="UPDATE_METADATA"),
             row("requester", SINCE + 9 * H, 900, kind="UPDATE_METADATA",
                 requester="malware-protection-plan.guardduty.amazonaws.com")]
    found = detect("change_surge", inputs(rows))
    assert [(f.evidence["requester"], f.evidence["record_type"]) for f in found] == [
        ("111122223333", "UPDATE_METADATA")]


# --- encryption and malware ---------------------------------------------------------------------------

def upload(key, status, seq="0001", requester="111122223333", ip="192.0.2.10", bucket="b", **kw):
    return {"bucket": bucket, "key": key, "sequence_number": seq, "version_id": None, "record_timestamp": SINCE + H,
            "encryption_status": status, "kms_key_arn": None, "size": 1, "requester": requester,
            "source_ip_address": ip, **kw}


def test_rule_violations_are_high_and_not_reported_twice_as_unencrypted():
    rule = {"bucket": "b", "prefix": "kms/", "require": ["SSE-KMS"]}
    bad = [upload("kms/a", None), upload("kms/b", "SSE-S3")]
    data = inputs([], evidence={"unencrypted_upload": [(None, [bad[0], upload("other/c", None)])],
                               "encryption_rule": [(rule, bad)]})
    ruled = detect("encryption_rule", data)
    assert [(f.severity, f.evidence["count"], f.evidence["statuses"]) for f in ruled] == \
        [("high", 2, {"SSE-S3": 1, "unencrypted": 1})]
    plain = detect("unencrypted_upload", data)
    assert [(f.severity, f.evidence["sample_keys"]) for f in plain] == [("medium", ["other/c"])]


def test_kms_only_prefixes_are_inferred_from_the_baseline():
    from analytics.detectors.encryption import inferred_rules

    def creates(prefix, events, kms, in_window=False, bucket="b"):
        return {"grain": "prefix", "kind": "CREATE", "in_window": in_window, "bucket": bucket,
                "top_level_prefix": prefix, "events": events, "kms_events": kms}

    activity = [creates("kms/", 15, 15), creates("kms/", 10, 10),      # 25 uploads, all KMS: inferred
                creates("mixed/", 30, 29),                              # one SSE-S3 upload: no rule
                creates("few/", 5, 5),                                  # too few to tell
                creates("late/", 40, 40, in_window=True),               # the window is not the baseline
                creates("", 50, 50),                                    # the bucket root is no prefix
                creates("ruled/", 30, 30), creates("kms/", 30, 30, bucket="other")]
    rules = inferred_rules(activity, [{"bucket": "b", "prefix": "ruled/", "require": ["SSE-KMS"]}], 20)
    assert [(r["bucket"], r["prefix"], r["baseline_uploads"], r["inferred"]) for r in rules] == [
        ("b", "kms/", 25, True), ("other", "kms/", 30, True)]
    assert rules[0]["require"] == ["SSE-KMS", "DSSE-KMS"]
    assert inferred_rules(activity, [], 0) == []  # infer_min_uploads = 0 turns inference off


def test_encryption_downgrade_weaker_and_other_key():
    changes = [upload("a", None, previous_status="SSE-KMS", change="weaker", previous_kms_key_arn="k1"),
               upload("b", "SSE-KMS", kms_key_arn="k2", previous_status="SSE-KMS", previous_kms_key_arn="k1",
                      change="other_kms_key")]
    data = inputs([], evidence={"encryption_downgrade": [(None, changes)]})
    found = {f.evidence["change"]: f for f in detect("encryption_downgrade", data)}
    assert found["weaker"].severity == "medium"
    assert found["weaker"].evidence["transitions"] == {"SSE-KMS -> unencrypted": 1}
    assert found["other_kms_key"].severity == "low"


def scan(key, status, seq="0002"):
    return {"bucket": "b", "key": key, "version_id": "v1", "sequence_number": seq, "scan_status": status,
            "scanned_at": SINCE + 2 * H, "size": 10, "uploaded_at": SINCE + H, "uploader": "444455556666",
            "upload_ip": "198.51.100.9", "scan_requester": "malware-protection-plan.guardduty.amazonaws.com"}


def test_malware_threats_are_critical_failures_lower_unsupported_skipped():
    data = inputs([], evidence={"malware": [(None, [scan("x.exe", "THREATS_FOUND"), scan("y", "ACCESS_DENIED"),
                                                  scan("z", "FAILED"), scan("u", "UNSUPPORTED")])]})
    found = sorted((f.severity, f.evidence["scan_status"]) for f in detect("malware", data))
    assert found == [("critical", "THREATS_FOUND"), ("low", "FAILED"), ("medium", "ACCESS_DENIED")]
    threat = next(f for f in detect("malware", data) if f.severity == "critical")
    assert (threat.evidence["requester"], threat.evidence["source_ip"]) == ("444455556666", "198.51.100.9")


def test_severity_override_and_disable():
    data = inputs([], evidence={"malware": [(None, [scan("x.exe", "THREATS_FOUND")])]})
    assert [f.severity for f in run_all(data, {"malware": {"severity": "high"}})] == ["high"]
    assert run_all(data, {"malware": {"enabled": False}}) == []


# --- generated data: every planted incident found; nothing high on quiet data ---------------------------

@pytest.fixture(scope="module")
def incidents(tmp_path_factory):
    out = tmp_path_factory.mktemp("incidents")
    return out, fixtures.generate(out, rows=30000, seed=5, days=14, end=END)


def daily_findings(data, config, days=range(24, 31)):
    """Scheduled daily runs with a state over the last week: every new finding they report."""
    from analytics.report.state import State
    state, found = State(), []
    with analytics.connect(data=data) as session:
        for day in days:
            r = report.run(session, until=datetime(2025, 11, 1) + timedelta(days=day - 1), config=config, state=state)
            found += [f for f in r.findings if f.new]
            r.commit()
    return found


@pytest.mark.parametrize("config", [KMS_RULE, {}], ids=["configured-rule", "no-config"])
def test_every_planted_incident_is_found(incidents, config):
    data, manifest = incidents
    found = daily_findings(data, report.parse_config(config))
    m = manifest["incidents"]

    mass = [f for f in found if f.detector == "mass_delete" and f.evidence["requester"] == m["mass_delete"]["actor"]]
    assert mass and mass[0].bucket == m["mass_delete"]["bucket"] and mass[0].severity == "critical"
    assert mass[0].evidence["source_ip"] == m["mass_delete"]["ip"]
    assert mass[0].evidence["count"] >= m["mass_delete"]["count"]
    assert all(k.startswith("finance/") for k in mass[0].evidence["sample_keys"])

    rule = [f for f in found if f.detector == "encryption_rule"]
    assert len(rule) == 1 and rule[0].severity == "high" and rule[0].bucket == m["unencrypted_kms_only"]["bucket"]
    assert rule[0].evidence["count"] == m["unencrypted_kms_only"]["count"]
    assert (rule[0].evidence["requester"], rule[0].evidence["source_ip"]) == \
        (m["unencrypted_kms_only"]["requester"], m["unencrypted_kms_only"]["ip"])
    assert set(rule[0].evidence["sample_keys"]) <= set(m["unencrypted_kms_only"]["keys"])
    # Without a configured rule, the prefix's KMS-only baseline is the rule.
    assert rule[0].evidence["rule"] == ("configured" if config else "inferred")

    malware = [f for f in found if f.detector == "malware" and f.evidence.get("scan_status") == "THREATS_FOUND"]
    assert len(malware) == 1 and malware[0].severity == "critical"
    mu = m["malware_upload"]
    assert (malware[0].bucket, malware[0].evidence["key"], malware[0].evidence["requester"],
            malware[0].evidence["source_ip"]) == (mu["bucket"], mu["key"], mu["requester"], mu["ip"])

    assert any(f.detector == "new_requester" and f.evidence["requester"] == m["mass_delete"]["actor"] for f in found)
    tampering = [f for f in found if f.detector == "annotation_tampering"]
    at = m["annotation_tampering"]
    assert [(f.severity, f.bucket, f.evidence["requester"], f.evidence["source_ip"], f.evidence["count"])
            for f in tampering] == [("critical", at["bucket"], at["actor"], at["ip"], at["count"])]
    # Nothing else is high or critical: the planted incidents explain every alarm.
    loud = {(f.detector, f.evidence.get("prefix")) for f in found if severity_rank(f.severity) >= 3}
    assert loud <= {("mass_delete", None), ("delete_spike", "finance/"), ("encryption_rule", "ssekms-only/"),
                    ("malware", None), ("annotation_tampering", None)}


@pytest.mark.parametrize("seed,config", [(1, KMS_RULE), (2, {}), (3, {})])
def test_no_high_or_critical_finding_on_data_without_incidents(tmp_path, seed, config):
    fixtures.generate(tmp_path, rows=20000, seed=seed, days=14, end=END, incidents=False)
    found = daily_findings(tmp_path, report.parse_config(config))
    assert [f.title for f in found if severity_rank(f.severity) >= severity_rank("high")] == []


def test_the_manifest_lists_the_incidents_the_test_checks(incidents):
    _, manifest = incidents
    assert set(manifest["incidents"]) == {"mass_delete", "unencrypted_kms_only", "malware_upload",
                                          "annotation_tampering"}
    json.dumps(manifest)


# --- freshness ---------------------------------------------------------------------------------------

def test_a_bucket_whose_journal_went_silent_is_a_high_finding_once():
    # busy: records every hour of the baseline and of the window's first 18 hours, then nothing.
    busy = [row("prefix", BASELINE + i * H, 3, bucket="busy") for i in range(7 * 24 + 19)]
    # office: records from 08:00 to 18:00 only, so its baseline is quiet for 14 hours every night.
    office = [row("prefix", BASELINE + i * H, 3, bucket="office") for i in range(7 * 24 + 19) if 8 <= i % 24 < 18]
    # fresh: no baseline at all, and quiet since the window's second hour.
    fresh = [row("prefix", SINCE + H, 3, bucket="fresh")]
    data = inputs(busy + office + fresh)
    (f,) = detect("freshness", data)
    assert (f.bucket, f.severity, f.evidence["last_record"]) == ("busy", "high", SINCE + 18.5 * H)
    assert f.title.startswith("Journal silent since 2025-11-20 18:30:00 UTC: no records for 5.5 h")
    assert "(the baseline was never quiet for more than 0.5 h)" in f.title
    assert "aws s3api get-bucket-metadata-configuration --bucket busy" in f.runbook
    # A later run during the same outage finds the same silence: same fingerprint, so one page.
    later = Inputs(since=SINCE + 2 * H, until=UNTIL + 3 * H, baseline_since=BASELINE + 2 * H, activity=data.activity)
    assert [g.fingerprint for g in detect("freshness", later)] == [f.fingerprint]
    # Silent for less than silent_hours (or than the bucket's usual quiet) is not a finding.
    assert detect("freshness", data, silent_hours=6) == []
    quiet_once = [r for r in busy if not SINCE - 30 * H <= r["first_seen"] < SINCE - 24 * H]  # 6.5 h in the baseline
    assert detect("freshness", inputs(quiet_once)) == []
    # The bar is the baseline's: while the report is learning, the finding cannot page.
    learning = Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, activity=data.activity,
                      min_baseline=timedelta(days=8))
    (held,) = [g for g in run_all(learning, {}) if g.detector == "freshness"]
    assert held.severity == "info" and held.evidence["learning"].startswith("high once the baseline covers 192 h")
