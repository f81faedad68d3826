"""Tag tampering: GuardDuty verdicts rewritten by someone else, and protected tags stripped.

GuardDuty Malware Protection for S3 tags each scanned object GuardDutyMalwareScanStatus (s3-metadata
reference, section 6). A THREATS_FOUND verdict turned into anything else by a requester that is not
GuardDuty hides malware from everyone who trusts the tag. Tags such as retention, legal-hold or
classification drive policies (tag-based access, lifecycle filters): stripping them from many objects
prepares their deletion or exfiltration. Both compare a tag change with the tags the same version
had just before (detect_rewrites), not with a baseline: they page even while the report is learning.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from functools import lru_cache
from typing import Any

from .. import schema
from . import Finding, Inputs, register, top
from .encryption import _group
from .rewrites import actor_label, one_actor, row_finding

# UNCONFIRMED (reference, section 6): the requester the journal records for GuardDuty's tag writes.
GUARDDUTY_PRINCIPAL = "malware-protection-plan.guardduty.amazonaws.com"


def protected_keys(removed_tags: str | None, patterns: list[str]) -> list[str]:
    """The removed tag keys (comma-separated, as detect_rewrites lists them) a pattern matches (case-insensitive)."""
    if not removed_tags:
        return []
    matches = _globs(tuple(patterns))
    return [k for k in removed_tags.split(",") if matches(k.lower())]


@lru_cache(maxsize=8)
def _globs(patterns: tuple[str, ...]):
    """One compiled matcher for all the globs (fnmatch syntax), lower-cased."""
    return re.compile("|".join(fnmatch.translate(p.lower()) for p in patterns) or "(?!)").match


def _verdict_findings(rows: list[dict], options: dict[str, Any]) -> list[Finding]:
    guardduty = set(options["guardduty_principals"])
    changed = [r for r in rows if r["previous_verdict"] == "THREATS_FOUND" and r["verdict"] != "THREATS_FOUND"
               and r["requester"] not in guardduty]
    findings = []
    for (bucket, requester), group in sorted(_group(changed, "bucket", "requester").items(),
                                             key=lambda kv: (kv[0][0], kv[0][1] or "")):
        now = Counter(r["verdict"] or "(tag removed)" for r in group)
        findings.append(row_finding(
            "tag_tampering", options["verdict_severity"],
            f"GuardDuty malware verdicts rewritten by {actor_label(group)}: {len(group)} objects found THREATS_FOUND "
            f"now say {', '.join(sorted(now))}", bucket, group,
            {"tag": schema.GUARDDUTY_TAG, "verdicts": top(dict(now), 10),
             "objects": [{"key": r["key"], "version_id": r["version_id"], "previous": r["previous_verdict"],
                          "now": r["verdict"], "flagged_by": r["previous_requester"],
                          "flagged_at": r["previous_timestamp"]} for r in group[:10]]},
            "Treat these objects as malware: quarantine them (deny reads in the bucket policy), restore the "
            "THREATS_FOUND tag, and find who else read them. Only GuardDuty should write this tag: revoke the "
            "requester's credentials and deny s3:PutObjectTagging on it to everyone but GuardDuty's role.",
            subject=("verdict", requester)))
    return findings


def _protected_findings(inputs: Inputs, rows: list[dict], options: dict[str, Any]) -> list[Finding]:
    patterns = list(options["protected_tags"])
    removed = {id(r): protected_keys(r["removed_tags"], patterns) for r in rows}
    findings = []
    for bucket, requester, ip, group, share in one_actor([r for r in rows if removed[id(r)]], inputs, options):
        keys = Counter(k for r in group for k in removed[id(r)])
        findings.append(row_finding(
            "tag_tampering", options["severity"],
            f"Protected tags stripped from {len(group)} objects by {actor_label(group)}: "
            f"{', '.join(f'{k} ({n})' for k, n in keys.most_common(5))}", bucket, group,
            {"removed_tags": top(dict(keys), 10), "share_of_actor_activity": round(share, 3),
             "protected_tags": patterns},
            "Restore the tags from the previous records (`s3meta query key_version_history`), then find what the "
            "actor did next: deletes or reads the tags used to prevent. Deny s3:PutObjectTagging and "
            "s3:DeleteObjectTagging on protected keys (aws:TagKeys / s3:ExistingObjectTag conditions).",
            subject=("protected", requester, ip)))
    return findings


@register("tag_tampering", "A GuardDuty THREATS_FOUND verdict changed by anyone but GuardDuty (critical); "
          "protected tags (retention, legal hold, classification) stripped from many objects by one actor (high).",
          evidence="detect_rewrites", severity="high", verdict_severity="critical", min_count=10, min_share=0.3,
          protected_tags=["retention*", "legal-hold*", "legalhold*", "classification*"],
          guardduty_principals=[GUARDDUTY_PRINCIPAL])
def tag_tampering(inputs: Inputs, options: dict[str, Any]) -> list[Finding]:
    rows = [r for r in inputs.rows("tag_tampering") if r["record_type"] == "UPDATE_METADATA"]
    return _verdict_findings(rows, options) + _protected_findings(inputs, rows, options)
