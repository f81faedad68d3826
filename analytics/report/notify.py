"""Report notifications: an SNS publish (boto3) and a webhook POST (urllib), each reporting its outcome.

A notification never raises: each channel returns {"channel", "target", "ok", "error", "findings"}
and the report records the list, so a failed delivery never loses the report; the CLI turns a
failure into exit code 3. Only new findings at or above `min_severity` are sent, and nothing is
sent when there are none.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ..values import jsonable

SNS_LIMIT = 256 * 1024 - 1024  # SNS message limit (256 KiB) with room for the envelope


def payload(report, min_severity: str, limit: int = SNS_LIMIT) -> dict[str, Any] | None:
    """The message: window, counts and the findings to send (cut to fit `limit` bytes), or None."""
    findings = report.at_or_above(min_severity)
    if not findings:
        return None
    doc = {"source": "s3meta report", "generated_at": jsonable(report.generated_at),
           "window": {"since": jsonable(report.since), "until": jsonable(report.until)},
           "new_findings": len(findings), "findings": [f.to_dict() for f in findings], "truncated": False}
    while len(json.dumps(doc, ensure_ascii=False).encode("utf-8")) > limit and doc["findings"]:
        doc["findings"] = doc["findings"][: len(doc["findings"]) // 2]
        doc["truncated"] = True
    return doc


def subject(report, min_severity: str) -> str:
    findings = report.at_or_above(min_severity)
    worst = findings[0].severity.upper() if findings else "INFO"
    text = f"s3meta: {len(findings)} new finding(s), worst {worst}"
    return text.encode("ascii", "replace").decode("ascii")[:100]  # SNS subjects: ASCII, at most 100 chars


def send_sns(topic_arn: str, message: dict[str, Any], title: str, region: str | None = None) -> dict[str, Any]:
    result = {"channel": "sns", "target": topic_arn, "ok": False, "error": None, "findings": len(message["findings"])}
    try:
        import boto3  # lazy: `import analytics` must not load boto3

        client = boto3.client("sns", region_name=region or _region(topic_arn))
        response = client.publish(TopicArn=topic_arn, Subject=title,
                                  Message=json.dumps(message, ensure_ascii=False))
        result["ok"], result["message_id"] = True, response.get("MessageId")
    except Exception as exc:  # any failure is reported, never raised: the report must survive it
        result["error"] = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    return result


def _region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def send_webhook(url: str, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    result = {"channel": "webhook", "target": _redacted(url), "ok": False, "error": None,
              "findings": len(message["findings"])}
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "User-Agent": "s3meta-report"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's URL
            result["status"] = response.status
            result["ok"] = 200 <= response.status < 300
            if not result["ok"]:
                result["error"] = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        result["status"], result["error"] = exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        result["error"] = " ".join(str(getattr(exc, "reason", exc)).split())[:300]
    return result


def _redacted(url: str) -> str:
    # Webhook URLs often carry a secret: a token in the path or query, or user:password before the
    # host. Keep only the scheme, host and port.
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{host}{port}/…" if host else "(invalid URL)"


def notify(report, sns_topic_arn: str | None = None, webhook_url: str | None = None,
           min_severity: str = "high", timeout: float = 10.0, region: str | None = None) -> list[dict[str, Any]]:
    """Send the report's new findings to each configured channel; record and return the outcomes."""
    outcomes: list[dict[str, Any]] = []
    if not (sns_topic_arn or webhook_url):
        return outcomes
    message = payload(report, min_severity)
    if message is None:
        return outcomes
    if sns_topic_arn:
        outcomes.append(send_sns(sns_topic_arn, message, subject(report, min_severity), region))
    if webhook_url:
        outcomes.append(send_webhook(webhook_url, message, timeout))
    report.notifications.extend(outcomes)
    return outcomes


__all__ = ["notify", "payload", "send_sns", "send_webhook"]
