"""Golden files for the report's renderers: a fixed report, rendered as JSON, Markdown and HTML, must equal
tests/golden/report.{json,md,html} byte for byte.

A change to a renderer shows up here as a diff to read. When the change is meant, regenerate the files
and review the diff before committing it:

    S3META_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render.py
    git diff tests/golden/
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from analytics.detectors import Finding, worst_first
from analytics.report import Config, Report
from analytics.report.render import chart_data, nice_ceiling
from conftest import ODD_KEY, SCRIPT_KEY

GOLDEN = Path(__file__).resolve().parent / "golden"
EXTENSIONS = {"json": "json", "markdown": "md", "html": "html"}
SINCE, UNTIL = datetime(2025, 11, 20), datetime(2025, 11, 21)
T = datetime(2025, 11, 20, 21, 4, 5)


def _activity() -> list[dict]:
    """A few aggregate rows of detect_activity: per-prefix hourly counts and per-actor pairs."""
    rows = []
    for hour, kind, actor, events in ((1, "CREATE", "user", 40), (9, "CREATE", "user", 55),
                                      (9, "UPDATE_METADATA", "user", 7), (21, "DELETE_MARKER", "user", 120),
                                      (22, "DELETE", "unattributed", 3), (0, "DELETE_MARKER", "lifecycle", 900),
                                      (0, "UPDATE_METADATA", "lifecycle", 300), (-30, "CREATE", "user", 50)):
        at = SINCE + timedelta(hours=hour)
        rows.append({"grain": "prefix", "in_window": hour >= 0, "hour": at, "kind": kind, "actor_class": actor,
                     "events": events,
                     "bucket": "acme-prod-data", "top_level_prefix": "finance" if kind.startswith("DELETE") else
                     "<script>", "source_ip_address": None, "requester": None, "first_seen": at, "last_seen": at})
    for ip, requester, events in (("203.0.113.66", "999988887777", 120), ("10.0.3.4", "111122223333", 95),
                                  ("2001:db8::1", "111122223333", 10)):
        rows.append({"grain": "pair", "in_window": True, "hour": None, "kind": None, "events": events,
                     "bucket": "acme-prod-data", "top_level_prefix": None, "source_ip_address": ip,
                     "requester": requester, "first_seen": T, "last_seen": T})
    return rows


def fixed_report() -> Report:
    """Every kind of content a report carries: each severity, an old finding, a rule's finding, hostile
    keys and titles, evidence of every shape, both notification outcomes, an incident of related findings
    (the mass delete and the new requester behind it), and a command value that needs bash's $'...'."""
    findings = worst_first([
        Finding("mass_delete", "critical", "120 delete markers by 999988887777 from 203.0.113.66 (a new IP)",
                "acme-prod-data", {"count": 120, "requester": "999988887777", "source_ip": "203.0.113.66",
                                   "sample_keys": [SCRIPT_KEY, ODD_KEY, "finance/2025/q4/ledger-7.csv"],
                                   "first_seen": T, "last_seen": T + timedelta(minutes=14)},
                "Revoke the access key, then run s3meta restore-plan for this requester.",
                subject=("999988887777",), first_seen=T, last_seen=T + timedelta(minutes=14)),
        Finding("rule:legal_hold_deletes", "high", 'deletes under finance/ by <img src=x onerror=alert(1)> "q"',
                "acme-prod-data", {"deletes": 3, "prefix": "finance/", "requester": None, "matching_rows": 2},
                "Restore the objects; legal holds forbid deletes.", subject=("finance/",), first_seen=T,
                last_seen=T),
        Finding("new_requester", "medium", "New requester 999988887777: 120 events, never seen in the baseline",
                "acme-prod-data", {"requester": "999988887777", "source_ip": "203.0.113.66", "count": 120,
                                   "source_ips": {"203.0.113.66": 120}, "first_seen": T,
                                   "last_seen": T + timedelta(minutes=14)},
                "Confirm the account is expected.", subject=("999988887777",), first_seen=T,
                last_seen=T + timedelta(minutes=14)),
        Finding("encryption_rule", "high", "2 uploads under ssekms-only/'q'\u202e/ with weaker encryption",
                "acme-prod-data", {"prefix": "ssekms-only/'q'\u202e/", "count": 2, "requester": "111122223333",
                                   "statuses": {"unencrypted": 2}, "first_seen": T - timedelta(hours=12),
                                   "last_seen": T - timedelta(hours=11, minutes=30)},
                "Re-encrypt the listed objects (`aws s3 cp --sse aws:kms` in place).", subject=("ssekms-only/",),
                first_seen=T - timedelta(hours=12), last_seen=T - timedelta(hours=11, minutes=30)),
        Finding("unencrypted_upload", "medium", "4 unencrypted uploads by 111122223333", "acme.media.assets",
                {"count": 4, "keys": {"uploads/a|b.png": 1, "uploads/[c]_*d*.png": 3}},
                "Set default encryption on the bucket.", subject=("111122223333",), first_seen=T, last_seen=T),
        Finding("new_source_ip", "low", "new source IP 2001:db8::1", "acme-prod-data",
                {"ip": "2001:db8::1", "events": 10}, "Check who uses this address.", subject=("2001:db8::1",),
                first_seen=T, last_seen=T, new=False),
        Finding("change_surge", "info", "日本語 tags changed on 7 objects", None, {"count": 7, "ratio": 2.5},
                "Nothing to do unless unexpected.", subject=("tags",), first_seen=T, last_seen=T),
    ])
    by_severity = {"info": 1, "low": 1, "medium": 2, "high": 2, "critical": 1}
    stats = {"engine": "duckdb", "queries": 7, "elapsed_seconds": 0.512, "window_events": 225,
             "baseline_events": 50, "findings": len(findings), "new_findings": 6, "by_severity": by_severity}
    notifications = [{"channel": "sns", "target": "arn:aws:sns:us-east-1:111122223333:s3meta", "ok": True,
                      "error": None, "findings": 2, "message_id": "m-1"},
                     {"channel": "webhook", "target": "https://hooks.example.com/…", "ok": False,
                      "error": "HTTP 500 <b>Internal</b>", "findings": 2}]
    return Report(generated_at=UNTIL + timedelta(minutes=5), since=SINCE, until=UNTIL,
                  baseline_since=SINCE - timedelta(days=14), observed_since=SINCE - timedelta(days=2),
                  findings=findings, stats=stats, config=Config(),
                  charts=chart_data(_activity(), SINCE, UNTIL, findings), notifications=notifications)


