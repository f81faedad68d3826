"""Webhook delivery against real HTTP receivers started here: redirects, trickles, garbage, deadlines.

Each receiver is a plain TCP server that reads one request and answers with a script of raw
bytes and pauses, so it can misbehave the way real endpoints and middleboxes do. Every failure is
a recorded, failed delivery: the report files are written, the exit code is 3, the state does not
advance, and the next run sends the findings again.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from datetime import datetime, timedelta

import pytest

from analytics import fixtures
from analytics.report.notify import send_webhook
from conftest import cli

END = datetime(2025, 11, 30)
MESSAGE = {"source": "s3meta report", "findings": [{"title": "t"}]}


class _Receiver(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, script):
        self.script = script
        self.requests: list[tuple[str, bytes]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.rfile.readline()
            if not line:
                return
            head += line
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(h.split(":", 1)[1]) for h in lines if h.lower().startswith("content-length:")), 0)
        self.server.requests.append((lines[0], self.rfile.read(length)))
        with contextlib.suppress(OSError):  # the client may hang up first: that is what some tests check
            for part in self.server.script:
                if isinstance(part, (int, float)):
                    time.sleep(part)
                else:
                    self.wfile.write(part)
                    self.wfile.flush()


@contextlib.contextmanager
def receiver(*script):
    server = _Receiver(list(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/SECRET-TOKEN?sig=abc"
    finally:
        server.shutdown()
        server.server_close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
REDIRECT = (b"HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:{port}/hooks/T000/SECRET-TOKEN\r\n"
            b"Content-Length: 0\r\n\r\n")
# One header line a second for 40 s: each read succeeds well within a 2 s read timeout.
TRICKLE = [b"HTTP/1.1 200 OK\r\n"] + [part for i in range(40) for part in (1, b"X-Slow-%d: y\r\n" % i)] + [b"\r\n"]
SLOW_BODY = [b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n"] + [part for _ in range(40) for part in (1, b"xxxxx")]
GARBAGE = [b"SSH-2.0-OpenSSH_9.6\r\n\r\n"]
TOO_MANY = [b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"]
SERVER_ERROR = [b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"]


def test_a_redirect_is_a_failed_delivery_naming_the_location_and_the_post_is_not_resent():
    with receiver(REDIRECT) as (server, url):
        server.script = [REDIRECT.replace(b"{port}", str(server.server_address[1]).encode())]
        outcome = send_webhook(url, MESSAGE, timeout=5)
    assert outcome["ok"] is False and outcome["status"] == 302
    assert f"redirect to https://127.0.0.1:{server.server_address[1]}/…" in outcome["error"]
    assert "use the https:// URL" in outcome["error"] and "SECRET" not in json.dumps(outcome)
    assert [line for line, _ in server.requests] == ["POST /hooks/T000/SECRET-TOKEN?sig=abc HTTP/1.1"]
    assert json.loads(server.requests[0][1]) == MESSAGE


@pytest.mark.parametrize("script, error", [
    (TRICKLE, "no complete answer within 2 s"),
    (GARBAGE, "not valid HTTP"),
    (TOO_MANY, "more than 100 headers"),
    (SERVER_ERROR, "HTTP 500 Internal Server Error"),
], ids=["trickled headers", "garbage status line", "150 headers", "500"])
def test_a_misbehaving_receiver_is_a_failed_delivery_within_the_deadline(script, error):
    with receiver(*script) as (server, url):
        started = time.monotonic()
        outcome = send_webhook(url, MESSAGE, timeout=2)
        elapsed = time.monotonic() - started
    assert outcome["ok"] is False and error in outcome["error"], outcome
    assert "SECRET" not in json.dumps(outcome) and "sig=abc" not in json.dumps(outcome)
    # The trickle would last 40 s; the deadline is wall-clock time for the whole request.
    assert elapsed < 15, elapsed


def test_a_slow_body_after_a_2xx_is_a_delivery_and_is_not_waited_for():
    with receiver(*SLOW_BODY) as (_, url):
        started = time.monotonic()
        outcome = send_webhook(url, MESSAGE, timeout=2)
    assert outcome["ok"] is True and outcome["status"] == 200
    assert time.monotonic() - started < 15


def test_connection_refused_and_unusable_urls_are_recorded_not_raised():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the connection is refused
        refused = send_webhook(f"http://127.0.0.1:{port}/x", MESSAGE, timeout=2)
    assert refused["ok"] is False and "cannot connect" in refused["error"] and "refused" in refused["error"]
    for url, error in [("file:///etc/passwd", "unsupported scheme 'file'"), ("ftp://example.com/x", "scheme 'ftp'"),
                       ("gopher://127.0.0.1:70/", "scheme 'gopher'"), ("http:///nohost", "names no host"),
                       ("not a url", "no scheme"), ("http://127.0.0.1:99999/", "not a valid URL")]:
        outcome = send_webhook(url, MESSAGE, timeout=2)
        assert outcome["ok"] is False and error in outcome["error"], (url, outcome)


def test_the_standard_proxy_variables_are_honoured(monkeypatch):
    with receiver(OK) as (proxy, proxy_url):
        monkeypatch.setenv("http_proxy", proxy_url.split("/hooks")[0])
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        outcome = send_webhook("http://hooks.example.invalid/services/SECRET", MESSAGE, timeout=5)
    assert outcome["ok"] is True, outcome
    assert proxy.requests[0][0] == "POST http://hooks.example.invalid/services/SECRET HTTP/1.1"


# --- through the CLI: report files, exit 3, state kept, the next run retries ---------------------------

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("webhook")
    manifest = fixtures.generate(out, rows=12000, seed=5, days=14, end=END)
    start = datetime.fromisoformat(manifest["incidents"]["mass_delete"]["since"]).replace(minute=0, second=0)
    return out, start - timedelta(hours=3), start + timedelta(hours=3)


def _report(data, tmp_path, url, *extra):
    out, since, until = data
    return cli("report", "--data", str(out), "--since", since.isoformat(), "--until", until.isoformat(),
               "--webhook", url, "--state", str(tmp_path / "state.json"), "--format", "json",
               "--format", "markdown", "--output", str(tmp_path / "out" / "report.json"), *extra)


@pytest.mark.parametrize("script, error", [
    ([REDIRECT], "HTTP 302 Found: redirect to https://"),
    (TRICKLE, "no complete answer within 2 s"),
    (GARBAGE, "not valid HTTP"),
    (TOO_MANY, "more than 100 headers"),
    (SERVER_ERROR, "HTTP 500"),
], ids=["302", "trickled headers", "garbage status line", "150 headers", "500"])
def test_every_failed_delivery_is_recorded_exits_3_and_the_next_run_retries(data, tmp_path, script, error):
    config = tmp_path / "config.toml"
    config.write_text("[report.notify]\ntimeout = 2\n", encoding="utf-8")
    with receiver(*script) as (server, url):
        server.script = [p.replace(b"{port}", b"1") if isinstance(p, bytes) else p for p in script]
        started = time.monotonic()
        failed = _report(data, tmp_path, url, "--config", str(config))
        elapsed = time.monotonic() - started
    assert failed.returncode == 3, failed.stderr
    assert error in failed.stderr and "SECRET" not in failed.stderr and "internal error" not in failed.stderr
    assert "state not advanced" in failed.stderr and elapsed < 35  # not the trickle's 40 s
    doc = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert doc["findings"] and doc["notifications"][0]["ok"] is False and error in doc["notifications"][0]["error"]
    assert "FAILED" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert not (tmp_path / "state.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    with receiver(OK) as (server, url):  # the receiver is fixed: the next run sends the same findings
        retried = _report(data, tmp_path, url, "--config", str(config))
    assert retried.returncode == 1, retried.stderr
    assert len(server.requests) == 1 and json.loads(server.requests[0][1])["findings"]
    assert json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))["runs"] == 1


@pytest.mark.parametrize("where", ["flag", "config"])
def test_a_webhook_url_that_cannot_be_posted_to_is_bad_input(data, tmp_path, where):
    config = tmp_path / "config.toml"
    if where == "flag":
        proc = _report(data, tmp_path, "file:///etc/passwd")
    else:
        config.write_text('[report.notify]\nwebhook_url = "file:///etc/passwd"\n', encoding="utf-8")
        out, since, until = data
        proc = cli("report", "--data", str(out), "--config", str(config), "--state", str(tmp_path / "state.json"),
                   "--output", str(tmp_path / "out" / "report.json"))
    assert proc.returncode == 2, proc.stderr
    # The flag is checked as it is parsed; a config's URL when the notifier is built.
    refusal = "expected an http:// or https:// URL" if where == "flag" else "unsupported scheme 'file'"
    assert refusal in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "state.json").exists() and not (tmp_path / "out").exists()
