"""Delete detectors: spikes per prefix, mass deletes by one actor, and unattributed (permanent) deletes.

S3 Lifecycle (requester s3.amazonaws.com) is left out of the spike and mass-delete counts: expiring
objects on schedule is not an incident. Permanent deletes carry no requester or IP (AWS's NULL rule
for the journal), so they cannot be pinned on an actor and feed the unattributed-deletes detector.

Every finding here compares the window with its baseline, so all are novelty: while the report is
learning they are held at info, and no actor counts as "never seen" (no critical, no lower count).
"""

from __future__ import annotations

from typing import Any

from .. import schema
from . import Finding, Inputs, register, spike, severity_rank, SEVERITIES
from .wording import burst, burst_count

DELETE_KINDS = ("DELETE_MARKER", "DELETE")


def _series(rows, *fields):
    out: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r[f] for f in fields), []).append(r)
    return out


def _prefix_spikes(inputs: Inputs, options: dict[str, Any], actor_classes: tuple[str, ...]):
    """(bucket, prefix, prefix as shown, Spike, deletes in its flagged hours) for each prefix whose deletes
    by `actor_classes` spike."""
    rows = [r for r in inputs.grain("prefix") if r["kind"] in DELETE_KINDS and r["actor_class"] in actor_classes]
    for (bucket, prefix), series in sorted(_series(rows, "bucket", "top_level_prefix").items()):
        s = spike(series, inputs, options)
        if s is not None:
            yield bucket, prefix, prefix or "(keys without a prefix)", s, burst_count(series, s)


def _bump(severity: str, steps: int = 1) -> str:
    return SEVERITIES[min(severity_rank(severity) + steps, len(SEVERITIES) - 1)]


@register("delete_spike", "Deletes by users and services (not Lifecycle) in a prefix, against its baseline.",
          severity="high", min_count=50, mad_factor=10.0, peak_factor=3.0, span_hours=2)
