"""Deletes counted over 24 hours, against the baseline's busiest day: what 2-hour spikes miss.

- lifecycle_expiration: S3 Lifecycle's deletes per bucket and prefix (MITRE ATT&CK T1485.001: an
  attacker who sets a rule that expires everything). The rule change itself is only in CloudTrail
  (PutBucketLifecycleConfiguration); the journal shows its effect at the next Lifecycle run, spread
  over hours, with requester s3.amazonaws.com and no IP for delete markers. An expiration in an
  unversioned bucket is a permanent delete, and AWS's rule for those leaves every column but six
  NULL, requester included: such deletes are counted per prefix as their own series ("no requester
  recorded"), so the detector catches the abuse whichever way the journal records it.
- slow_deletes: one actor's deletes over 24 hours against its own baseline: a few an hour for a day
  stays under every 2-hour threshold, and the account is often a known one (stolen keys).

Both use spike() with 24-hour spans sliding by the hour: a prefix or actor without any in the
baseline needs only its `new_min_count`. Both compare with the baseline, so their findings are
novelty: while the report is learning they are held at info, and nothing counts as never seen.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .. import schema
from . import HOUR, Finding, Inputs, register, spike, top
from .deletes import DELETE_KINDS, _series
from .rewrites import prefix_of


def _day_spike(series: list[dict[str, Any]], inputs: Inputs, options: dict[str, Any]):
    """spike() over 24-hour spans; (Spike or None, whether the baseline had none of it)."""
    new = not inputs.learning and not any(int(r["events"]) for r in series if not r["in_window"])
    chosen = {**options, "span_hours": options.get("span_hours", 24)}
    if new:
        chosen["min_count"] = min(options["min_count"], options["new_min_count"])
    # No span can reach min_count when the whole window holds fewer: most series stop here, before
    # spike() slides 24-hour sums over the baseline (hundreds of series, a few hundred hours each).
    if sum(int(r["events"]) for r in series if r["in_window"]) < chosen["min_count"]:
        return None, new
    return spike(series, inputs, chosen), new


@register("lifecycle_expiration", "S3 Lifecycle deletes (and permanent deletes, which carry no requester) per "
          "prefix over 24 hours, where the baseline has none or far fewer: a lifecycle rule turned against "
          "the bucket.", severity="high", min_count=50, new_min_count=20, mad_factor=10.0, peak_factor=3.0,
          span_hours=24)
def lifecycle_expiration(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    rows = [r for r in inputs.grain("prefix") if r["kind"] in DELETE_KINDS
            and r["actor_class"] in ("lifecycle", "unattributed")]
    findings = []
    for (bucket, prefix, actor_class), series in sorted(_series(rows, "bucket", "top_level_prefix",
                                                                "actor_class").items()):
        s, new = _day_spike(series, inputs, options)
        if s is None:
            continue
        shown = prefix or "(keys without a prefix)"
        kinds = Counter()
        for r in series:
            if r["in_window"]:
                kinds[r["kind"]] += int(r["events"])
        base = "none in the baseline" if new else f"baseline busiest day {s.baseline_peak}"
        lifecycle = actor_class == "lifecycle"
        if lifecycle:
            title = f"S3 Lifecycle expired {s.peak} objects under {shown} in 24 h ({base})"
        else:
            title = (f"{s.peak} permanent deletes under {shown} in 24 h, no requester recorded ({base}): "
                     "Lifecycle expirations in an unversioned bucket, or version deletes")
        findings.append(Finding(
            "lifecycle_expiration", options["severity"], title, bucket,
            {"prefix": prefix, "requester": schema.LIFECYCLE_PRINCIPAL if lifecycle else None, "source_ip": None,
             "actor_class": actor_class, "new_prefix": new, "delete_markers": kinds["DELETE_MARKER"],
             "permanent_deletes": kinds["DELETE"], **s.evidence()},
            "Check CloudTrail for PutBucketLifecycleConfiguration on this bucket: the rule change is not in the "
            "journal. Find who set it and from where, put the previous rule back, and revoke those credentials. "
            "Delete markers hide versions that can still be restored (`s3meta restore-plan --requester "
            "s3.amazonaws.com`); permanent deletes in an unversioned bucket cannot be undone.",
            subject=(prefix, actor_class), first_seen=s.first_seen, last_seen=s.last_seen, novelty=True,
            sample={"bucket": bucket, "prefix": prefix or None, "since": s.first_seen, "until": s.last_seen,
                    **({"requester": schema.LIFECYCLE_PRINCIPAL} if lifecycle else {"unattributed": 1})}))
    return findings


def _burst_share(series: list[dict[str, Any]], inputs: Inputs) -> float:
    """The share of the window's deletes that fall in its busiest 2 hours: near 1 for a burst."""
    hourly: dict[Any, int] = {}
    for r in series:
        if r["in_window"]:
            hourly[r["hour"]] = hourly.get(r["hour"], 0) + int(r["events"])
    total = sum(hourly.values())
    busiest = max((n + hourly.get(h + HOUR, 0) for h, n in hourly.items()), default=0)
    return busiest / total if total else 0.0


