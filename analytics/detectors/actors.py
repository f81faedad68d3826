"""Actor detectors: requesters and source IPs never seen before, and surges of changes by one actor.

"Seen before" means in the baseline period of the journal or in the report state's first-seen sets
(journal records may expire after 7 days; the state keeps what the journal forgets). NULL
requesters and IPs (permanent deletes, actions by AWS services) are never "new". Allowlisted CIDRs
and accounts never count. While the report is learning (too little baseline), every actor would be
"new": the two novelty detectors report nothing then, and change surges are held at info.
"""

from __future__ import annotations

from typing import Any

from . import Finding, Inputs, register, spike, top
from .wording import burst, burst_count, plural


def _known(inputs: Inputs, column: str, state: dict) -> set[str]:
    seen = {r[column] for r in inputs.grain("pair") if not r["in_window"] and r[column] is not None}
    return seen | {k for k, first in state.items() if first < inputs.since}


def _sightings(inputs: Inputs, column: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    other = "source_ip_address" if column == "requester" else "requester"
    for r in inputs.grain("pair"):
        value = r[column]
        if not r["in_window"] or value is None:
            continue
        s = out.setdefault(value, {"events": 0, "buckets": {}, "related": {}, "first_seen": r["first_seen"],
                                   "last_seen": r["last_seen"]})
        n = int(r["events"])
        s["events"] += n
        s["buckets"][r["bucket"]] = s["buckets"].get(r["bucket"], 0) + n
        if r[other] is not None:
            s["related"][r[other]] = s["related"].get(r[other], 0) + n
        s["first_seen"] = min(s["first_seen"], r["first_seen"])
        s["last_seen"] = max(s["last_seen"], r["last_seen"])
    return out


@register("new_requester", "An account or principal that never acted in the baseline (or in the state).",
          severity="medium", service_severity="low", min_events=1)
def new_requester(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    if inputs.learning:
        return []
    allow = options["_allowlist"]
    known = _known(inputs, "requester", inputs.known_requesters)
    findings = []
    for requester, s in sorted(_sightings(inputs, "requester").items()):
        if requester in known or allow.requester(requester) or s["events"] < options["min_events"]:
            continue
        service = ".amazonaws.com" in requester
        bucket = next(iter(top(s["buckets"], 1)))
        ips = top(s["related"], 10)
        findings.append(Finding(
            "new_requester", options["service_severity"] if service else options["severity"],
            f"New requester {requester}: {plural(s['events'], 'event')}, never seen in the baseline", bucket,
            {"requester": requester, "source_ip": next(iter(ips), None), "count": s["events"],
             "buckets": top(s["buckets"], 10), "source_ips": ips,
             "first_seen": s["first_seen"], "last_seen": s["last_seen"]},
            "Confirm the account is expected (a new partner, a new role); if so add it to "
            "[report.allowlist] accounts, otherwise review its access in the bucket policy.",
            subject=(requester,), first_seen=s["first_seen"], last_seen=s["last_seen"]))
    return findings


@register("new_source_ip", "A source IP address that never appeared in the baseline (or in the state).",
          severity="low", min_events=1)
def new_source_ip(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    if inputs.learning:
        return []
    allow = options["_allowlist"]
    known = _known(inputs, "source_ip_address", inputs.known_ips)
    findings = []
    for ip, s in sorted(_sightings(inputs, "source_ip_address").items()):
        if ip in known or allow.ip(ip) or s["events"] < options["min_events"]:
            continue
        requesters = top(s["related"], 10)
        bucket = next(iter(top(s["buckets"], 1)))
        findings.append(Finding(
            "new_source_ip", options["severity"], f"New source IP {ip}: {plural(s['events'], 'event')}, never seen "
            "in the baseline", bucket,
            {"source_ip": ip, "requester": next(iter(requesters), None), "count": s["events"],
             "buckets": top(s["buckets"], 10), "requesters": requesters,
             "first_seen": s["first_seen"], "last_seen": s["last_seen"]},
            "Check where the address belongs (VPC endpoint, office, CI runner); add known ranges to "
            "[report.allowlist] cidrs.",
            subject=(ip,), first_seen=s["first_seen"], last_seen=s["last_seen"]))
    return findings


@register("change_surge", "A surge of uploads/overwrites or tag and metadata changes by one account.",
          severity="medium", min_count=200, mad_factor=10.0, peak_factor=3.0, span_hours=2)
def change_surge(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    # Service principals (Lifecycle transitions, GuardDuty's tags) change metadata on schedule: left out.
    findings = []
    groups: dict[tuple, dict[str, list]] = {}
    for r in inputs.grain("requester"):
        if r["kind"] not in ("CREATE", "UPDATE_METADATA") or r["requester"] is None \
                or ".amazonaws.com" in r["requester"]:
            continue
        groups.setdefault((r["bucket"], r["requester"]), {}).setdefault(r["kind"], []).append(r)
    for (bucket, requester), kinds in sorted(groups.items()):
        for kind, series in sorted(kinds.items()):
            s = spike(series, inputs, options)
            if s is None:
                continue
            what = (("upload or overwrite", "uploads and overwrites") if kind == "CREATE"
                    else ("tag or metadata change", "tag and metadata changes"))
            count = burst_count(series, s)
            findings.append(Finding(
                "change_surge", options["severity"],
                f"Surge by {requester}: {burst(count, what[0], s.first_seen, s.last_seen, what[1])} "
                f"(baseline peak {s.baseline_peak} in {options.get('span_hours', 2)} h)", bucket,
                {"requester": requester, "record_type": kind, **s.evidence()},
                "Confirm the job or person behind the account; mass overwrites and tag rewrites can hide "
                "ransomware (encrypt-in-place) or break tag-based policies.",
                subject=(requester, kind), first_seen=s.first_seen, last_seen=s.last_seen, novelty=True))
    return findings
