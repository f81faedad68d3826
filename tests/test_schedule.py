"""Scheduled runs over a generated day: every incident is new exactly once, none is lost at an edge.

The generator writes a week of quiet history and the day after it; incidents are planted on that
day at the edges a schedule has (a burst just after the hour, bursts straddling a run, an upload
stamped exactly at a run's end). The day is then replayed the way cron and systemd run the report:
hourly at minute 0, 5 and 45, and every 7 minutes, each with a state file and a pinned clock.
The history is small (6000 records) so the 220 runs stay cheap; the detectors see the same shapes.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import analytics
from analytics import fixtures, report, schema
from analytics.detectors import severity_rank

DAY = datetime(2025, 11, 29)  # the replayed day; the generated history is the four days before it
END = DAY + timedelta(days=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
NEW_ACCOUNT, NEW_IP, STOLEN_IP = "999988887777", "203.0.113.66", "198.18.0.77"

SCHEDULES = {
    "hourly at :00": [DAY + h * H for h in range(26)],
    "hourly at :05": [DAY + h * H + 5 * M for h in range(25)],
    "hourly at :45": [DAY + h * H + 45 * M for h in range(25)],
    # From 08:00, an hour before the first incident: 7-minute windows never line up with the hour.
    "every 7 minutes": [DAY + 8 * H + k * 7 * M for k in range(16 * 60 // 7 + 3)],
}


# --- the day and its incidents ------------------------------------------------------------------------

def _spread(start: datetime, end: datetime, n: int) -> list[datetime]:
    step = (end - start) / max(n - 1, 1)
    return [(start + i * step).replace(microsecond=(start + i * step).microsecond // 1000 * 1000)  # whole ms, as AWS
            for i in range(n)]


class _Journal:
    """Rows appended to the generated journal, in the AWS schema, with sequence numbers after the key's own."""

    def __init__(self, history: list[dict]):
        self.rows: list[dict] = []
        self.current: dict[tuple[str, str], dict] = {}
        for r in sorted(history, key=lambda r: r["sequence_number"]):
            self.current[(r["bucket"], r["key"])] = r
        self.n = 0

    def live(self, bucket: str, prefix: str) -> list[dict]:
        """Current versions (no delete marker on top) under a prefix, written before the replayed day."""
        return [r for (b, k), r in sorted(self.current.items()) if b == bucket and k.startswith(prefix)
                and r["record_type"] == "CREATE" and r["record_timestamp"] < DAY - H]

    def add(self, base: dict, at: datetime, **changes) -> tuple[str, str, str]:
        self.n += 1
        micros = (at - datetime(1970, 1, 1)) // timedelta(microseconds=1)
        row = {**base, "record_timestamp": at, "sequence_number": f"{micros:016X}FFFF{self.n:020X}",
               "request_id": f"PLANTED{self.n:09d}", **changes}
        self.rows.append(row)
        return row["bucket"], row["key"], row["sequence_number"]

    def marker(self, victim: dict, at: datetime, requester: str, ip: str) -> tuple[str, str, str]:
        blank = {name: None for name in schema.JOURNAL.names}
        return self.add({**blank, "bucket": victim["bucket"], "key": victim["key"]}, at, record_type="DELETE",
                        version_id=f"dm{self.n:030d}", is_delete_marker=True, size=0, last_modified_date=at,
                        requester=requester, source_ip_address=ip)


