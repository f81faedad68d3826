"""The attack detectors (issue 16): one rule at a time on hand-made inputs, their evidence queries on
hand-checked rows, then end to end over generated attacks and benign twins, on DuckDB and on Athena."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import analytics
from analytics import detectors, fixtures, report, scenarios
from analytics.detectors import Allowlist, Inputs, severity_rank
from analytics.errors import BadInput
from conftest import write_tables

SINCE = datetime(2025, 11, 20)
UNTIL = datetime(2025, 11, 21)
BASELINE = SINCE - timedelta(days=7)
H = timedelta(hours=1)
DAY = timedelta(days=1)
ME, THEM, GD = "111122223333", "444455556666", "malware-protection-plan.guardduty.amazonaws.com"
IP, BAD_IP = "192.0.2.10", "203.0.113.77"
OWN_KEY = "arn:aws:kms:us-east-1:111122223333:key/own"
FOREIGN_KEY = "arn:aws:kms:us-east-1:210987654321:key/theirs"


def act(grain, hour, events, bucket="b", **columns):
    """One detect_activity row; the columns a grain does not use stay NULL."""
    base = {"grain": grain, "bucket": bucket, "top_level_prefix": None, "requester": None, "source_ip_address": None,
            "delete_ip": None, "kms_key_arn": None, "kind": None, "actor_class": None, "hour": hour,
            "in_window": hour >= SINCE, "events": events, "kms_events": 0, "sse_c_events": 0,
            "first_seen": hour, "last_seen": hour + timedelta(minutes=30)}
    return base | columns


def nightly(grain, per_night, hours=range(1), **columns):
    """The same activity every night of the baseline week, in the given hours after midnight."""
    return [act(grain, BASELINE + d * DAY + h * H, per_night // len(hours), **columns)
            for d in range(7) for h in hours]


def inputs(activity=(), **evidence) -> Inputs:
    return Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, activity=list(activity),
                  evidence={name: [(None, rows)] for name, rows in evidence.items()})


def detect(name, data, **options):
    d = detectors.DETECTORS[name]
    return d.detect(data, {**d.defaults, "_allowlist": Allowlist(), "_rules": [], **options})


def rewrite(key, i=0, record_type="CREATE", requester=THEM, ip=BAD_IP, bucket="b", **columns):
    """One detect_rewrites row: a write or a tag change, and the state it replaced."""
    t = SINCE + 3 * H + i * timedelta(seconds=30)
    base = {"bucket": bucket, "key": key, "version_id": "v2", "sequence_number": f"{i:04d}2",
            "record_type": record_type, "record_timestamp": t, "requester": requester, "source_ip_address": ip,
            "size": 1000, "previous_size": 1000, "encryption_status": "SSE-S3", "previous_status": "SSE-S3",
            "kms_key_arn": None, "previous_kms_key_arn": None, "removed_tags": None, "verdict": None,
            "previous_verdict": None, "previous_version_id": "v1", "previous_sequence_number": f"{i:04d}1",
            "previous_timestamp": t - 2 * DAY, "previous_requester": ME, "overwrite": True}
    return base | columns


def pair(requester, ip, events, bucket="b", in_window=True):
    """A pair-grain row: everything one (requester, IP) did, in the window or the baseline."""
    return act("pair", SINCE + H, events, bucket=bucket, requester=requester, source_ip_address=ip) | {
        "hour": None, "in_window": in_window}


# --- 1. SSE-C ransomware --------------------------------------------------------------------------------

def sse_c_baseline(prefix, per_night):
    return nightly("prefix", 10, bucket="b", top_level_prefix=prefix, kind="CREATE", actor_class="user",
                   sse_c_events=per_night)


def test_sse_c_writes_where_the_baseline_has_none_are_high():
    activity = sse_c_baseline("data/", 0) + sse_c_baseline("legacy/", 2)
    fresh = [rewrite(f"data/{i}.csv", i, encryption_status="SSE-C", overwrite=False, previous_status=None)
             for i in range(5)]
    (f,) = detect("sse_c_ransomware", inputs(activity, sse_c_ransomware=fresh))
    assert (f.severity, f.bucket, f.evidence["requester"], f.evidence["source_ip"]) == ("high", "b", THEM, BAD_IP)
    assert f.evidence["prefixes_without_sse_c_baseline"] == ["data/"] and "data/" in f.title
    assert f.evidence["count"] == 5 and f.evidence["sample_keys"] == [f"data/{i}.csv" for i in range(5)]
    assert detect("sse_c_ransomware", inputs(activity, sse_c_ransomware=fresh[:4])) == []  # under min_count
    routine = [r | {"key": "legacy/" + r["key"][5:]} for r in fresh + fresh]  # the baseline has SSE-C there
    assert detect("sse_c_ransomware", inputs(activity, sse_c_ransomware=routine)) == []


def test_sse_c_rewrites_of_existing_objects_in_volume_are_critical():
    activity = sse_c_baseline("legacy/", 2)
    rows = [rewrite(f"legacy/{i}.pdf", i, encryption_status="SSE-C", previous_status="SSE-KMS" if i % 5 else None)
            for i in range(25)]
    (f,) = detect("sse_c_ransomware", inputs(activity, sse_c_ransomware=rows))
    assert f.severity == "critical" and f.evidence["overwrites"] == 25
    assert f.evidence["previous_encryption"] == {"SSE-KMS": 20, "unencrypted": 5}
    assert f.evidence["baseline"]["busiest_day_sse_c_writes"] == 2
    assert (f.evidence["prefix"], f.first_seen, f.last_seen) == ("legacy/", rows[0]["record_timestamp"],
                                                                 rows[-1]["record_timestamp"])
    assert "revoke" in f.runbook.lower() and "PutBucketLifecycleConfiguration" in f.runbook
    # A client that always writes SSE-C overwrites SSE-C objects: that is not the ransomware signal.
    same = [r | {"previous_status": "SSE-C"} for r in rows]
    assert detect("sse_c_ransomware", inputs(activity, sse_c_ransomware=same)) == []
    # A bucket whose busiest baseline day had 10 SSE-C writes needs more than 3 x 10.
    busy = sse_c_baseline("legacy/", 10)
    assert detect("sse_c_ransomware", inputs(busy, sse_c_ransomware=rows)) == []


# --- 2. lifecycle abuse and 3. low and slow: 24-hour totals --------------------------------------------

def deletes(grain, start, count, hours, **columns):
    """`count` deletes spread evenly over `hours` hours from `start`."""
    return [act(grain, start + h * H, count // hours, **columns) for h in range(hours)]


def test_an_expiration_spread_over_five_hours_is_caught_by_its_daily_total():
    lifecycle = dict(top_level_prefix="media/", kind="DELETE_MARKER", actor_class="lifecycle")
    baseline = [r for d in range(7) for r in deletes("prefix", BASELINE + d * DAY, 60, 2, **lifecycle)]
    attack = deletes("prefix", SINCE, 300, 5, **lifecycle)  # 60 an hour: no 2-hour span reaches 3 x 60
    (f,) = detect("lifecycle_expiration", inputs(baseline + attack))
    assert (f.severity, f.evidence["prefix"], f.evidence["requester"], f.evidence["count"]) == \
        ("high", "media/", "s3.amazonaws.com", 300)
    assert f.evidence["baseline"]["peak_per_span"] == 60 and "PutBucketLifecycleConfiguration" in f.runbook
    assert f.title == "S3 Lifecycle expired 300 objects under media/ in 24 h (baseline busiest day 60)"
    assert f.sample["requester"] == "s3.amazonaws.com"
    # The same rows as permanent deletes (no requester: an unversioned bucket): the 2-hour detector misses them.
    erased = [r | {"kind": "DELETE", "actor_class": "unattributed"} for r in baseline + attack]
    assert detect("unattributed_deletes", inputs(erased)) == []
    (g,) = detect("lifecycle_expiration", inputs(erased))
    assert g.severity == "high" and g.evidence["requester"] is None and "no requester recorded" in g.title
    assert g.sample["unattributed"] == 1
    # Every night at its usual level stays quiet.
    usual = deletes("prefix", SINCE, 80, 2, **lifecycle)
    assert detect("lifecycle_expiration", inputs(baseline + usual)) == []


def test_a_prefix_without_lifecycle_deletes_in_the_baseline_needs_only_new_min_count():
    lifecycle = dict(kind="DELETE_MARKER", actor_class="lifecycle")
    baseline = [r for d in range(7) for r in deletes("prefix", BASELINE + d * DAY, 60, 2, top_level_prefix="logs/",
                                                      **lifecycle)]
    (f,) = detect("lifecycle_expiration", inputs(baseline + deletes("prefix", SINCE, 25, 5, top_level_prefix="legal/",
                                                                      **lifecycle)))
    assert f.evidence["prefix"] == "legal/" and f.evidence["new_prefix"] and "none in the baseline" in f.title
    assert detect("lifecycle_expiration", inputs(baseline + deletes("prefix", SINCE, 15, 5, top_level_prefix="legal/",
                                                                     **lifecycle))) == []


def slow_rows(requester="777788889999", ip=BAD_IP, per_hour=5, hours=24):
    baseline = [act(grain, BASELINE + d * DAY + 10 * H, 3, kind="DELETE_MARKER", **actor) for d in range(7)
                for grain, actor in (("requester", {"requester": requester}), ("ip", {"delete_ip": IP}))]
    window = deletes("requester", SINCE, per_hour * hours, hours, requester=requester, kind="DELETE_MARKER")
    ips = deletes("ip", SINCE, per_hour * hours, hours, delete_ip=ip, kind="DELETE_MARKER")
    return baseline + window + ips + [pair(requester, ip, per_hour * hours), pair(requester, IP, 21, in_window=False)]


def sample(key, i):
    return {"bucket": "b", "key": key, "version_id": f"m{i}", "sequence_number": f"{i:05d}",
            "record_timestamp": SINCE + i * timedelta(minutes=12), "is_delete_marker": True,
            "requester": "777788889999", "source_ip_address": BAD_IP, "request_id": "R"}


def test_slow_deletes_by_a_known_account_are_high_and_say_what_was_deleted():
    activity = slow_rows()
    data = inputs(activity)
    runs = detectors.DETECTORS["slow_deletes"].runs(data, detectors.DETECTORS["slow_deletes"].defaults)
    assert [(context[:3], params) for context, params in runs] == [
        (("b", "requester", "777788889999"), {"bucket": "b", "requester": "777788889999"})]
    rows = [sample(("finance/" if i % 3 else "reports/") + f"{i}.csv", i) for i in range(120)]
    data.evidence["slow_deletes"] = [(runs[0][0], rows)]
    (f,) = detect("slow_deletes", data)
    assert f.severity == "high" and f.evidence["count"] == 120 and f.evidence["baseline"]["peak_per_span"] == 3
    assert f.title == ("Slow deletes by account 777788889999: 120 deletes in 24 h (its busiest baseline day: 3) "
                       f"under finance/ 80, reports/ 40, from {BAD_IP} (never seen before)")
    assert (f.evidence["requester"], f.evidence["source_ip"], f.evidence["prefix"]) == \
        ("777788889999", BAD_IP, "finance/")
    assert f.evidence["new_source_ips"] == [BAD_IP] and f.evidence["delete_markers"] == 120
    # No 2-hour span of 10 deletes is a mass delete, not even for an address never seen before.
    assert detect("mass_delete", data) == []


def test_slow_deletes_leave_bursts_to_mass_delete_and_fewer_deletes_alone():
    burst = slow_rows(per_hour=120, hours=1)
    assert detect("slow_deletes", inputs(burst)) == []
    assert [f.evidence["requester"] for f in detect("mass_delete", inputs(burst))] == ["777788889999"]
    assert detect("slow_deletes", inputs(slow_rows(per_hour=1, ip=IP))) == []  # 24 a day: under min_count
    # From an address never seen before, 24 in a day is enough: it has no norm of its own.
    (f,) = detect("slow_deletes", inputs(slow_rows(per_hour=1)))
    assert (f.evidence["actor_type"], f.evidence["source_ip"], f.evidence["new_actor"]) == ("ip", BAD_IP, True)


# --- 4. KMS key swap ------------------------------------------------------------------------------------

def kms(hour, arn, events=5, bucket="b"):
    return act("ip", hour, events, bucket=bucket, kind="CREATE", kms_key_arn=arn)


def test_writes_under_a_foreign_accounts_key_are_high_whatever_was_there_before():
    other_own_key = "arn:aws:kms:us-east-1:111122223333:key/new-one"
    activity = [kms(BASELINE + d * DAY, OWN_KEY) for d in range(7)] + [
        kms(SINCE + H, OWN_KEY), kms(SINCE + H, other_own_key), kms(SINCE + 2 * H, FOREIGN_KEY, 40)]
    detector = detectors.DETECTORS["kms_key_swap"]
    data = inputs(activity)
    planned = detector.runs(data, detector.defaults)
    assert [params for _, params in planned] == [{"bucket": "b", "kms_key_arn": FOREIGN_KEY}]
    rows = [rewrite(f"exports/{i}.csv", i, requester=ME, encryption_status="SSE-KMS", kms_key_arn=FOREIGN_KEY,
                    previous_status=["SSE-S3", "SSE-KMS", None][i % 3]) for i in range(40)]
    data.evidence["kms_key_swap"] = [(planned[0][0], rows)]
    (f,) = detect("kms_key_swap", data)
    assert (f.severity, f.evidence["kms_key_arn"], f.evidence["kms_account"]) == ("high", FOREIGN_KEY, "210987654321")
    assert f.evidence["owner_inferred_from"] == "baseline keys" and f.evidence["expected_accounts"] == [ME]
    assert f.evidence["previous_encryption"] == {"SSE-KMS": 13, "SSE-S3": 14, "new object": 13}
    assert FOREIGN_KEY in f.title and f.evidence["requester"] == ME and f.evidence["source_ip"] == BAD_IP


def test_the_bucket_owner_comes_from_the_setting_else_the_baseline():
    detector = detectors.DETECTORS["kms_key_swap"]
    # No KMS key in the baseline: accounts that made requests there are taken as the owner's.
    activity = [pair(ME, IP, 10, in_window=False), kms(SINCE + H, OWN_KEY), kms(SINCE + H, FOREIGN_KEY)]
    planned = detector.runs(inputs(activity), detector.defaults)
    assert [(ctx[2][1], params["kms_key_arn"]) for ctx, params in planned] == [("baseline requesters", FOREIGN_KEY)]
    # A configured owner replaces the inference: then only its keys (and the baseline's) are expected.
    def flagged(**setting):
        return [params["kms_key_arn"] for _, params in detector.runs(inputs(activity), {**detector.defaults,
                                                                                       **setting})]
    assert flagged(bucket_owners={"b": "210987654321"}) == [OWN_KEY]
    assert flagged(bucket_owners={"b": ME}) == [FOREIGN_KEY]
    assert flagged(trusted_accounts=["210987654321"]) == []


# --- 5. tag tampering -----------------------------------------------------------------------------------

def test_a_guardduty_verdict_changed_by_anyone_but_guardduty_is_critical():
    verdict = dict(record_type="UPDATE_METADATA", previous_verdict="THREATS_FOUND", previous_requester=GD)
    forged = rewrite("uploads/x.exe", verdict="NO_THREATS_FOUND", removed_tags="", **verdict)
    dropped = rewrite("uploads/y.exe", 1, verdict=None, removed_tags="GuardDutyMalwareScanStatus", **verdict)
    rescan = rewrite("uploads/z.exe", 2, requester=GD, ip=None, verdict="NO_THREATS_FOUND", removed_tags="",
                     **verdict)
    found = detect("tag_tampering", inputs(tag_tampering=[forged, dropped, rescan]))
    assert [(f.severity, f.evidence["requester"], f.evidence["count"]) for f in found] == [("critical", THEM, 2)]
    assert found[0].evidence["verdicts"] == {"(tag removed)": 1, "NO_THREATS_FOUND": 1}
    assert found[0].evidence["objects"][0]["flagged_by"] == GD and "GuardDuty" in found[0].title
    assert detect("tag_tampering", inputs(tag_tampering=[rescan])) == []  # GuardDuty's own rescan


def test_protected_tags_stripped_from_many_objects_by_one_actor_are_high():
    def strip(i, removed, ip=BAD_IP):
        return rewrite(f"finance/{i}.pdf", i, record_type="UPDATE_METADATA", ip=ip, removed_tags=removed)
    rows = [strip(i, "Retention-Until") for i in range(6)] + [strip(i + 6, "classification,env") for i in range(4)]
    activity = [pair(THEM, BAD_IP, 10)]
    (f,) = detect("tag_tampering", inputs(activity, tag_tampering=rows))
    assert f.severity == "high" and f.evidence["removed_tags"] == {"Retention-Until": 6, "classification": 4}
    assert f.evidence["count"] == 10 and f.evidence["prefix"] == "finance/" and "stripped" in f.title
    assert detect("tag_tampering", inputs(activity, tag_tampering=rows[:9])) == []  # under min_count
    # An account retagging all day strips a few in passing: a small share of what it did.
    assert detect("tag_tampering", inputs([pair(THEM, BAD_IP, 200)], tag_tampering=rows)) == []
    # Only the configured keys count.
    other = [strip(i, "owner") for i in range(10)]
    assert detect("tag_tampering", inputs(activity, tag_tampering=other)) == []
    assert len(detect("tag_tampering", inputs(activity, tag_tampering=other), protected_tags=["own*"])) == 1


# --- 6. destroying data without deleting it --------------------------------------------------------------

def test_overwrites_to_empty_or_tiny_objects_by_one_actor_are_high():
    rows = [rewrite(f"images/{i}.jpg", i, requester=ME, size=0 if i % 2 else 12, previous_size=50_000)
            for i in range(12)]
    (f,) = detect("destructive_overwrite", inputs([pair(ME, BAD_IP, 12)], destructive_overwrite=rows))
    assert (f.severity, f.evidence["requester"], f.evidence["source_ip"], f.evidence["empty"]) == \
        ("high", ME, BAD_IP, 6)
    assert (f.evidence["bytes_before"], f.evidence["bytes_after"]) == (600_000, 72)
    assert f.evidence["objects"][0] == {"key": "images/0.jpg", "size_before": 50_000, "size_after": 12}
    assert "600,000 bytes before, 72 after" in f.title
    assert detect("destructive_overwrite", inputs([pair(ME, BAD_IP, 12)], destructive_overwrite=rows[:9])) == []
    assert detect("destructive_overwrite", inputs([pair(ME, BAD_IP, 100)], destructive_overwrite=rows)) == []
    halved = [r | {"size": 25_000} for r in rows]  # half the size is an edit, not destruction
    assert detect("destructive_overwrite", inputs([pair(ME, BAD_IP, 12)], destructive_overwrite=halved)) == []
    new_keys = [r | {"overwrite": False, "previous_size": None} for r in rows]
    assert detect("destructive_overwrite", inputs([pair(ME, BAD_IP, 12)], destructive_overwrite=new_keys)) == []


# --- learning: a journal just enabled -------------------------------------------------------------------

def test_on_an_empty_baseline_only_the_absolute_findings_page():
    """No baseline: "none in the baseline" and "above the busiest day" are not evidence yet (held at info,
    saying what they would be); a forged GuardDuty verdict, stripped tags, destroyed objects and a key of
    an account other than the configured owner's need no baseline."""
    sse_c = [rewrite(f"legacy/{i}.pdf", i, encryption_status="SSE-C") for i in range(25)]
    destroyed = [rewrite(f"images/{i}.jpg", 30 + i, requester=ME, size=0, previous_size=50_000) for i in range(12)]
    forged = [rewrite("uploads/x.exe", 50, record_type="UPDATE_METADATA", previous_verdict="THREATS_FOUND",
                      previous_requester=GD, verdict="NO_THREATS_FOUND", removed_tags="")]
    stripped = [rewrite(f"finance/{i}.pdf", 60 + i, record_type="UPDATE_METADATA", removed_tags="retention",
                        ip="198.51.100.9") for i in range(10)]
    activity = (deletes("prefix", SINCE, 300, 5, top_level_prefix="media/", kind="DELETE_MARKER",
                        actor_class="lifecycle")
                + deletes("requester", SINCE, 120, 24, requester="777788889999", kind="DELETE_MARKER")
                + [kms(SINCE + H, FOREIGN_KEY, 40), pair(THEM, BAD_IP, 26), pair(THEM, "198.51.100.9", 10),
                   pair(ME, BAD_IP, 12)])
    data = Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, activity=activity, min_baseline=DAY)
    assert data.learning
    evidence = {"sse_c_ransomware": sse_c, "destructive_overwrite": destroyed, "tag_tampering": forged + stripped}
    data.evidence = {name: [(None, rows)] for name, rows in evidence.items()}
    settings = {"kms_key_swap": {"bucket_owners": {"b": ME}}}
    for name in ("slow_deletes", "kms_key_swap"):
        detector = detectors.DETECTORS[name]
        data.evidence[name] = [(context, [rewrite(f"exports/{i}.csv", i, kms_key_arn=FOREIGN_KEY) for i in range(40)]
                                if name == "kms_key_swap" else [])
                               for context, _ in detector.runs(data, detectors.options(detector, settings))]
    found = {}
    for f in detectors.run_all(data, settings):
        found.setdefault(f.detector, []).append(f.severity)
    assert found["sse_c_ransomware"] == found["lifecycle_expiration"] == found["slow_deletes"] == ["info"]
    assert found["tag_tampering"] == ["critical", "high"]
    assert found["destructive_overwrite"] == found["kms_key_swap"] == ["high"]
    held = [f for f in detectors.run_all(data, settings) if f.detector == "sse_c_ransomware"][0]
    assert held.evidence["learning"].startswith("critical once the baseline covers 24 h")
    # Nothing counts as never seen while learning: 40 deletes in a day are not enough for a new account.
    data = Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, min_baseline=DAY,
                  activity=deletes("requester", SINCE, 40, 20, requester="777788889999", kind="DELETE_MARKER"))
    assert detect("slow_deletes", data) == []
    # The inferred owner rests on the baseline too: without the setting, a foreign key is held at info.
    data = Inputs(since=SINCE, until=UNTIL, baseline_since=BASELINE, min_baseline=DAY,
                  activity=[kms(SINCE + H, FOREIGN_KEY, 40)])
    detector = detectors.DETECTORS["kms_key_swap"]
    data.evidence["kms_key_swap"] = [(context, [rewrite("exports/0.csv", kms_key_arn=FOREIGN_KEY)])
                                     for context, _ in detector.runs(data, detector.defaults)]
    assert [f.severity for f in detectors.run_all(data, {}) if f.detector == "kms_key_swap"] == ["info"]


