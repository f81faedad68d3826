"""Annotation tampering: protected annotations deleted or rewritten by someone who does not maintain them.

S3 annotations (June 2026) often carry compliance facts: a PII flag, a retention period, a legal
hold. Deleting one is permanent (annotations have no versions and no delete markers) and is not
replicated; an overwrite replaces the content with no history (the journal records that it
changed, never what it said). The journal's annotation records say who (an account ID, not the IAM
principal) and from where; detect_annotation_tampering hands them over, protected ones row by row.

An actor is expected to change protected annotations when its account is in the detector's
`writers`, in [report.allowlist] accounts (`use_allowlist`), or (`learn_writers`) changed protected
annotations in the baseline; and it acts from an address seen before (in any journal activity of
the baseline, the report state, or [report.allowlist] cidrs). Anything else is a finding: high,
critical when the account or the address was never seen. Separately, a burst of annotation deletes
of any name by one account, against its baseline, is a finding of the same severities.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import BadInput
from . import Finding, Inputs, register, spike, top

EVIDENCE = "detect_annotation_tampering"
_NAME_PATTERN = re.compile(r"^[\w.*?-]+$")  # annotation names (letters, digits, _ . -) and glob wildcards
_SAMPLE_KEYS = 10
RUNBOOK = (
    "Annotation deletes are permanent and not replicated: there is no annotation version or delete marker "
    "to restore from, and the journal never holds the old content. If the bucket is replicated, the "
    "destination still has each deleted annotation (deletes are not replicated) and, unless replication "
    "has run since, the previous content of each rewritten one: copy them back from there; otherwise "
    "re-apply them from the system that set them. Then block the actor (deny s3:DeleteObjectAnnotation "
    "and s3:PutObjectAnnotation to it in the bucket policy), find the IAM principal in CloudTrail data "
    "events (DeleteObjectAnnotation, PutObjectAnnotation) at these times, and rotate its credentials.")


def protected_regex(patterns: Any) -> str:
    """The detector's glob patterns (pii*, legal-hold*) as one anchored regular expression for the query.

    Names are compared lower-cased. Only annotation-name characters and the wildcards * and ? are
    accepted, so the expression means the same in Trino's (Java) and DuckDB's (RE2) syntax.
    """
    if isinstance(patterns, str) or not isinstance(patterns, (list, tuple)):
        raise ValueError(f"protected must be a list of name patterns such as [\"pii*\"], got {patterns!r}")
    parts = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not _NAME_PATTERN.match(pattern):
            raise ValueError(f"protected: {pattern!r} is not a name pattern (letters, digits, _ . - and * ?)")
        parts.append("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()))
    # Annotation names are never empty, so "^$" protects nothing.
    return "^(" + "|".join(parts) + ")$" if parts else "^$"


def _runs(inputs: Inputs, options: dict[str, Any]) -> list[tuple[None, dict[str, Any]]]:
    try:
        return [(None, {"protected": protected_regex(options["protected"])})]
    except ValueError as exc:
        raise BadInput(f"[report.detectors.annotation_tampering] {exc}") from None


@register("annotation_tampering", "Protected annotations (PII flags, retention, legal holds) deleted or rewritten by "
          "an account that does not maintain them, or from a new address; bursts of annotation deletes.",
          evidence=EVIDENCE, runs=_runs, severity="high", new_actor_severity="critical",
          protected=["pii*", "retention*", "legal-hold*", "classification*"], use_allowlist=True,
          learn_writers=True, writers=[], burst_min_count=50, burst_mad_factor=10.0, burst_peak_factor=3.0,
          span_hours=2)
def annotation_tampering(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    rows = inputs.rows("annotation_tampering")
    grains: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        grains.setdefault(r["grain"], []).append(r)
    allow = options["_allowlist"]
    before = [r for r in inputs.grain("pair") if not r["in_window"]] + grains.get("actor", [])
    known_requesters = {r["requester"] for r in before} | {
        k for k, first in inputs.known_requesters.items() if first < inputs.since}
    known_ips = {r["source_ip_address"] for r in before} | {k for k, first in inputs.known_ips.items()
                                                            if first < inputs.since}
    trusted = set(options["writers"]) | (set(allow.accounts) if options["use_allowlist"] else set())
    if options["learn_writers"]:
        trusted |= {r["requester"] for r in grains.get("actor", []) if r["requester"] and r["protected_changes"]}

    # While the report is learning (too little baseline) nobody counts as new; and unless the config
    # names the writers, "not a writer" itself rests on the baseline, so such findings are novelty.
    learning = inputs.learning
    configured = bool(options["writers"]) or bool(options["use_allowlist"] and allow.accounts)

    def new_ip(ip: str | None) -> bool:
        return not learning and ip is not None and ip not in known_ips and not allow.ip(ip)

    suspicious: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for r in grains.get("change", []):
        requester = r["requester"]
        service = requester is not None and requester.endswith(".amazonaws.com")  # S3 itself, replication
        if service or (requester in trusted and not new_ip(r["source_ip_address"])):
            continue
        suspicious.setdefault((r["bucket"], requester), []).append(r)
    findings = [_tampering(options, bucket, requester, group, not learning and requester not in known_requesters,
                           sorted({r["source_ip_address"] for r in group if new_ip(r["source_ip_address"])}),
                           novelty=not configured)
                for (bucket, requester), group in sorted(suspicious.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]
    findings += _bursts(inputs, options, grains.get("deletes", []), known_requesters)
    return findings


def _kind(r: dict[str, Any]) -> str:
    if r["record_type"] == "DELETE_ANNOTATION":
        return "deleted"
    # A write after a write is an overwrite; with nothing before it in the window (the evidence
    # query reads keys for the window only), the journal cannot tell a new annotation from an
    # overwrite of one written earlier.
    return "overwritten" if r["previous_type"] in ("CREATE_ANNOTATION", "UPDATE_ANNOTATION_METADATA") else "written"


def _tampering(options, bucket, requester, group, new_requester, new_ips, novelty) -> Finding:
    kinds: dict[str, int] = {}
    names: dict[str, int] = {}
    ips: dict[str, int] = {}
    for r in group:
        kinds[_kind(r)] = kinds.get(_kind(r), 0) + 1
        names[r["annotation_name"]] = names.get(r["annotation_name"], 0) + 1
        if r["source_ip_address"]:
            ips[r["source_ip_address"]] = ips.get(r["source_ip_address"], 0) + 1
    new = new_requester or bool(new_ips)
    note = " (never seen before)" if new_requester else (
        f" from {', '.join(new_ips[:3])}, never seen before" if new_ips else "")
    first, last = min(r["record_timestamp"] for r in group), max(r["record_timestamp"] for r in group)
    sample = [{"key": r["key"], "version_id": r["version_id"], "name": r["annotation_name"], "change": _kind(r),
               "at": r["record_timestamp"], "previous_e_tag": r["previous_e_tag"], "e_tag": r["e_tag"]}
              for r in group[:_SAMPLE_KEYS]]
    evidence = {"requester": requester, "source_ip": next(iter(top(ips, 1)), None), "source_ips": top(ips, 10),
                "new_actor": new, "new_requester": new_requester, "new_source_ips": new_ips, "count": len(group),
                "changes": kinds, "names": top(names, 10), "sample_keys": [r["key"] for r in group[:_SAMPLE_KEYS]],
                "sample": sample,
                "previous_writers": sorted({r["previous_requester"] for r in group if r["previous_requester"]})[:10],
                "first_seen": first, "last_seen": last}
    return Finding(
        "annotation_tampering", options["new_actor_severity"] if new else options["severity"],
        f"Protected annotations changed by {requester or 'an unknown requester'}{note}: "
        + " and ".join(f"{n} {k}" for k, n in sorted(kinds.items())), bucket, evidence, RUNBOOK,
        subject=("protected", requester), events=tuple((r["bucket"], r["key"], r["sequence_number"]) for r in group),
        first_seen=first, last_seen=last, novelty=novelty)


def _bursts(inputs, options, rows, known_requesters) -> list[Finding]:
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["requester"] is not None:
            series.setdefault((r["bucket"], r["requester"]), []).append(r)
    thresholds = {"min_count": options["burst_min_count"], "mad_factor": options["burst_mad_factor"],
                  "peak_factor": options["burst_peak_factor"], "span_hours": options["span_hours"]}
    findings = []
    for (bucket, requester), group in sorted(series.items()):
        s = spike(group, inputs, thresholds)
        if s is None:
            continue
        new = requester not in known_requesters and not inputs.learning
        findings.append(Finding(
            "annotation_tampering", options["new_actor_severity"] if new else options["severity"],
            f"Burst of annotation deletes by {requester}: {s.peak} in {options['span_hours']} h"
            f"{' (never seen before)' if new else f' (baseline peak {s.baseline_peak})'}", bucket,
            {"requester": requester, "new_actor": new, **s.evidence()}, RUNBOOK,
            subject=("burst", requester), first_seen=s.first_seen, last_seen=s.last_seen, novelty=True))
    return findings
