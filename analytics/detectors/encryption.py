"""Encryption detectors: unencrypted uploads, uploads that break a per-prefix rule, and downgrades.

Row-level: each finding lists the (bucket, key, sequence_number) of its events, so overlapping
scheduled runs report an event once (analytics.report drops events the state has already seen).
"""

from __future__ import annotations

from typing import Any

from . import Finding, Inputs, register, top

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


def rule_matches(rule: dict[str, Any], bucket: str, key: str) -> bool:
    return (rule.get("bucket") in (None, bucket)) and key.startswith(rule["prefix"])


@register("encryption_rule", "Uploads under a prefix that break its encryption rule from the config.",
          severity="high")
def encryption_rule(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    findings = []
    for rule, rows in inputs.rule_violations:
        for (bucket,), group in sorted(_group(rows, "bucket").items()):
            facts = _facts(group)
            statuses = {}
            for r in group:
                name = r["encryption_status"] or "unencrypted"
                statuses[name] = statuses.get(name, 0) + 1
            findings.append(Finding(
                "encryption_rule", options["severity"],
                f"{len(group)} uploads under {rule['prefix']} break its rule (require {', '.join(rule['require'])})",
                bucket, {"prefix": rule["prefix"], "require": list(rule["require"]), "statuses": top(statuses, 10),
                         **facts},
                "Re-encrypt the listed objects (copy in place with the required SSE settings), and enforce the "
                "rule with a bucket policy that denies PutObject without it.",
                subject=(rule["prefix"],), events=_events(group),
                first_seen=facts["first_seen"], last_seen=facts["last_seen"]))
    return findings


@register("unencrypted_upload", "Uploads stored unencrypted (encryption_status NULL).", severity="medium")
def unencrypted_upload(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    ruled = {(r["bucket"], r["key"], r["sequence_number"]) for _, rows in inputs.rule_violations for r in rows}
    rows = [r for r in inputs.unencrypted if (r["bucket"], r["key"], r["sequence_number"]) not in ruled]
    findings = []
    for (bucket, requester), group in sorted(_group(rows, "bucket", "requester").items(),
                                              key=lambda kv: (kv[0][0], kv[0][1] or "")):
        facts = _facts(group)
        findings.append(Finding(
            "unencrypted_upload", options["severity"],
            f"{len(group)} unencrypted uploads by {requester or 'an unknown requester'}", bucket, facts,
            "Set default encryption on the bucket (SSE-S3 or SSE-KMS) and re-encrypt these objects by copying "
            "them in place; find the client that sends SSE-less uploads.",
            subject=(requester,), events=_events(group), first_seen=facts["first_seen"], last_seen=facts["last_seen"]))
    return findings


@register("encryption_downgrade", "A key overwritten with weaker encryption, or moved to another KMS key.",
          severity="medium", other_key_severity="low")
def encryption_downgrade(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    findings = []
    for (bucket, change), group in sorted(_group(inputs.encryption_changes, "bucket", "change").items()):
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
            f"{len(group)} overwrites {'with weaker encryption' if weaker else 'moved to another KMS key'}",
            bucket, {"change": change, "transitions": top(transitions, 10), **facts},
            "Check the writer's SSE settings; a key overwritten with weaker encryption (or an unexpected KMS key) "
            "can mean a misconfigured client or an attacker re-writing data under their own key.",
            subject=(change,), events=_events(group), first_seen=facts["first_seen"], last_seen=facts["last_seen"]))
    return findings