def delete_spike(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    findings = []
    for bucket, prefix, shown, s, count in _prefix_spikes(inputs, options, ("user", "service")):
        findings.append(Finding(
            "delete_spike", options["severity"], f"Delete spike in {shown}: "
            f"{burst(count, 'delete', s.first_seen, s.last_seen)}{_usual(s, options)}", bucket,
            {"prefix": prefix, **s.evidence()},
            "Check who deleted (see mass_delete findings and sample keys); if unexpected, restore with "
            "`s3meta query hidden_versions` and review the actors' IAM permissions.",
            subject=(prefix,), first_seen=s.first_seen, last_seen=s.last_seen, novelty=True,
            sample={"bucket": bucket, "prefix": prefix or None, "since": s.first_seen, "until": s.last_seen}))
    return findings


@register("mass_delete", "Many deletes (delete markers included) by one requester or one source IP.",
          severity="high", new_actor_severity="critical", min_count=50, new_actor_min_count=20,
          mad_factor=10.0, peak_factor=3.0, span_hours=2)
def mass_delete(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    by_requester = [r for r in inputs.grain("requester") if r["kind"] in DELETE_KINDS
                    and r["requester"] is not None and r["requester"] != schema.LIFECYCLE_PRINCIPAL]
    by_ip = [r for r in inputs.grain("ip") if r["kind"] in DELETE_KINDS and r["delete_ip"] is not None]
    # The IPs a requester finding explains are its window pairs: the same rows its spike counted.
    pairs = [r for r in inputs.grain("pair") if r["in_window"]]
    baseline_requesters = {r["requester"] for r in inputs.grain("pair") if not r["in_window"]}
    baseline_requesters |= {k for k, v in inputs.known_requesters.items() if v < inputs.since}
    baseline_ips = {r["source_ip_address"] for r in inputs.grain("pair") if not r["in_window"]}
    baseline_ips |= {k for k, v in inputs.known_ips.items() if v < inputs.since}

    findings: list[Finding] = []
    covered: set[tuple[str, str]] = set()  # (bucket, ip) already explained by a requester finding
    # An actor never seen in the baseline needs fewer deletes to count: nothing it does is routine.
    new_options = {**options, "min_count": min(options["min_count"], options["new_actor_min_count"])}
    for (bucket, requester), series in sorted(_series(by_requester, "bucket", "requester").items()):
        ips = {r["source_ip_address"]: int(r["events"]) for r in pairs
               if r["bucket"] == bucket and r["requester"] == requester and r["source_ip_address"]}
        new = requester not in baseline_requesters and not inputs.learning
        s = spike(series, inputs, new_options if new else options)
        if s is None:
            continue
        covered |= {(bucket, ip) for ip in ips}
        # A known account deleting from an address never seen before is the stolen-key pattern.
        new_ips = [] if inputs.learning else sorted(ip for ip in ips if ip not in baseline_ips)
        findings.append(_finding(options, bucket, "requester", requester, s, burst_count(series, s), new, ips,
                                 new_ips))
    for (bucket, ip), series in sorted(_series(by_ip, "bucket", "delete_ip").items()):
        if (bucket, ip) in covered:
            continue
        new = ip not in baseline_ips and not inputs.learning
        s = spike(series, inputs, new_options if new else options)
        if s is None:
            continue
        requesters = {r["requester"]: int(r["events"]) for r in pairs
                      if r["bucket"] == bucket and r["source_ip_address"] == ip and r["requester"]}
        findings.append(_finding(options, bucket, "ip", ip, s, burst_count(series, s), new, requesters,
                                 [ip] if new else []))
    return findings


def _usual(s, options) -> str:
    """The baseline's busiest span, said with its width (the burst is said with its real duration)."""
    return f" (baseline peak {s.baseline_peak} in {options.get('span_hours', 2)} h)"


def _finding(options, bucket, by, actor, s, count, actor_new, related, new_ips) -> Finding:
    new = actor_new or bool(new_ips)
    severity = options["new_actor_severity"] if new else options["severity"]
    if not new and s.peak >= 10 * s.threshold:
        severity = _bump(severity)
    if actor_new:
        note = " (never seen in the baseline)"
    elif new_ips:
        note = f" from {', '.join(new_ips[:3])}, never seen in the baseline"
    else:
        note = _usual(s, options)
    label = "account" if by == "requester" else "source IP"
    evidence = {"actor_type": by, "requester": actor if by == "requester" else None,
                "source_ip": actor if by == "ip" else None, "new_actor": new, "new_source_ips": new_ips,
                **s.evidence()}
    if by == "requester":
        evidence["source_ips"] = dict(sorted(related.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        if related:
            evidence["source_ip"] = next(iter(evidence["source_ips"]))
    else:
        evidence["requesters"] = dict(sorted(related.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        if related:
            evidence["requester"] = next(iter(evidence["requesters"]))
    return Finding(
        "mass_delete", severity,
        f"Mass delete by {label} {actor}: {burst(count, 'delete', s.first_seen, s.last_seen)}{note}",
        bucket, evidence,
        "Ransomware pattern: block the actor now (deny in the bucket policy, disable its keys), then "
        "list the hidden versions (`s3meta query hidden_versions`) and remove the delete markers to restore.",
        subject=(by, actor), first_seen=s.first_seen, last_seen=s.last_seen, novelty=True,
        sample={"bucket": bucket, by: actor, "since": s.first_seen, "until": s.last_seen})


@register("unattributed_deletes", "Permanent deletes (no requester recorded) in a prefix, against its baseline.",
          severity="medium", min_count=100, mad_factor=10.0, peak_factor=3.0, span_hours=2)
def unattributed_deletes(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    findings = []
    for bucket, prefix, shown, s, count in _prefix_spikes(inputs, options, ("unattributed",)):
        findings.append(Finding(
            "unattributed_deletes", options["severity"],
            f"Spike of permanent deletes in {shown}: {burst(count, 'delete', s.first_seen, s.last_seen)}"
            f"{_usual(s, options)}", bucket, {"prefix": prefix, **s.evidence()},
            "Permanent deletes carry no requester in the journal: find the caller in CloudTrail data events "
            "(DeleteObject/DeleteObjects with a versionId) for these keys and times; check Lifecycle "
            "noncurrent-version rules first.",
            subject=(prefix,), first_seen=s.first_seen, last_seen=s.last_seen, novelty=True,
            sample={"bucket": bucket, "prefix": prefix or None, "unattributed": 1,
                    "since": s.first_seen, "until": s.last_seen}))
    return findings
