"""Golden files for the report's renderers: a fixed report, rendered as JSON, Markdown and HTML, must equal
tests/golden/report.{json,md,html} byte for byte.

A change to a renderer shows up here as a diff to read. When the change is meant, regenerate the files
and review the diff before committing it:

    S3META_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render.py
    git diff tests/golden/
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from analytics.detectors import Finding, worst_first
from analytics.report import Config, Report
from analytics.report.render import chart_data
from conftest import ODD_KEY, SCRIPT_KEY

GOLDEN = Path(__file__).resolve().parent / "golden"
EXTENSIONS = {"json": "json", "markdown": "md", "html": "html"}
SINCE, UNTIL = datetime(2025, 11, 20), datetime(2025, 11, 21)
T = datetime(2025, 11, 20, 21, 4, 5)


def _activity() -> list[dict]:
    """A few aggregate rows of detect_activity: per-prefix hourly counts and per-actor pairs."""
    rows = []
    for hour, kind, events in ((1, "CREATE", 40), (9, "CREATE", 55), (9, "UPDATE_METADATA", 7),
                               (21, "DELETE_MARKER", 120), (22, "DELETE", 3), (-30, "CREATE", 50)):
        at = SINCE + timedelta(hours=hour)
        rows.append({"grain": "prefix", "in_window": hour >= 0, "hour": at, "kind": kind, "events": events,
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
    keys and titles, evidence of every shape, both notification outcomes."""
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
        Finding("unencrypted_upload", "medium", "4 unencrypted uploads by 111122223333", "acme.media.assets",
                {"count": 4, "keys": {"uploads/a|b.png": 1, "uploads/[c]_*d*.png": 3}},
                "Set default encryption on the bucket.", subject=("111122223333",), first_seen=T, last_seen=T),
        Finding("new_source_ip", "low", "new source IP 2001:db8::1", "acme-prod-data",
                {"ip": "2001:db8::1", "events": 10}, "Check who uses this address.", subject=("2001:db8::1",),
                first_seen=T, last_seen=T, new=False),
        Finding("change_surge", "info", "日本語 tags changed on 7 objects", None, {"count": 7, "ratio": 2.5},
                "Nothing to do unless unexpected.", subject=("tags",), first_seen=T, last_seen=T),
    ])
    by_severity = {"info": 1, "low": 1, "medium": 1, "high": 1, "critical": 1}
    stats = {"engine": "duckdb", "queries": 7, "elapsed_seconds": 0.512, "window_events": 225,
             "baseline_events": 50, "findings": len(findings), "new_findings": 4, "by_severity": by_severity}
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
