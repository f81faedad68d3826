"""Rewrite detectors: data made unreadable or destroyed in place, without a single delete.

- sse_c_ransomware: objects rewritten with SSE-C (customer-provided keys), the "Codefinger"
  campaign of 2025: with a stolen key, the attacker re-encrypts objects under a key only they hold.
- kms_key_swap: writes under a KMS key of an account that is neither the bucket owner's nor seen
  in the baseline: the key's owner can later disable or delete it.
- destructive_overwrite: existing objects overwritten with empty or tiny ones.

They read detect_rewrites (each window write set against the key's previous write; shared with
encryption_downgrade and tag_tampering, so the journal is looked back through once) and, for a key
swap, detect_kms_writes, run only for a key the activity shows to be foreign.

sse_c_ransomware and kms_key_swap (unless `bucket_owners` names the owner) judge by the baseline, so
their findings are novelty, held at info while the report is learning; destructive_overwrite
compares each object with the one it replaced and needs no baseline.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from . import Finding, Inputs, register, top
from .encryption import _events, _facts, _group

DAY = timedelta(hours=24)
_ACCOUNT = re.compile(r"^\d{12}$")


def prefix_of(key: str) -> str:
    """The top-level prefix, as detect_activity computes it: up to the first '/', or '' without one."""
    return key[:key.index("/") + 1] if "/" in key else ""


def busiest_day(hourly: dict[datetime, int], inputs: Inputs) -> int:
    """The largest 24-hour total of the baseline's hourly counts (hours before the window only)."""
    hours = sorted(h for h in hourly if h < inputs.since)
    best = total = first = 0
    for hour in hours:
        total += hourly[hour]
        while hours[first] <= hour - DAY:
            total -= hourly[hours[first]]
            first += 1
        best = max(best, total)
    return best


def actor_label(rows: list[dict[str, Any]]) -> str:
    """'requester from IP' for the rows' most frequent requester and address."""
    facts = _facts(rows)
    who = facts["requester"] or "an unknown requester"
    return f"{who} from {facts['source_ip']}" if facts["source_ip"] else who


def row_finding(detector: str, severity: str, title: str, bucket: str, rows: list[dict[str, Any]],
                evidence: dict[str, Any], runbook: str, subject: tuple, novelty: bool = False) -> Finding:
    """A finding over row-level evidence: who, from where, which prefixes, when, and which events.

    `novelty`: the finding rests on the baseline (see analytics.detectors), so it is held at info
    while the report is learning.
    """
    facts = _facts(rows)
    prefixes = Counter(prefix_of(r["key"]) for r in rows)
    return Finding(detector, severity, title, bucket,
                   {**facts, "prefix": prefixes.most_common(1)[0][0], "prefixes": top(dict(prefixes), 10), **evidence},
                   runbook, subject=subject, events=_events(rows), first_seen=facts["first_seen"],
                   last_seen=facts["last_seen"], novelty=novelty)


def one_actor(rows: list[dict[str, Any]], inputs: Inputs, options: dict[str, Any]):
    """(bucket, requester, IP, rows, share) per actor with at least `min_count` rows making `min_share` of its window.

    The share's denominator is everything the actor (requester and source IP) did in the window: an
    account that edits objects all day shrinks or retags a few in passing; an attacker's window is
    mostly the damage.
    """
    activity: dict[tuple, int] = {}
    for r in inputs.grain("pair"):
        if r["in_window"]:
            ident = (r["bucket"], r["requester"], r["source_ip_address"])
            activity[ident] = activity.get(ident, 0) + int(r["events"])
    for (bucket, requester, ip), group in sorted(_group(rows, "bucket", "requester", "source_ip_address").items(),
                                                 key=lambda kv: tuple(v or "" for v in kv[0])):
        share = len(group) / max(activity.get((bucket, requester, ip), 0), len(group))
        if len(group) >= options["min_count"] and share >= options["min_share"]:
            yield bucket, requester, ip, group, share


# --- SSE-C ransomware ---------------------------------------------------------------------------------

def _sse_c_baseline(inputs: Inputs) -> tuple[dict[tuple, int], dict[str, int]]:
    """Baseline SSE-C writes per (bucket, prefix), and each bucket's busiest 24 hours of them."""
    per_prefix: dict[tuple, int] = {}
    hourly: dict[str, dict] = {}
    for r in inputs.grain("prefix"):
        if r["kind"] != "CREATE" or r["in_window"]:
            continue
        n = int(r.get("sse_c_events") or 0)
        ident = (r["bucket"], r["top_level_prefix"])
        per_prefix[ident] = per_prefix.get(ident, 0) + n
        by_hour = hourly.setdefault(r["bucket"], {})
        by_hour[r["hour"]] = by_hour.get(r["hour"], 0) + n
    return per_prefix, {bucket: busiest_day(h, inputs) for bucket, h in hourly.items()}