# --- settings ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("table,message", [
    ({"tag_tampering": {"protected_tags": "retention*"}}, "detectors.tag_tampering.protected_tags must be a list"),
    ({"kms_key_swap": {"bucket_owners": ["111122223333"]}}, "detectors.kms_key_swap.bucket_owners must be a table"),
    ({"kms_key_swap": {"trusted_accounts": [1]}}, "detectors.kms_key_swap.trusted_accounts must be a list"),
])
def test_list_and_table_settings_are_checked(table, message):
    with pytest.raises(BadInput, match=message):
        report.parse_config({"detectors": table})
    good = report.parse_config({"detectors": {"kms_key_swap": {"bucket_owners": {"b": "210987654321"}},
                                              "tag_tampering": {"protected_tags": ["hold*"]}}})
    assert good.settings("kms_key_swap")["bucket_owners"] == {"b": "210987654321"}


# --- the evidence queries, on hand-checked rows -----------------------------------------------------------

T = datetime
K1 = "arn:aws:kms:us-east-1:111122223333:key/k1"


def obj(key, seq, t, record_type="CREATE", version="v1", **columns):
    base = dict(bucket="vbk", key=key, sequence_number=seq, record_type=record_type, record_timestamp=t,
                version_id=version, is_delete_marker=False, size=1000, last_modified_date=t, e_tag="e" * 32,
                storage_class="STANDARD", is_multipart=False, encryption_status="SSE-S3", is_bucket_key_enabled=False,
                checksum_algorithm="CRC32", object_tags=[], user_metadata=[], requester=ME,
                source_ip_address=IP, request_id="REQ")
    return base | columns