def _slow(inputs: Inputs, options: dict[str, Any]) -> list[tuple[str, str, str, Any, bool]]:
    """(bucket, 'requester' or 'ip', actor, Spike, new) for each actor whose 24-hour deletes stand out.

    Deletes packed into two hours are a burst, mass_delete's to report: an actor counts here when its
    busiest two hours hold at most `max_burst_share` of its deletes in the window.
    """
    by_requester = [r for r in inputs.grain("requester") if r["kind"] in DELETE_KINDS
                    and r["requester"] is not None and r["requester"] != schema.LIFECYCLE_PRINCIPAL]
    by_ip = [r for r in inputs.grain("ip") if r["kind"] in DELETE_KINDS and r["delete_ip"] is not None]
    found, covered = [], set()
    for (bucket, requester), series in sorted(_series(by_requester, "bucket", "requester").items()):
        s, new = _day_spike(series, inputs, options)
        if s is not None and _burst_share(series, inputs) <= options["max_burst_share"]:
            found.append((bucket, "requester", requester, s, new))
            covered |= {(bucket, ip) for ip in _related(inputs, bucket, "requester", requester)}
    for (bucket, ip), series in sorted(_series(by_ip, "bucket", "delete_ip").items()):
        if (bucket, ip) in covered:
            continue
        s, new = _day_spike(series, inputs, options)
        if s is not None and _burst_share(series, inputs) <= options["max_burst_share"]:
            found.append((bucket, "ip", ip, s, new))
    return found


def _related(inputs: Inputs, bucket: str, by: str, actor: str) -> dict[str, int]:
    """In the window: the source IPs of a requester, or the requesters of a source IP, with their records."""
    column, other = ("requester", "source_ip_address") if by == "requester" else ("source_ip_address", "requester")
    out: dict[str, int] = {}
    for r in inputs.grain("pair"):
        if r["in_window"] and r["bucket"] == bucket and r[column] == actor and r[other] is not None:
            out[r[other]] = out.get(r[other], 0) + int(r["events"])
    return out


def slow_delete_runs(inputs: Inputs, options: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """detect_delete_samples once per flagged actor: the deletes behind the title's prefixes and sample keys.

    Each run's context is the flagged actor and its Spike, so the detector does not slide the
    24-hour sums again.
    """
    return [(flagged, {"bucket": flagged[0], flagged[1]: flagged[2]}) for flagged in _slow(inputs, options)]


@register("slow_deletes", "One actor's deletes over 24 hours far above its own busiest baseline day: a steady "
          "trickle under every 2-hour threshold, often a known account's stolen keys.",
          evidence="detect_delete_samples", runs=slow_delete_runs, severity="high", min_count=50, new_min_count=20,
          mad_factor=10.0, peak_factor=3.0, span_hours=24, max_burst_share=0.5)
def slow_deletes(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    runs = inputs.evidence.get("slow_deletes")
    if runs is None:  # the samples were not fetched (a detector called directly): flag without them
        runs = [(flagged, []) for flagged in _slow(inputs, options)]
    known_ips = {r["source_ip_address"] for r in inputs.grain("pair") if not r["in_window"]}
    known_ips |= {ip for ip, first in inputs.known_ips.items() if first < inputs.since}
    findings = []
    for (bucket, by, actor, s, new), rows in runs:
        prefixes = Counter(prefix_of(r["key"]) for r in rows)
        related = top(_related(inputs, bucket, by, actor), 10)
        if by == "requester":
            requester, ip, label = actor, next(iter(related), None), "account"
            new_ips = sorted(i for i in related if i not in known_ips)
        else:
            requester, ip, label = next(iter(related), None), actor, "source IP"
            new_ips = [actor] if actor not in known_ips else []
        what = ", ".join(f"{p or '(no prefix)'} {n}" for p, n in prefixes.most_common(3))
        sampled = f" (of the first {len(rows)})" if s.window_total > len(rows) else ""
        base = "never seen in the baseline" if new else f"its busiest baseline day: {s.baseline_peak}"
        title = f"Slow deletes by {label} {actor}: {s.peak} deletes in 24 h ({base})"
        if what:
            title += f" under {what}{sampled}"
        if new_ips and by == "requester":
            title += f", from {', '.join(new_ips[:3])} (never seen before)"
        findings.append(Finding(
            "slow_deletes", options["severity"], title, bucket,
            {"actor_type": by, "requester": requester, "source_ip": ip, "new_actor": new, "new_source_ips": new_ips,
             "prefix": prefixes.most_common(1)[0][0] if prefixes else None, "prefixes": top(dict(prefixes), 10),
             "delete_markers": sum(1 for r in rows if r["is_delete_marker"]),
             "sample_keys": [r["key"] for r in rows[:10]],
             ("source_ips" if by == "requester" else "requesters"): related, **s.evidence()},
            "A steady trickle of deletes above this actor's norm: stolen keys or a runaway job. Confirm with the "
            "owner; if it is not theirs, deactivate the keys, then restore with `s3meta restore-plan` (requester "
            "or IP, and this finding's first_seen and last_seen).",
            subject=(by, actor), first_seen=s.first_seen, last_seen=s.last_seen, novelty=True))
    return findings