def plant(out) -> dict[str, dict]:
    """Write journal/planted.parquet beside the generated journal; return each incident's description."""
    history = pq.read_table(out / "journal").to_pylist()
    j = _Journal(history)
    ips = sorted({r["source_ip_address"] for r in history if r["source_ip_address"]})
    known_ip = next(ip for ip in ips if ip.startswith("192.0.2."))
    incidents: dict[str, dict] = {}

    # 1. The burst: a new account from a new IP, 09:00:30 to 09:03:30, just after the hour.
    finance = j.live("acme-prod-data", "finance/")
    for i, at in enumerate(_spread(DAY + 9 * H + 30 * M / 60, DAY + 9 * H + 3.5 * M, 300)):
        j.marker(finance[i % len(finance)], at, NEW_ACCOUNT, NEW_IP)
    incidents["new account burst"] = {
        "page": lambda f: f.detector == "mass_delete" and f.evidence["requester"] == NEW_ACCOUNT,
        "also": lambda f: f.detector == "delete_spike" and f.evidence["prefix"] == "finance/"}

    # 2. A known account's keys used from a new address, straddling noon (and the runs at minute 0).
    images = j.live("acme-prod-data", "images/")
    for i, at in enumerate(_spread(DAY + 11 * H + 58 * M, DAY + 12 * H + 3 * M, 200)):
        j.marker(images[i % len(images)], at, "111122223333", STOLEN_IP)
    incidents["stolen key"] = {
        "page": lambda f: f.detector == "mass_delete" and f.evidence["requester"] == "111122223333"
        and STOLEN_IP in f.evidence["new_source_ips"],
        "also": lambda f: f.detector == "delete_spike" and f.evidence["prefix"] == "images/"}

    # 3. Uploads with SSE-S3 under the KMS-only prefix around 14:45, one stamped exactly at 14:45:00.
    kms = j.live("acme-prod-data", "ssekms-only/")[0]
    events = set()
    for i, at in enumerate([DAY + 14 * H + 44 * M, DAY + 14 * H + 44.5 * M, DAY + 14 * H + 45 * M,
                            DAY + 14 * H + 45.5 * M, DAY + 14 * H + 46 * M]):
        events.add(j.add(kms, at, key=f"ssekms-only/2025/11/planted-{i}.csv", record_type="CREATE",
                         version_id=f"up{i:030d}", last_modified_date=at, encryption_status="SSE-S3",
                         kms_key_arn=None, is_bucket_key_enabled=False, requester="444455556666",
                         source_ip_address=known_ip))
    incidents["unencrypted uploads"] = {
        "page": lambda f: f.detector == "encryption_rule" and f.evidence["prefix"] == "ssekms-only/",
        "events": events}

    # 4. An upload GuardDuty finds malicious: uploaded at 16:59:40, tagged at 17:00:10.
    upload = next(r for r in history if r["key"].startswith("uploads/") and r["record_type"] == "CREATE")
    up = {**upload, "key": "uploads/u-1042/planted-invoice.pdf.exe", "version_id": "mal" + "0" * 29}
    j.add(up, DAY + 16 * H + 59 * M + timedelta(seconds=40), record_type="CREATE", requester="777788889999",
          source_ip_address=known_ip, last_modified_date=DAY + 16 * H + 59 * M)
    scan = j.add(up, DAY + 17 * H + timedelta(seconds=10), record_type="UPDATE_METADATA",
                 requester=fixtures.GUARDDUTY_PRINCIPAL, source_ip_address=None,
                 object_tags=[("GuardDutyMalwareScanStatus", "THREATS_FOUND")])
    incidents["malware"] = {"page": lambda f: f.detector == "malware" and f.evidence.get("key") == up["key"],
                            "events": {scan}}

    # 5. Permanent deletes (no requester, no IP: AWS's NULL rule) straddling 19:05.
    raw = j.live("acme.media.assets", "") * 3
    blank = {name: None for name in schema.JOURNAL.names}
    for i, at in enumerate(_spread(DAY + 19 * H + 4 * M, DAY + 19 * H + 6 * M, 300)):
        victim = raw[i % len(raw)]
        j.add({**blank, "bucket": victim["bucket"], "key": victim["key"]}, at, record_type="DELETE",
              version_id=victim["version_id"])
    # Requester-less permanent deletes are also what an expiring lifecycle rule leaves (issue 16):
    # lifecycle_expiration pages for the same deletes, per prefix of that bucket.
    incidents["permanent deletes"] = {
        "page": lambda f: f.detector == "unattributed_deletes", "severity": "medium",
        "also": lambda f: f.detector == "lifecycle_expiration" and f.bucket == "acme.media.assets"
        and f.evidence["actor_class"] == "unattributed"}

    # 6. A tag rewrite by one account for 70 minutes, longer than an hour.
    reports = j.live("acme-prod-data", "reports/")
    for i, at in enumerate(_spread(DAY + 21 * H + 30 * M, DAY + 22 * H + 40 * M, 800)):
        j.add(reports[i % len(reports)], at, record_type="UPDATE_METADATA", requester="444455556666",
              source_ip_address=known_ip, object_tags=[("classification", "public")])
    incidents["tag rewrite"] = {
        "page": lambda f: f.detector == "change_surge" and f.evidence["requester"] == "444455556666",
        "severity": "medium"}

    table = pa.Table.from_pylist([{k: r.get(k) for k in schema.JOURNAL.names} for r in j.rows], schema=schema.JOURNAL)
    pq.write_table(table, out / "journal" / "planted.parquet")
    return incidents


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    out = tmp_path_factory.mktemp("day")
    fixtures.generate(out, rows=6000, seed=11, days=5, end=END, incidents=False)
    return out, plant(out)