ODD = 'fin"ance/a,b\n<script>.csv'
HAND = [
    # an object rewritten in the window with SSE-C: the state it replaced was SSE-KMS
    obj(ODD, "01", T(2025, 11, 12), encryption_status="SSE-KMS", kms_key_arn=K1),
    obj(ODD, "02", T(2025, 11, 20, 3), version="v2", encryption_status="SSE-C", requester=THEM,
        source_ip_address=BAD_IP),
    # a new key written with SSE-C: no previous state
    obj("new/x.bin", "01", T(2025, 11, 20, 4), encryption_status="SSE-C"),
    # overwritten with an empty object, and with 60% of its size (kept out: not ten times smaller)
    obj("img/a.jpg", "01", T(2025, 11, 15), size=50_000),
    obj("img/a.jpg", "02", T(2025, 11, 20, 5), version="v2", size=0),
    obj("img/b.jpg", "01", T(2025, 11, 15), size=50_000),
    obj("img/b.jpg", "02", T(2025, 11, 20, 5), version="v2", size=30_000),
    # a classification tag stripped; a Lifecycle transition in between is left out of the pairing
    obj("fin/c.pdf", "01", T(2025, 11, 14), object_tags=[("classification", "secret"), ("env", "prod")]),
    obj("fin/c.pdf", "02", T(2025, 11, 16), record_type="UPDATE_METADATA", storage_class="GLACIER",
        object_tags=[("classification", "secret"), ("env", "prod")], requester="s3.amazonaws.com",
        source_ip_address=None),
    obj("fin/c.pdf", "03", T(2025, 11, 20, 6), record_type="UPDATE_METADATA",
        object_tags=[("env", "prod")], requester=THEM, source_ip_address=BAD_IP),
    # a tag added: nothing dropped, kept out
    obj("fin/d.pdf", "01", T(2025, 11, 14)),
    obj("fin/d.pdf", "02", T(2025, 11, 20, 6), record_type="UPDATE_METADATA", object_tags=[("env", "prod")]),
    # GuardDuty's THREATS_FOUND rewritten by a user
    obj("up/m.exe", "01", T(2025, 11, 18)),
    obj("up/m.exe", "02", T(2025, 11, 18, 0, 2), record_type="UPDATE_METADATA",
        object_tags=[("GuardDutyMalwareScanStatus", "THREATS_FOUND")], requester=GD, source_ip_address=None),
    obj("up/m.exe", "03", T(2025, 11, 20, 7), record_type="UPDATE_METADATA",
        object_tags=[("GuardDutyMalwareScanStatus", "NO_THREATS_FOUND")], requester=THEM, source_ip_address=BAD_IP),
    # a version gone before S3 Metadata processed the write: NULL object columns, kept out
    dict(bucket="vbk", key="gone/z.bin", sequence_number="02", record_type="CREATE",
         record_timestamp=T(2025, 11, 20, 8), version_id="v9", is_delete_marker=False, requester=THEM,
         source_ip_address=BAD_IP),
    # a foreign account's KMS key over an SSE-S3 object
    obj("exp/k.csv", "01", T(2025, 11, 13)),
    obj("exp/k.csv", "02", T(2025, 11, 20, 9), version="v2", encryption_status="SSE-KMS", kms_key_arn=FOREIGN_KEY),
]


