"""Encryption detectors: unencrypted uploads, uploads that break a per-prefix rule, and downgrades.

Row-level: each finding lists the (bucket, key, sequence_number) of its events, so overlapping
scheduled runs report an event once (analytics.report drops events the state has already seen).
"""

from __future__ import annotations

from typing import Any

from . import Finding, Inputs, register, top
from .wording import plural

_SAMPLE_KEYS = 10


def _group(rows, *fields) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(f) for f in fields), []).append(r)
    return out


def _facts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    requesters: dict[str, int] = {}
    ips: dict[str, int] = {}
    for r in rows:
        if r.get("requester"):
            requesters[r["requester"]] = requesters.get(r["requester"], 0) + 1
        if r.get("source_ip_address"):
            ips[r["source_ip_address"]] = ips.get(r["source_ip_address"], 0) + 1
    requesters, ips = top(requesters, 10), top(ips, 10)
    return {"count": len(rows), "requester": next(iter(requesters), None), "source_ip": next(iter(ips), None),
            "requesters": requesters, "source_ips": ips,
            "sample_keys": [r["key"] for r in rows[:_SAMPLE_KEYS]],
            "first_seen": min(r["record_timestamp"] for r in rows),
            "last_seen": max(r["record_timestamp"] for r in rows)}


def _events(rows) -> tuple:
    return tuple((r["bucket"], r["key"], r["sequence_number"]) for r in rows)


KMS_TYPES = ("SSE-KMS", "DSSE-KMS")


def inferred_rules(activity: list[dict[str, Any]], configured: list[dict[str, Any]],
                   min_uploads: int) -> list[dict[str, Any]]:
    """KMS-only prefixes seen in the baseline: every one of at least `min_uploads` uploads used KMS.

    A bucket policy that requires SSE-KMS under a prefix (as in the STG302 workshop's ssekms-only/)
    shows in the journal as a prefix where nothing but KMS was ever written; an upload there with
    weaker encryption breaks that norm even when no rule is configured. Configured rules win.
    """
    if min_uploads <= 0:
        return []
    totals: dict[tuple[str, str], list[int]] = {}
    for r in activity:
        if r["grain"] == "prefix" and r["kind"] == "CREATE" and not r["in_window"] and r["top_level_prefix"]:
            total = totals.setdefault((r["bucket"], r["top_level_prefix"]), [0, 0])
            total[0] += r["events"]
            total[1] += r.get("kms_events") or 0
    covered = {(rule.get("bucket"), rule["prefix"]) for rule in configured}
    return [{"bucket": bucket, "prefix": prefix, "require": list(KMS_TYPES), "inferred": True,
             "baseline_uploads": uploads}
            for (bucket, prefix), (uploads, kms) in sorted(totals.items())
            if uploads >= min_uploads and kms == uploads
            and (bucket, prefix) not in covered and (None, prefix) not in covered]


def rule_matches(rule: dict[str, Any], bucket: str, key: str) -> bool:
    return (rule.get("bucket") in (None, bucket)) and key.startswith(rule["prefix"])


def rule_runs(inputs: Inputs, options: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One run of the evidence query per rule, configured or inferred: (rule, its parameters)."""
    rules = [*options["_rules"], *inferred_rules(inputs.activity, options["_rules"], int(options["infer_min_uploads"]))]
    return [(rule, {"bucket": rule.get("bucket"), "prefix": rule["prefix"], "allowed": ",".join(rule["require"])})
            for rule in rules]


@register("encryption_rule", "Uploads under a prefix that break its encryption rule: from the config, or "
          "inferred from a baseline in which every upload there used KMS.",
          evidence="detect_unencrypted_uploads", runs=rule_runs, severity="high", infer_min_uploads=10)
def encryption_rule(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    findings = []
    for rule, rows in inputs.evidence.get("encryption_rule", []):
        for (bucket,), group in sorted(_group(rows, "bucket").items()):
            facts = _facts(group)
            statuses = {}
            for r in group:
                name = r["encryption_status"] or "unencrypted"
                statuses[name] = statuses.get(name, 0) + 1
            origin = (f"every one of its {rule['baseline_uploads']} baseline uploads used "
                      f"{' or '.join(rule['require'])}" if rule.get("inferred")
                      else f"the config requires {', '.join(rule['require'])}")
            findings.append(Finding(
                "encryption_rule", options["severity"],
                f"{plural(len(group), 'upload')} under {rule['prefix']} with weaker encryption ({origin})",
                bucket, {"prefix": rule["prefix"], "require": list(rule["require"]),
                         "rule": "inferred" if rule.get("inferred") else "configured",
                         "statuses": top(statuses, 10), **facts},
                "Re-encrypt the listed objects (copy in place with the required SSE settings), and enforce the "
                "rule with a bucket policy that denies PutObject without it.",
                subject=(rule["prefix"],), events=_events(group), novelty=bool(rule.get("inferred")),
                first_seen=facts["first_seen"], last_seen=facts["last_seen"]))
    return findings


@register("unencrypted_upload", "Uploads stored unencrypted (encryption_status NULL).",
          evidence="detect_unencrypted_uploads", severity="medium")
def unencrypted_upload(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    # An upload that breaks a prefix's rule is reported once, by encryption_rule.
    ruled = {(r["bucket"], r["key"], r["sequence_number"]) for r in inputs.rows("encryption_rule")}
    rows = [r for r in inputs.rows("unencrypted_upload") if (r["bucket"], r["key"], r["sequence_number"]) not in ruled]
    findings = []
    for (bucket, requester), group in sorted(_group(rows, "bucket", "requester").items(),
                                              key=lambda kv: (kv[0][0], kv[0][1] or "")):
        facts = _facts(group)
        findings.append(Finding(
            "unencrypted_upload", options["severity"],
            f"{plural(len(group), 'unencrypted upload')} by {requester or 'an unknown requester'}", bucket, facts,
            "Set default encryption on the bucket (SSE-S3 or SSE-KMS) and re-encrypt these objects by copying "
            "them in place; find the client that sends SSE-less uploads.",
            subject=(requester,), events=_events(group), first_seen=facts["first_seen"], last_seen=facts["last_seen"]))
    return findings


@register("encryption_downgrade", "A key overwritten with weaker encryption, or moved to another KMS key.",
          evidence="detect_encryption_changes", severity="medium", other_key_severity="low")
def encryption_downgrade(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    findings = []
    changes = inputs.rows("encryption_downgrade")
    for (bucket, change), group in sorted(_group(changes, "bucket", "change").items()):
        facts = _facts(group)
        transitions: dict[str, int] = {}
        for r in group:
            if change == "weaker":
                name = f"{r['previous_status'] or 'unencrypted'} -> {r['encryption_status'] or 'unencrypted'}"
            else:
                name = f"{r['previous_kms_key_arn']} -> {r['kms_key_arn']}"
            transitions[name] = transitions.get(name, 0) + 1
        weaker = change == "weaker"
        findings.append(Finding(
            "encryption_downgrade", options["severity"] if weaker else options["other_key_severity"],
            f"{plural(len(group), 'overwrite')} "
            f"{'with weaker encryption' if weaker else 'moved to another KMS key'}",
            bucket, {"change": change, "transitions": top(transitions, 10), **facts},
            "Check the writer's SSE settings; a key overwritten with weaker encryption (or an unexpected KMS key) "
            "can mean a misconfigured client or an attacker re-writing data under their own key.",
            subject=(change,), events=_events(group), first_seen=facts["first_seen"], last_seen=facts["last_seen"]))
    return findings