@pytest.mark.parametrize("fmt", sorted(EXTENSIONS))
def test_rendered_report_matches_its_golden_file(fmt):
    rendered = fixed_report().render(fmt)
    golden = GOLDEN / f"report.{EXTENSIONS[fmt]}"
    if os.environ.get("S3META_UPDATE_GOLDEN"):
        golden.write_bytes(rendered.encode("utf-8"))
    assert golden.is_file(), f"{golden} is missing: run S3META_UPDATE_GOLDEN=1 pytest {Path(__file__).name}"
    expected = golden.read_bytes().decode("utf-8")
    assert rendered == expected, (f"{fmt} output differs from {golden.name}; if the change is meant, rerun with "
                                  "S3META_UPDATE_GOLDEN=1 and review `git diff tests/golden/`")


def test_the_golden_report_escapes_what_it_must():
    # The goldens were reviewed once; these keep a regeneration from quietly accepting unescaped data.
    html = (GOLDEN / "report.html").read_text(encoding="utf-8")
    md = (GOLDEN / "report.md").read_text(encoding="utf-8")
    for page in (html, md):
        assert "<script>" not in page and "<img" not in page and "<b>Internal" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;script&gt;" in html
    assert "uploads/a\\|b.png" in md


# --- what the goldens must keep, whatever else changes ----------------------------------------------------