@register("sse_c_ransomware", "Writes with SSE-C (customer-provided keys) where the baseline has none (high), "
          "or rewriting existing objects in volume (critical): the Codefinger ransomware pattern.",
          evidence="detect_rewrites", severity="high", overwrite_severity="critical", min_count=5,
          overwrite_min_count=20, peak_factor=3.0)
def sse_c_ransomware(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    rows = [r for r in inputs.rows("sse_c_ransomware")
            if r["record_type"] == "CREATE" and r["encryption_status"] == "SSE-C"]
    per_prefix, busiest = _sse_c_baseline(inputs)
    findings = []
    for (bucket, requester), group in sorted(_group(rows, "bucket", "requester").items(),
                                             key=lambda kv: (kv[0][0], kv[0][1] or "")):
        prefixes = Counter(prefix_of(r["key"]) for r in group)
        fresh = {p: n for p, n in prefixes.items() if per_prefix.get((bucket, p), 0) == 0}
        # The ransomware signal: an object that was readable with S3's or KMS's keys now needs the writer's.
        overwrites = [r for r in group if r["overwrite"] and r["previous_status"] != "SSE-C"]
        peak = busiest.get(bucket, 0)
        rewrite = len(overwrites) >= options["overwrite_min_count"] and len(overwrites) > options["peak_factor"] * peak
        if not rewrite and sum(fresh.values()) < options["min_count"]:
            continue
        previous = Counter(r["previous_status"] or "unencrypted" for r in overwrites)
        if rewrite:
            title = (f"SSE-C ransomware pattern: {len(overwrites)} existing objects rewritten with customer-provided "
                     f"keys by {actor_label(group)} (baseline busiest day: {peak} SSE-C writes in the bucket)")
        else:
            title = (f"{sum(fresh.values())} SSE-C writes by {actor_label(group)} under "
                     f"{', '.join(sorted(fresh))} (no SSE-C write there in the baseline)")
        findings.append(row_finding(
            "sse_c_ransomware", options["overwrite_severity"] if rewrite else options["severity"], title, bucket,
            group, {"overwrites": len(overwrites), "previous_encryption": top(dict(previous), 10),
                    "prefixes_without_sse_c_baseline": sorted(fresh),
                    "baseline": {"busiest_day_sse_c_writes": peak,
                                 "sse_c_writes": {p: per_prefix.get((bucket, p), 0) for p in sorted(prefixes)}}},
            "Ransomware: revoke the credentials behind the requester now (deactivate the access keys, revoke the "
            "role's sessions) and block the source IP in the bucket policy. SSE-C objects are unreadable without "
            "the customer's key, which AWS does not keep: restore the previous versions (`s3meta query "
            "key_version_history`), and check CloudTrail for PutBucketLifecycleConfiguration, which this campaign "
            "uses to expire the objects within days. Deny SSE-C where it is not needed (bucket policy condition "
            "s3:x-amz-server-side-encryption-customer-algorithm).", subject=(requester,),
            # "Where the baseline has none" and "above the busiest baseline day" both rest on the baseline.
            novelty=True))
    return findings


# --- KMS key swap -------------------------------------------------------------------------------------

def kms_account(arn: str | None) -> str | None:
    """The account of a KMS key ARN: its fifth field (arn:aws:kms:region:account:key/id)."""
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def bucket_owners(inputs: Inputs, options: dict[str, Any]) -> dict[str, tuple[set[str], str]]:
    """Per bucket: the accounts whose KMS keys are expected there, and how the owner was found.

    The journal does not name the bucket owner. In order: the `bucket_owners` setting; else the
    account owning the most distinct KMS keys used in the bucket's baseline; else, when the
    baseline used no KMS key in the bucket, the accounts that made requests there. Accounts of
    every key the baseline used, and the `trusted_accounts` setting, are expected too.
    """
    keys: dict[str, set[str]] = {}
    for r in inputs.grain("ip"):
        if r.get("kms_key_arn") and r["kind"] == "CREATE" and not r["in_window"]:
            keys.setdefault(r["bucket"], set()).add(r["kms_key_arn"])
    buckets = {r["bucket"] for r in inputs.grain("ip") if r.get("kms_key_arn")}
    out = {}
    for bucket in sorted(buckets):
        seen = {a for a in map(kms_account, keys.get(bucket, ())) if a}
        expected = seen | set(options["trusted_accounts"])
        if bucket in options["bucket_owners"]:
            expected.add(options["bucket_owners"][bucket])
            how = "setting"
        elif seen:
            owned = Counter(kms_account(k) for k in keys[bucket])
            expected.add(min(owned.items(), key=lambda kv: (-kv[1], kv[0]))[0])
            how = "baseline keys"
        else:
            expected |= {r["requester"] for r in inputs.grain("pair") if r["bucket"] == bucket and not r["in_window"]
                         and r["requester"] and _ACCOUNT.match(r["requester"])}
            how = "baseline requesters"
        out[bucket] = (expected, how)
    return out


def foreign_key_runs(inputs: Inputs, options: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """One detect_kms_writes run per (bucket, key) written in the window under an unexpected account's key."""
    owners = bucket_owners(inputs, options)
    window = sorted({(r["bucket"], r["kms_key_arn"]) for r in inputs.grain("ip")
                     if r.get("kms_key_arn") and r["kind"] == "CREATE" and r["in_window"]})
    return [((bucket, arn, owners[bucket]), {"bucket": bucket, "kms_key_arn": arn}) for bucket, arn in window
            if kms_account(arn) not in owners[bucket][0]]


@register("kms_key_swap", "Writes under a KMS key whose account is neither the bucket owner's nor seen in the "
          "baseline: whoever owns the key can make the objects unreadable.",
          evidence="detect_kms_writes", runs=foreign_key_runs, severity="high", bucket_owners={},
          trusted_accounts=[])
def kms_key_swap(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    findings = []
    for (bucket, arn, (expected, how)), rows in inputs.evidence.get("kms_key_swap", []):
        if not rows:
            continue
        account = kms_account(arn)
        previous = Counter(r["previous_status"] or "new object" for r in rows)
        findings.append(row_finding(
            "kms_key_swap", options["severity"],
            f"{len(rows)} objects written under a KMS key of account {account} by {actor_label(rows)}: {arn} "
            "(never used in the bucket's baseline)", bucket, rows,
            {"kms_key_arn": arn, "kms_account": account, "expected_accounts": sorted(expected),
             "bucket_owner": options["bucket_owners"].get(bucket), "owner_inferred_from": how,
             "previous_encryption": top(dict(previous), 10)},
            "Re-encrypt these objects with the bucket's own key now, while the foreign key still works (copy in "
            "place with SSE-KMS and your key ID): its owner can disable or delete it and make them unreadable. "
            "Revoke the writer's credentials, and deny other accounts' keys in the bucket policy "
            "(s3:x-amz-server-side-encryption-aws-kms-key-id). If the account is yours, set "
            "[report.detectors.kms_key_swap] bucket_owners or trusted_accounts.", subject=(arn,),
            # A configured owner makes a foreign key absolute; an inferred one rests on the baseline.
            novelty=how != "setting"))
    return findings


# --- destructive overwrite ----------------------------------------------------------------------------

@register("destructive_overwrite", "Existing objects overwritten with empty or tiny ones (size 0, or at most "
          "max_fraction of the previous size) by one actor: data destroyed without a delete.",
          evidence="detect_rewrites", severity="high", min_count=10, max_fraction=0.1, min_share=0.3)
def destructive_overwrite(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    # detect_rewrites returns overwrites down to a tenth of the previous size: a larger max_fraction acts as 0.1.
    fraction = min(float(options["max_fraction"]), 0.1)
    rows = [r for r in inputs.rows("destructive_overwrite")
            if r["record_type"] == "CREATE" and r["overwrite"] and (r["previous_size"] or 0) > 0
            and r["size"] <= r["previous_size"] * fraction]
    findings = []
    for bucket, requester, ip, group, share in one_actor(rows, inputs, options):
        before = sum(r["previous_size"] for r in group)
        after = sum(r["size"] for r in group)
        empty = sum(1 for r in group if r["size"] == 0)
        findings.append(row_finding(
            "destructive_overwrite", options["severity"],
            f"{len(group)} objects overwritten with empty or tiny versions by {actor_label(group)}: {empty} now "
            f"empty, {before:,} bytes before, {after:,} after", bucket, group,
            {"empty": empty, "bytes_before": before, "bytes_after": after, "share_of_actor_activity": round(share, 3),
             "objects": [{"key": r["key"], "size_before": r["previous_size"], "size_after": r["size"]}
                         for r in group[:10]]},
            "Data destroyed in place: revoke the writer's credentials, suspend lifecycle rules that expire "
            "noncurrent versions, and restore the previous versions (`s3meta query key_version_history`). In an "
            "unversioned bucket the previous content is gone: restore it from a backup or a replica.",
            subject=(requester, ip)))
    return findings
