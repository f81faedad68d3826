"""Adding a detector touches two files: its evidence query (a .sql file in the catalog) and a small
registered function. Nothing else (no Inputs field, no branch in the report, no config schema) changes:
the report fetches the declared evidence, the config accepts the detector's settings, and its
findings are stated and rendered like every other's."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from datetime import datetime, timedelta

import pytest

import analytics
from analytics import catalog, report
from analytics.detectors import DETECTORS
from conftest import HAND_INVENTORY, write_tables

# File one: the evidence query, in the catalog format.
EVIDENCE = """\
-- Uploads of Windows executables (.exe) in the window.
--
-- @tags detector
-- @param since timestamp = 24h: start of the window, inclusive
-- @param until timestamp = now: end of the window, exclusive
SELECT bucket, key, sequence_number, record_timestamp, requester
FROM journal
WHERE record_type = 'CREATE'
  AND lower(key) LIKE '%.exe'
  AND record_timestamp >= :since
  AND record_timestamp < :until
ORDER BY record_timestamp
"""

# File two: the detector, registered with its evidence query and default settings.
DETECTOR = '''\
"""Uploads of executables, which a bucket of documents should never receive."""

from analytics.detectors import Finding, register


@register("executable_upload", "Uploads of .exe files.", evidence="detect_executable_uploads",
          severity="medium", min_count=1)
def executable_upload(inputs, options):
    by_bucket = {}
    for row in inputs.rows("executable_upload"):
        by_bucket.setdefault(row["bucket"], []).append(row)
    return [Finding("executable_upload", options["severity"], f"{len(rows)} executables uploaded", bucket,
                    {"keys": [r["key"] for r in rows]}, "Quarantine them and find the uploader.",
                    subject=("exe",), events=tuple((r["bucket"], r["key"], r["sequence_number"]) for r in rows),
                    first_seen=rows[0]["record_timestamp"], last_seen=rows[-1]["record_timestamp"])
            for bucket, rows in sorted(by_bucket.items()) if len(rows) >= options["min_count"]]
'''

T = datetime(2025, 11, 20, 12)


@pytest.fixture
def new_detector(tmp_path):
    queries = tmp_path / "queries"
    shutil.copytree(catalog.default_dir(), queries)
    (queries / "detect_executable_uploads.sql").write_text(EVIDENCE, encoding="utf-8")
    module = tmp_path / "executables.py"
    module.write_text(DETECTOR, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("executables_detector", module)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)  # registers the detector, as importing its module in detectors/ would
    yield queries
    DETECTORS.pop("executable_upload", None)
    sys.modules.pop("executables_detector", None)


def test_a_new_detector_runs_in_the_report_with_its_evidence_fetched(new_detector, tmp_path):
    rows = [dict(bucket="docs", key=key, sequence_number=f"{i:04d}", record_type="CREATE", size=10, e_tag="e",
                 record_timestamp=T - timedelta(minutes=i), requester="111122223333", source_ip_address="10.0.0.1",
                 encryption_status="SSE-S3")
            for i, key in enumerate(["setup.EXE", "tools/run.exe", "readme.txt", "report.pdf"])]
    write_tables(tmp_path / "data", rows, HAND_INVENTORY)
    clock = lambda: T + timedelta(hours=1)  # noqa: E731
    with analytics.connect(data=tmp_path / "data", catalog=new_detector, clock=clock) as session:
        found = report.run(session, since="24h")
        quiet = report.run(session, since="24h", config=report.parse_config(
            {"detectors": {"executable_upload": {"min_count": 3}}}))
    (finding,) = [f for f in found.findings if f.detector == "executable_upload"]
    assert finding.bucket == "docs" and sorted(finding.evidence["keys"]) == ["setup.EXE", "tools/run.exe"]
    assert finding.severity == "medium" and finding.new
    assert '"detector": "executable_upload"' in found.to_json() and "executables uploaded" in found.render("html")
    assert not [f for f in quiet.findings if f.detector == "executable_upload"]  # its settings came from register()
