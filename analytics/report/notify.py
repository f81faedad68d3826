"""Report notifications: an SNS publish (boto3) and a webhook POST (urllib3), each reporting its outcome.

A notification never raises: each channel returns {"channel", "target", "ok", "error", "findings"}
and the report records the list, so a failed delivery never loses the report; the CLI turns a
failure into exit code 3. Only new findings at or above `min_severity` are sent, and nothing is
sent when there are none.
"""

from __future__ import annotations

import contextlib
import json
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
           "new_findings": len(findings), "findings": [f.to_dict() for f in findings], "truncated": False,
           "notes": list(getattr(report, "notes", []))}
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


def check_url(url: Any) -> str:
    """The webhook URL if it can be POSTed to (http or https, with a host); ValueError saying why not."""
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url.strip():
        raise ValueError("expected an http:// or https:// URL")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        # file://, ftp://, data: ... would read or write something else than a receiver's HTTP endpoint.
        raise ValueError(f"unsupported scheme {parts.scheme.lower()!r}: a webhook is an http:// or https:// URL"
                         if parts.scheme else "no scheme: a webhook is an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    return url.strip()


class _Undelivered(Exception):
    """A webhook POST that did not get a response; the message says why, without the URL's secrets."""


def send_webhook(url: str, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """POST the message as JSON; the outcome says whether a 2xx came back within `timeout` seconds.

    Never raises and never follows a redirect: a 3xx is a failed delivery naming where it pointed.
    """
    result: dict[str, Any] = {"channel": "webhook", "target": _redacted(url), "ok": False, "error": None,
                              "findings": len(message["findings"])}
    try:
        status, reason, location = _post(check_url(url), json.dumps(message, ensure_ascii=False).encode("utf-8"),
                                         timeout)
    except (ValueError, _Undelivered) as exc:
        result["error"] = _scrub(str(exc), url)
        return result
    except Exception as exc:  # any failure is reported, never raised: the report must survive it
        result["error"] = _scrub(f"{type(exc).__name__}: {exc}", url)
        return result
    result["status"] = status
    result["ok"] = 200 <= status < 300
    if 300 <= status < 400:
        from urllib.parse import urljoin

        target = _redacted(urljoin(url, location)) if location else None
        where = target or "nowhere (no Location header)"
        hint = " (the same host over https: use the https:// URL)" if target and \
            target == _redacted(url).replace("http://", "https://", 1) != _redacted(url) else ""
        result["error"] = (f"HTTP {status} {reason}: redirect to {where}{hint} not followed; a POST is never "
                           "re-sent to another address, configure the final URL")
    elif not result["ok"]:
        result["error"] = f"HTTP {status} {reason}".strip()
    return result


def _post(url: str, body: bytes, timeout: float) -> tuple[int, str, str | None]:
    """POST `body` to `url`: (status, reason, Location) within `timeout` seconds of wall-clock time.

    urllib3 is the maintained client here because its settings say what the report needs and
    urllib's do not: `redirect=False` (urllib follows a 302 by re-sending the POST as a GET without
    its body, and reports the GET's 200), `retries=False` (a POST is not idempotent), and a status
    line or header block that is not HTTP raises its ProtocolError instead of escaping as some other
    exception. Its `Timeout(total=...)` bounds connecting and each read, but not a receiver that
    trickles one header line every few seconds (each read succeeds in time). So the request runs on
    a worker thread and the caller waits `timeout` seconds of wall-clock time, the DNS lookup
    included (no socket timeout covers getaddrinfo); at the deadline the connection is shut, which
    ends the worker's read, and the delivery has failed. The body of the answer is never read: the
    status decides.
    """
    import socket
    import threading
    import urllib.request
    from urllib.parse import urlsplit

    import urllib3
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    opened: list[socket.socket] = []  # what the deadline shuts

    def watched(pool: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
        class Connection(pool.ConnectionCls):  # type: ignore[name-defined,misc]
            def connect(self) -> None:
                super().connect()
                opened.append(self.sock)
        return type(pool.__name__, (pool,), {"ConnectionCls": Connection})

    # The standard proxy variables (HTTPS_PROXY, NO_PROXY...), as urllib honoured them.
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme.lower())
    if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
        proxy = None
    settings: dict[str, Any] = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "num_pools": 1}
    manager = urllib3.ProxyManager(proxy, **settings) if proxy else urllib3.PoolManager(**settings)
    manager.pool_classes_by_scheme = {"http": watched(HTTPConnectionPool), "https": watched(HTTPSConnectionPool)}
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            response = manager.request("POST", url, body=body, redirect=False, preload_content=False,
                                       headers={"Content-Type": "application/json; charset=utf-8",
                                                "User-Agent": "s3meta-report"})
            outcome["answer"] = (response.status, response.reason or "", response.headers.get("Location"))
            response.close()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=send, name="s3meta-webhook", daemon=True)
    worker.start()
    worker.join(timeout)
    try:
        if worker.is_alive():
            raise _Undelivered(f"no complete answer within {timeout:g} s (the deadline for the whole request)")
        if "error" in outcome:
            raise _Undelivered(_describe(outcome["error"])) from None
        return outcome["answer"]
    finally:
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        manager.clear()


def _describe(exc: BaseException) -> str:
    """A urllib3 failure in words: its own messages name connection objects and URLs."""
    import urllib3.exceptions as e

    inner = exc
    while isinstance(inner, e.HTTPError) and inner.args and isinstance(inner.args[-1], BaseException):
        inner = inner.args[-1]  # ProtocolError('Connection aborted.', BadStatusLine(...)) and the like
    text = " ".join(str(inner).split())[:200]
    if isinstance(exc, e.NameResolutionError):
        return "cannot resolve the host name"
    if isinstance(exc, (e.NewConnectionError, e.ConnectTimeoutError)):
        cause = exc.__cause__ or exc.__context__
        reason = getattr(cause, "strerror", None) or text.split(": ")[-1]
        return f"cannot connect: {reason}"
    if isinstance(exc, e.SSLError):
        return f"TLS failed: {text}"
    if isinstance(exc, e.ReadTimeoutError):
        return "no answer in time"
    if isinstance(exc, e.ProtocolError):
        return f"the answer is not valid HTTP: {type(inner).__name__}: {text}" if inner is not exc else \
            f"the answer is not valid HTTP: {text}"
    return f"{type(inner).__name__}: {text}"


def _scrub(text: str, url: str) -> str:
    """One line, at most 300 characters, with no part of the URL that may hold a secret."""
    from urllib.parse import urlsplit

    text = " ".join(text.split())
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        for secret in (url, parts.path, parts.query, parts.password, parts.username):
            if secret and len(secret) > 1:
                text = text.replace(secret, "…")
    return text[:300]


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


__all__ = ["check_url", "notify", "payload", "send_sns", "send_webhook"]