@pytest.fixture(scope="module")
def hand_attacks(tmp_path_factory):
    root = write_tables(tmp_path_factory.mktemp("attacks"), HAND, [])
    with analytics.connect(data=root) as session:
        yield session


WINDOW = {"since": "2025-11-20T00:00:00", "until": "2025-11-21T00:00:00", "baseline_since": "2025-11-06T00:00:00"}


def test_detect_rewrites_sets_each_write_against_the_previous_one(hand_attacks):
    rows = hand_attacks.run("detect_rewrites", WINDOW).rows()
    got = {r["key"]: r for r in rows if r["record_type"] == "CREATE"}
    # img/b.jpg (60% of its size) and exp/k.csv (SSE-S3 to a stronger KMS key) are no overwrite finding's.
    assert sorted(got) == sorted([ODD, "new/x.bin", "img/a.jpg"])
    assert (got[ODD]["overwrite"], got[ODD]["previous_status"], got[ODD]["previous_kms_key_arn"],
            got[ODD]["change"]) == (True, "SSE-KMS", K1, "weaker")
    assert (got["new/x.bin"]["overwrite"], got["new/x.bin"]["previous_status"], got["new/x.bin"]["change"]) == \
        (False, None, None)
    assert (got["img/a.jpg"]["size"], got["img/a.jpg"]["previous_size"], got["img/a.jpg"]["change"]) == \
        (0, 50_000, None)