def _code_blocks(md: str) -> list[str]:
    return re.findall(r"^(`{3,})sh\n(.*?)\n\1$", md, flags=re.S | re.M)


def test_markdown_code_is_literal_and_counts_agree():
    r = fixed_report()
    md = r.render("markdown")
    # Commands are fenced as they are typed: no Markdown escaping inside (a backslash would be copied too).
    commands = [s.command for i in r.incidents for s in i.steps]
    assert [code for _, code in _code_blocks(md)] == commands and commands
    assert "$'prefix=ssekms-only/\\'q\\'\\u202e/'" in md and "\\_" not in "".join(commands)
    assert "`aws s3 cp --sse aws:kms`" in md  # a runbook's code span, unescaped
    assert "**7 findings in 6 incidents" in md and "| 1 | critical |" in md
    # Prose around code is still escaped.
    assert "mass\\_delete" in md


def test_html_is_triage_first():
    r = fixed_report()
    page = r.render("html")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    # Incidents first, worst first, before any chart.
    positions = [page.index(f'id="incident-{i.number}"') for i in r.incidents]
    assert positions == sorted(positions) and positions[-1] < page.index("<h2>Activity</h2>")
    # High and critical are open, with their findings open; lower ones are one line until opened.
    assert '<div class="incident critical" id="incident-1">' in page
    assert '<details class="finding critical" open>' in page and '<details class="finding high" open>' in page
    assert '<details class="incident medium" id="incident-4">' in page and \
        '<details class="finding medium" open>' not in page
    # Evidence as tables, not JSON; the next command, whole, where the incident is.
    assert '{"203.0.113.66"' not in page and '<td><code>203.0.113.66</code></td><td class="n">120</td>' in page
    first = page[page.index('id="incident-1"'):page.index('id="incident-2"')]
    assert "s3meta restore-plan</span> <span class=\"w\">--requester 999988887777</span>" in first


def test_html_charts_have_utc_times_a_scale_and_a_legend():
    page = fixed_report().render("html")
    users = page[page.index("Users and services"):page.index("S3 Lifecycle and permanent deletes")]
    lifecycle = page[page.index("S3 Lifecycle and permanent deletes"):page.index("Top prefixes")]
    for chart in (users, lifecycle):
        assert "time (UTC), 2025-11-20 00:00 to 2025-11-21 00:00" in chart
        assert '<span style="bottom:0%">0</span>' in chart  # a y scale from 0
        assert ">Nov 20<" in chart and ">12:00<" in chart and ">Nov 21<" in chart  # UTC time ticks
    # The hour in the tooltips; Lifecycle's 900 expirations on their own chart, not on the users' scale.
    assert "<title>2025-11-20 21:00 to 22:00 UTC&#10;delete markers: 120</title>" in users
    assert "Lifecycle expirations: 900" in lifecycle and "Lifecycle" not in users.split("</svg>")[0]
    assert '<span style="bottom:100%">120</span>' in users and '<span style="bottom:100%">1,200</span>' in lifecycle
    # One mark per incident, numbered, with a legend saying what the marks mean.
    assert "&#9660;1</span>" in users and "where incident N starts" in users


def test_chart_data_keeps_lifecycle_apart():
    c = fixed_report().charts
    assert c["series"]["delete_markers"][21] == 120 and c["series"]["lifecycle_deletes"][0] == 900
    assert c["series"]["lifecycle_changes"][0] == 300 and c["series"]["permanent_deletes"][22] == 3
    assert sum(c["series"]["metadata"]) == 7  # user metadata changes only


@pytest.mark.parametrize("value, top", [(0, 1), (1, 1), (7, 8), (10, 10), (11, 12), (150, 150), (1003, 1200),
                                         (2379, 2500), (9001, 10000)])
def test_a_y_scale_ends_on_a_round_number(value, top):
    assert nice_ceiling(value) == top
