"""Journal freshness: a bucket whose journal went silent while its baseline shows it active.

S3 Metadata writes a journal record for every change to a bucket, near real time. When the records
stop (the metadata configuration failed, the journal table was deleted, the report lost access to
it), the window holds nothing and every other detector stays quiet: a broken pipeline looks like
a quiet day. This detector reports a bucket whose newest record is older than `silent_hours` and
than `quiet_factor` times the longest silence its baseline had, so a bucket quiet every night or
weekend is not paged for being quiet, while one that is never quiet for long is paged once
`silent_hours` pass. The factor is there because the longest gap of a few days is a poor bound on
the next day's (replaying a generated day hourly found 2.2 h silences after a 1.9 h baseline
maximum); twice the longest gap is exceeded by chance about once in 16 x (gaps per day) days for
traffic that arrives at random.
Gaps are measured between records, from the aggregate's first and last record of each hour: a
gap inside one hour is not seen, so the bar is never below one hour.

The bar is the baseline's, so the finding is novelty: held at info while the report is learning.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import Finding, Inputs, register


def _namespace(bucket: str) -> str:
    # S3 Metadata's namespace for a bucket's tables: b_ + the name, periods made underscores.
    return "b_" + bucket.replace(".", "_")


@register("freshness", "A bucket whose journal has had no records for longer than its baseline was ever quiet.",
          severity="high", silent_hours=2, quiet_factor=2.0)
def freshness(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    spans: dict[str, list[tuple[datetime, datetime, bool]]] = {}
    events: dict[str, int] = {}
    for r in inputs.grain("prefix"):
        spans.setdefault(r["bucket"], []).append((r["first_seen"], r["last_seen"], bool(r["in_window"])))
        if not r["in_window"]:
            events[r["bucket"]] = events.get(r["bucket"], 0) + int(r["events"])
    findings = []
    for bucket, rows in sorted(spans.items()):
        if bucket not in events:
            continue  # no baseline records: nothing shows the bucket is usually active
        rows.sort()
        last = max(end for _, end, _ in rows)
        # The longest silence of the baseline: from one record to the next, before since.
        longest, reached = timedelta(0), rows[0][1]
        for first, end, _ in rows:
            if first >= inputs.since:
                break
            longest = max(longest, first - reached)
            reached = max(reached, end)
        silence = inputs.until - last
        bar = max(timedelta(hours=max(float(options["silent_hours"]), 1.0)),
                  float(options["quiet_factor"]) * longest)
        if silence <= bar:
            continue
        hours, usual = silence.total_seconds() / 3600, longest.total_seconds() / 3600
        findings.append(Finding(
            "freshness", options["severity"],
            f"Journal silent since {last.isoformat(sep=' ', timespec='seconds')} UTC: no records for {hours:.1f} h "
            f"(the baseline was never quiet for more than {usual:.1f} h)", bucket,
            {"last_record": last, "silent_hours": round(hours, 2), "longest_baseline_silence_hours": round(usual, 2),
             "baseline_records": events[bucket], "first_seen": last, "last_seen": inputs.until},
            f"Check the bucket's metadata configuration: `aws s3api get-bucket-metadata-configuration --bucket "
            f"{bucket}` (the journal table's TableStatus should be ACTIVE; FAILED comes with an error code). "
            f"Check that the journal table still exists (`aws s3tables get-table --table-bucket-arn "
            f"arn:aws:s3tables:REGION:ACCOUNT:bucket/aws-s3 --namespace {_namespace(bucket)} --name journal`) and that "
            "the report can still read it (Lake Formation grants, the Athena workgroup). If the bucket really "
            "stopped changing, raise silent_hours in [report.detectors.freshness] or disable it for this setup.",
            subject=(last.isoformat(),), first_seen=last, last_seen=inputs.until, novelty=True))
    return findings