def test_detect_rewrites_sets_each_tag_change_against_the_version_before(hand_attacks):
    rows = hand_attacks.run("detect_rewrites", WINDOW).rows()
    got = {r["key"]: r for r in rows if r["record_type"] == "UPDATE_METADATA"}
    assert sorted(got) == ["fin/c.pdf", "up/m.exe"]
    assert got["fin/c.pdf"]["removed_tags"] == "classification"
    assert got["fin/c.pdf"]["previous_requester"] == ME  # not the Lifecycle transition in between
    assert (got["up/m.exe"]["previous_verdict"], got["up/m.exe"]["verdict"]) == ("THREATS_FOUND", "NO_THREATS_FOUND")
    assert got["up/m.exe"]["previous_requester"] == GD


def test_detect_kms_writes_names_the_key_account_and_what_it_replaced(hand_attacks):
    rows = hand_attacks.run("detect_kms_writes", {**WINDOW, "kms_key_arn": FOREIGN_KEY, "bucket": "vbk"}).rows()
    assert [(r["key"], r["kms_account"], r["previous_status"]) for r in rows] == [
        ("exp/k.csv", "210987654321", "SSE-S3")]
    assert len(hand_attacks.run("detect_kms_writes", {**WINDOW, "kms_key_arn": K1}).rows()) == 0