def replay(data, times, state) -> list:
    """One scheduled run (lock, state, report) at each time, as cron would start them."""
    clock = {"now": times[0]}
    runs = []
    with analytics.connect(data=data, clock=lambda: clock["now"]) as session:
        for now in times:
            clock["now"] = now
            runs.append(report.scheduled(lambda: contextlib.nullcontext(session), report.Config(),
                                         state_path=state))
    return runs


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_each_incident_is_new_exactly_once_and_none_is_lost_at_an_edge(day, tmp_path, schedule):
    data, incidents = day
    runs = replay(data, SCHEDULES[schedule], tmp_path / "state.json")
    new = [(r, f) for r in runs for f in r.findings if f.new]
    for r in runs:  # the charts count what the statistics count: the window's own records
        assert sum(map(sum, r.charts["series"].values())) == r.stats["window_events"], r.since

    # Every finding is new once: later runs that re-read the burst in their overlap know it.
    twice = [f.title for f, n in Counter(f.fingerprint for _, f in new).items() if n > 1]
    assert not twice, twice
    # A run pages only for activity inside its own window: never for what an earlier window held.
    stale = [(r.since.isoformat(), f.title, f.last_seen.isoformat()) for r, f in new
             if f.last_seen is not None and f.last_seen < r.since]
    assert not stale, stale
    # Each incident is found, at its severity; row-level events are each in exactly one new finding.
    for name, incident in incidents.items():
        found = [f for _, f in new if incident["page"](f)]
        floor = incident.get("severity", "high")
        assert any(severity_rank(f.severity) >= severity_rank(floor) for f in found), (name, schedule)
        if "events" in incident:
            seen = Counter(e for f in found for e in f.events)
            assert {e: seen[e] for e in incident["events"]} == {e: 1 for e in incident["events"]}, name
    # Nothing else pages: the quiet day underneath raises no high or critical finding of its own.
    loud = [f.title for _, f in new if severity_rank(f.severity) >= severity_rank("high")
            and not any(i["page"](f) or i.get("also", lambda _: False)(f) for i in incidents.values())]
    assert not loud, loud
    # The schedule ran to the end without a gap: the last watermark is the last run's end.
    assert report.State.load(tmp_path / "state.json").watermark == SCHEDULES[schedule][-1]


# --- the first day: a baseline too short for novelty to mean anything ---------------------------------

FIRST = datetime(2025, 11, 2)  # the end of a journal enabled one day before


@pytest.fixture(scope="module")
def first_day(tmp_path_factory):
    quiet, loud = tmp_path_factory.mktemp("quiet"), tmp_path_factory.mktemp("loud")
    # Busy enough that routine deletes by the main account exceed a never-seen actor's 20 in 2 h.
    fixtures.generate(quiet, rows=20000, seed=3, days=1, end=FIRST, incidents=False)
    manifest = fixtures.generate(loud, rows=20000, seed=3, days=1, end=FIRST, incidents=True)
    return quiet, loud, manifest["incidents"]


def test_the_first_day_pages_nobody_and_says_it_is_learning(first_day, tmp_path):
    from conftest import cli

    quiet, _, _ = first_day
    proc = cli("report", "--data", str(quiet), "--until", FIRST.isoformat(), "--format", "json", "--format",
               "markdown", "--format", "html", "--output", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["baseline"]["learning"] is True and doc["baseline"]["hours"] == 0
    assert doc["notes"][0].startswith("learning: the baseline covers 0 h, less than min_baseline (24 h)")
    assert "s3meta: learning: the baseline covers 0 h" in proc.stderr
    for name in ("r.md", "r.html"):
        assert "learning: the baseline covers 0 h" in (tmp_path / name).read_text(encoding="utf-8")
    assert not [f for f in doc["findings"] if f["detector"] in ("new_requester", "new_source_ip")]
    assert [f["title"] for f in doc["findings"] if severity_rank(f["severity"]) >= severity_rank("high")] == []
    assert any(f["severity"] == "info" and "learning" in f["evidence"] for f in doc["findings"])  # held, not hidden

    # With a fresh state, hourly through the day: the baseline grows to 22 h, and still nobody is paged.
    runs = replay(quiet, [FIRST - timedelta(days=1) + h * H + 5 * M for h in range(1, 25)], tmp_path / "s.json")
    assert all(r.learning for r in runs) and [r.exit_code() for r in runs] == [0] * len(runs)
    assert runs[-1].baseline_hours == 22.08  # the last window starts at 22:05 (watermark minus the overlap)


def test_on_the_first_day_only_absolute_rules_page(first_day, tmp_path):
    _, loud, incidents = first_day
    with analytics.connect(data=loud, clock=lambda: FIRST) as session:
        r = report.run(session, config=report.parse_config({"encryption_rules": [
            {"bucket": "acme-prod-data", "prefix": "ssekms-only/", "require": ["SSE-KMS"]}]}))
    loud_findings = sorted((f.detector, f.severity) for f in r.at_or_above("high"))
    # GuardDuty's verdict and the configured rule are facts; the never-seen account is not news yet.
    assert loud_findings == [("encryption_rule", "high"), ("malware", "critical")] and r.exit_code() == 1
    mass = [f for f in r.findings if f.detector == "mass_delete"]
    assert mass and all(f.severity == "info" and "learning" in f.evidence for f in mass)
    (burst,) = [f for f in mass if f.evidence["requester"] == incidents["mass_delete"]["actor"]]
    assert "never seen" not in burst.title and burst.evidence["learning"].startswith("high once")

    # Replayed hourly with a fresh state, the day pages once: the run whose window holds the malware.
    runs = replay(loud, [FIRST - timedelta(days=1) + h * H + 5 * M for h in range(1, 25)], tmp_path / "s.json")
    scanned = datetime.fromisoformat(incidents["malware_upload"]["scan_timestamp"])
    paging = [r for r in runs if r.exit_code()]
    assert [(r.since <= scanned < r.until, [f.detector for f in r.at_or_above("high")]) for r in paging] == \
        [(True, ["malware"])]