def test_detect_activity_counts_sse_c_writes_and_the_kms_keys_of_writes(hand_attacks):
    rows = hand_attacks.run("detect_activity", WINDOW).rows()
    prefix = {(r["top_level_prefix"], r["in_window"]): r for r in rows if r["grain"] == "prefix"
              and r["kind"] == "CREATE" and r["top_level_prefix"] in ("new/", 'fin"ance/')}
    assert prefix[("new/", True)]["sse_c_events"] == 1 and prefix[('fin"ance/', True)]["sse_c_events"] == 1
    assert prefix[('fin"ance/', False)]["sse_c_events"] == 0
    keys = {(r["kms_key_arn"], r["in_window"]) for r in rows if r["grain"] == "ip" and r["kms_key_arn"]}
    assert keys == {(K1, False), (FOREIGN_KEY, True)}
    assert not [r for r in rows if r["grain"] == "ip" and r["kms_key_arn"] and r["kind"] != "CREATE"]


# --- end to end over generated attacks and twins --------------------------------------------------------

END = datetime(2025, 11, 30)


class Recorder:
    """A session that keeps every query result it hands over, in order: what Athena is to answer."""

    def __init__(self, session):
        self.session, self.results = session, []

    def run(self, name, values=None, **kwargs):
        result = self.session.run(name, values, **kwargs)
        self.results.append((name, result.arrow()))
        return result

    def __getattr__(self, name):
        return getattr(self.session, name)


@pytest.fixture(scope="module")
def attacked_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("attacked")
    return out, fixtures.generate(out, rows=20000, seed=5, days=14, end=END, incidents=False,
                                  scenarios=tuple(scenarios.SCENARIOS))


@pytest.fixture(scope="module")
def attacked(attacked_data):
    out, manifest = attacked_data
    with analytics.connect(data=out) as session:
        recorder = Recorder(session)
        result = report.run(recorder, since=END - DAY, until=END)
    result.recorded = recorder.results
    return manifest["scenarios"], result


def by_actor(found, facts, detector):
    return [f for f in found.findings if f.detector == detector and f.evidence.get("requester") == facts["actor"]
            and f.evidence.get("source_ip") == facts["ip"]]


def grouping_facts(f, facts):
    """What issue 14 groups findings by: the actor, the address, the prefix, and overlapping times."""
    assert {"requester", "source_ip", "prefix"} <= set(f.evidence)
    assert f.first_seen <= datetime.fromisoformat(facts["until"]) and f.last_seen >= datetime.fromisoformat(
        facts["since"])
    assert f.evidence["first_seen"] == f.first_seen and f.evidence["last_seen"] == f.last_seen


def test_sse_c_ransomware_is_critical_end_to_end(attacked):
    facts, found = attacked[0]["sse-c-ransomware"], attacked[1]
    (f,) = by_actor(found, facts, "sse_c_ransomware")
    assert f.severity == "critical" and f.bucket == facts["bucket"]
    assert f.evidence["count"] == f.evidence["overwrites"] == facts["count"]
    assert set(f.evidence["sample_keys"]) <= set(facts["keys"]) and len(f.evidence["sample_keys"]) == 10
    assert f.evidence["prefix"] in facts["prefixes"]
    grouping_facts(f, facts)


def test_lifecycle_abuse_is_high_per_prefix_in_both_kinds_of_bucket(attacked):
    facts, found = attacked[0]["lifecycle-abuse"], attacked[1]
    flagged = {(f.bucket, f.evidence["prefix"], f.evidence["actor_class"]): f for f in found.findings
               if f.detector == "lifecycle_expiration"}
    for part, actor_class in (("versioned", "lifecycle"), ("unversioned", "unattributed")):
        for prefix, count in facts[part]["prefixes"].items():
            f = flagged.pop((facts[part]["bucket"], prefix, actor_class))
            assert f.severity == "high" and f.evidence["count"] >= count
            assert f.first_seen >= datetime.fromisoformat(facts[part]["since"]) - timedelta(hours=1)
            assert f.evidence["sample_keys"] and all(k.startswith(prefix) for k in f.evidence["sample_keys"])
    # Besides: the expiration that follows the SSE-C rewrites, at least where most of them were; nothing
    # else (the nightly-lifecycle twin's prefix stays quiet).
    ransom = attacked[0]["sse-c-ransomware"]
    expired = flagged[(ransom["bucket"], max(ransom["prefixes"], key=ransom["prefixes"].get), "lifecycle")]
    assert expired.severity == "high" and expired.evidence["requester"] == ransom["expired"]["requester"]
    assert set(flagged) <= {(ransom["bucket"], prefix, "lifecycle") for prefix in ransom["prefixes"]}


def test_low_and_slow_is_high_and_says_what_was_deleted(attacked):
    facts, found = attacked[0]["low-and-slow"], attacked[1]
    (f,) = by_actor(found, facts, "slow_deletes")
    # The account's own deletes in the window count too; its attacker's address made exactly the planted ones.
    assert f.severity == "high" and f.evidence["count"] >= facts["count"] == f.evidence["source_ips"][facts["ip"]]
    assert "deletes" in f.title and all(p in f.title for p in facts["prefixes"])
    assert not [g for g in found.findings if g.detector == "mass_delete"]  # under every 2-hour threshold
    grouping_facts(f, facts)


def test_kms_key_swap_is_high_and_names_the_key(attacked):
    facts, found = attacked[0]["kms-key-swap"], attacked[1]
    (f,) = by_actor(found, facts, "kms_key_swap")
    assert (f.severity, f.evidence["kms_key_arn"], f.evidence["count"]) == ("high", facts["kms_key_arn"], 40)
    assert f.evidence["owner_inferred_from"] == "baseline keys" and facts["account"] not in f.evidence[
        "expected_accounts"]
    assert sum(f.evidence["previous_encryption"].values()) == 40
    grouping_facts(f, facts)


def test_tag_tampering_is_critical_for_verdicts_and_high_for_protected_tags(attacked):
    facts, found = attacked[0]["tag-tampering"], attacked[1]
    verdict, stripped = sorted(by_actor(found, facts, "tag_tampering"), key=lambda f: f.severity)
    assert (verdict.severity, verdict.evidence["count"]) == ("critical", facts["verdicts"]["count"])
    assert {o["key"] for o in verdict.evidence["objects"]} == set(facts["verdicts"]["keys"])
    assert (stripped.severity, stripped.evidence["count"]) == ("high", facts["stripped"]["count"])
    assert stripped.evidence["removed_tags"] == facts["stripped"]["removed_tags"]
    for f in (verdict, stripped):
        grouping_facts(f, facts)


def test_destructive_overwrite_is_high_and_names_sizes(attacked):
    facts, found = attacked[0]["destructive-overwrite"], attacked[1]
    (f,) = by_actor(found, facts, "destructive_overwrite")
    assert f.severity == "high" and f.evidence["count"] == facts["count"] and f.evidence["empty"] == facts["empty"]
    sizes = {o["key"]: (o["size_before"], o["size_after"]) for o in facts["objects"]}
    assert all(sizes[o["key"]] == (o["size_before"], o["size_after"]) for o in f.evidence["objects"])
    grouping_facts(f, facts)


def test_benign_twins_stay_below_medium(attacked):
    facts, found = attacked
    twin_prefixes = (facts["nightly-lifecycle"]["prefix"], facts["nightly-batch-rewrite"]["prefix"])
    rescanned = set(facts["guardduty-rescan"]["keys"])
    twin_actors = {(facts["nightly-batch-rewrite"]["requester"], facts["nightly-batch-rewrite"]["ip"]),
                   (facts["nightly-lifecycle"]["uploader"], facts["nightly-lifecycle"]["ip"]), (GD, None)}
    for f in found.findings:
        if severity_rank(f.severity) < severity_rank("medium"):
            continue
        keys = f.evidence.get("sample_keys", []) + [o["key"] for o in f.evidence.get("objects", [])]
        assert f.evidence.get("prefix") not in twin_prefixes, f.title
        assert (f.evidence.get("requester"), f.evidence.get("source_ip")) not in twin_actors, f.title
        assert not any(k.startswith(twin_prefixes) or k in rescanned for k in keys), f.title


def test_twins_add_no_finding_at_medium_or_above(tmp_path):
    """The same background with and without the twins: every alarm at medium or above is the same."""
    loud = []
    for name, planted in (("quiet", ()), ("twins", scenarios.TWINS)):
        fixtures.generate(tmp_path / name, rows=12000, seed=2, days=14, end=END, incidents=False, scenarios=planted)
        with analytics.connect(data=tmp_path / name) as session:
            runs = [report.run(session, since=until - DAY, until=until) for until in (END - DAY, END)]
        loud.append(sorted((f.detector, f.bucket, f.severity, f.title) for r in runs for f in r.findings
                           if severity_rank(f.severity) >= severity_rank("medium")))
    assert loud[0] == loud[1]


def test_one_sse_c_attack_is_one_incident(tmp_path):
    """Codefinger end to end: the SSE-C rewrites, the weaker encryption they leave, the new address and
    S3 Lifecycle expiring the objects afterwards are one incident (grouped by actor, then by bucket,
    prefix and time), and the incident holds nothing else at medium or above."""
    manifest = fixtures.generate(tmp_path, rows=12000, seed=2, days=14, end=END, incidents=False,
                                 scenarios=("sse-c-ransomware",))
    facts = manifest["scenarios"]["sse-c-ransomware"]
    with analytics.connect(data=tmp_path) as session:
        result = report.run(session, since=END - DAY, until=END)
    (ransom,) = by_actor(result, facts, "sse_c_ransomware")
    (incident,) = [i for i in result.incidents if ransom in i.findings]
    members = {(f.detector, f.evidence.get("requester")) for f in incident.findings}
    assert {("sse_c_ransomware", facts["actor"]), ("lifecycle_expiration", facts["expired"]["requester"]),
            ("new_source_ip", facts["actor"])} <= members
    assert incident.severity == "critical" and incident.worst is ransom and facts["ip"] in incident.source_ips
    for f in incident.findings:
        if severity_rank(f.severity) >= severity_rank("medium"):
            assert f.bucket == facts["bucket"], f.title
            assert f.evidence["requester"] in (facts["actor"], facts["expired"]["requester"]), f.title
    # What to run next: the restore plan for Lifecycle's markers, and what the attacker's account did.
    commands = [step.argv[:4] for step in incident.steps]
    assert ["s3meta", "query", "requester_activity", "-p"] in commands
    assert ["s3meta", "restore-plan", "--requester", "s3.amazonaws.com"] in commands


# --- the same findings on Athena (moto: the queries' results canned from the DuckDB run) --------------------

def athena_type(t) -> str:
    import pyarrow as pa
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_map(t):
        return "map(varchar, varchar)"
    names = {pa.int64(): "bigint", pa.int32(): "integer", pa.bool_(): "boolean", pa.float64(): "double"}
    return names.get(t, "varchar")


def athena_text(value) -> str | None:
    """A value as Athena prints it in its result CSV."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={'null' if v is None else v}" for k, v in value.items()) + "}"
    return str(value)


def test_athena_reports_the_same_attack_findings(aws, attacked):
    from test_athena import RESULTS, can, received

    facts, expected = attacked
    for _, table in expected.recorded:
        can(aws, [(f.name, athena_type(f.type)) for f in table.schema],
            [[athena_text(v) for v in row.values()] for row in table.to_pylist(maps_as_pydicts="strict")])
    with analytics.connect("athena", buckets=["acme-prod-data"], output_location=RESULTS,
                           clock=lambda: END) as session:
        got = report.run(session, since=END - DAY, until=END)
        sent = [received(h["query_execution_id"]) for h in session.history]
        rendered = session.render("detect_rewrites", since=END - DAY, until=END, baseline_since=END - 15 * DAY)
    assert len(sent) == len(expected.recorded)
    shown = [(f.detector, f.severity, f.bucket, f.title, f.evidence.get("requester"), f.evidence.get("source_ip"))
             for f in got.findings]
    assert shown == [(f.detector, f.severity, f.bucket, f.title, f.evidence.get("requester"),
                      f.evidence.get("source_ip")) for f in expected.findings]
    loud = {f.detector for f in got.findings if severity_rank(f.severity) >= severity_rank("high")}
    assert loud >= {"sse_c_ransomware", "lifecycle_expiration", "slow_deletes", "kms_key_swap", "tag_tampering",
                    "destructive_overwrite"}
    # The evidence queries reached Athena as the catalog's text, with the window bound as parameters.
    rewrites = next(s for s, (q, _) in zip(sent, expected.recorded, strict=True) if q == "detect_rewrites")
    assert rewrites["Query"] == rendered.sql
    assert rewrites["ExecutionParameters"][:2] == ["TIMESTAMP '2025-11-29 00:00:00.000'",
                                                   "TIMESTAMP '2025-11-30 00:00:00.000'"]
