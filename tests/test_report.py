"""The report: scheduled runs with state, lock and atomic writes; CLI; escaping; notifications."""

from __future__ import annotations

import html.parser
import http.server
import json
import os
import threading
from datetime import datetime, timedelta

import pyarrow.parquet as pq
import pytest

import analytics
from analytics import fixtures, report
from analytics.report.state import State, StateLocked, lock
from conftest import HAND_INVENTORY, cli, write_tables

END = datetime(2025, 11, 30)
RULES = '[[report.encryption_rules]]\nbucket = "acme-prod-data"\nprefix = "ssekms-only/"\nrequire = ["SSE-KMS"]\n'


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    manifest = fixtures.generate(out, rows=12000, seed=5, days=14, end=END)
    return out, manifest


def window_of(manifest, name="mass_delete"):
    start = datetime.fromisoformat(manifest["incidents"][name]["since"])
    hour = start.replace(minute=0, second=0)
    return hour - timedelta(hours=3), hour + timedelta(hours=3)


# --- scheduled runs ----------------------------------------------------------------------------------

def test_two_consecutive_runs_do_not_report_the_same_finding_twice_as_new(data, tmp_path):
    out, manifest = data
    since, until = window_of(manifest)
    path = tmp_path / "state.json"
    with analytics.connect(data=out) as session:
        first = report.run(session, since=since, until=until, state=path)
        first.commit()
        assert any(f.detector == "mass_delete" and f.new for f in first.findings)
        # The next run starts at the watermark minus the overlap (1h) and re-reads the tail.
        second = report.run(session, until=until + timedelta(hours=2), state=path)
        assert second.since == until - timedelta(hours=1)
        assert not [f for f in second.findings if f.new and f.fingerprint in {g.fingerprint for g in first.findings}]
        second.commit()
    state = State.load(path)
    assert state.watermark == until + timedelta(hours=2) and state.runs == 2
    assert "203.0.113.66" in state.first_seen_ips and "999988887777" in state.first_seen_requesters


def _journal(root):
    return pq.read_table(sorted((root / "journal").glob("*.parquet"))).to_pylist()


def test_a_late_record_inside_the_overlap_is_caught_once(tmp_path):
    t0 = datetime(2025, 11, 20, 12)
    base = dict(bucket="b", record_type="CREATE", version_id=None, is_delete_marker=False, size=5,
                e_tag="e", storage_class="STANDARD", requester="111122223333", source_ip_address="192.0.2.1")
    rows = [dict(base, key=f"old/{i}", sequence_number=f"{i:04d}", record_timestamp=t0 - timedelta(days=3, hours=i),
                 encryption_status="SSE-S3") for i in range(5)]
    rows.append(dict(base, key="plain/a", sequence_number="0100", record_timestamp=t0 - timedelta(hours=5)))
    write_tables(tmp_path / "d", rows, HAND_INVENTORY)
    state = tmp_path / "state.json"
    clock = {"now": t0}
    with analytics.connect(data=tmp_path / "d", clock=lambda: clock["now"]) as session:
        r1 = report.run(session, since="24h", state=state)
        assert [f.evidence["count"] for f in r1.findings if f.detector == "unencrypted_upload"] == [1]
        r1.commit()
    # A record stamped 30 minutes before the last run's end arrives late, after that run.
    rows.append(dict(base, key="plain/late", sequence_number="0200", record_timestamp=t0 - timedelta(minutes=30)))
    write_tables(tmp_path / "d", rows, HAND_INVENTORY)
    clock["now"] = t0 + timedelta(hours=6)
    with analytics.connect(data=tmp_path / "d", clock=lambda: clock["now"]) as session:
        r2 = report.run(session, state=state)
        found = [f for f in r2.findings if f.detector == "unencrypted_upload"]
        assert [(f.evidence["sample_keys"], f.new) for f in found] == [(["plain/late"], True)]
        r2.commit()
        clock["now"] = t0 + timedelta(hours=6, minutes=30)  # overlaps again: nothing new to say
        r3 = report.run(session, state=state)
        assert [f for f in r3.findings if f.detector == "unencrypted_upload"] == []


def test_the_lock_refuses_a_second_concurrent_run(tmp_path):
    path = tmp_path / "state.json"
    with lock(path):
        with pytest.raises(StateLocked, match="locked by process"):
            with lock(path):
                pass
    with lock(path):  # released, so it can be taken again
        pass


def test_a_stale_lock_is_taken_over(tmp_path):
    path = tmp_path / "state.json"
    (tmp_path / "state.json.lock").write_text(f"999999999 {os.uname().nodename} 2025-01-01T00:00:00\n")
    with lock(path):
        assert (tmp_path / "state.json.lock").read_text().split()[0] == str(os.getpid())


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "state.json"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from analytics.report.state import lock\n"
        f"with lock({str(path)!r}):\n    print('held', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StateLocked, match=f"locked by process {holder.pid}"):
            with lock(path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 5
    while True:  # the kernel drops the flock with the process
        try:
            with lock(path):
                break
        except StateLocked:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_cli_exits_3_while_another_run_holds_the_lock(data, tmp_path):
    out, _ = data
    state = tmp_path / "state.json"
    with lock(state):
        proc = cli("report", "--data", str(out), "--state", str(state), "--until", END.isoformat())
    assert proc.returncode == 3 and "locked by process" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_crash_while_writing_the_state_leaves_the_previous_state_intact(data, tmp_path, monkeypatch):
    out, manifest = data
    since, until = window_of(manifest)
    path = tmp_path / "state.json"
    with analytics.connect(data=out) as session:
        report.run(session, since=since, until=until, state=path).commit()
        before = path.read_bytes()
        later = report.run(session, until=until + timedelta(hours=3), state=path)

        def explode(self):
            raise RuntimeError("disk on fire")
        monkeypatch.setattr(State, "to_json", lambda self: json.dumps({"partial": True}) + explode(self))
        with pytest.raises(RuntimeError):
            later.commit()
    assert path.read_bytes() == before
    # No temporary file left behind; the lock file stays (the API's commit takes the state's lock).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]


# --- outputs -------------------------------------------------------------------------------------

def test_json_schema(data):
    out, manifest = data
    since, until = window_of(manifest)
    with analytics.connect(data=out) as session:
        doc = json.loads(report.run(session, since=since, until=until).to_json())
    assert {"generated_at", "window", "baseline", "findings", "stats"} <= set(doc)
    assert set(doc["window"]) == {"since", "until"}
    for f in doc["findings"]:
        assert {"detector", "severity", "title", "bucket", "evidence", "runbook", "fingerprint", "new"} <= set(f)
    assert doc["stats"]["queries"] >= 5 and doc["stats"]["engine"] == "duckdb"


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


HOSTILE = '<script>alert("x")</script>\'"&\n<img src=x onerror=alert(1)>\u202egnp.exe\x9b31m'


def test_html_and_markdown_escape_every_data_value(tmp_path):
    t = datetime(2025, 11, 20, 12)
    rows = [dict(bucket="b", key=f"{HOSTILE}/{i}", sequence_number=f"{i:04d}", record_type="CREATE",
                 record_timestamp=t - timedelta(minutes=i), e_tag="e", size=1,
                 requester="111122223333", source_ip_address="192.0.2.1") for i in range(3)]
    write_tables(tmp_path, rows, HAND_INVENTORY)
    with analytics.connect(data=tmp_path, clock=lambda: t + timedelta(hours=1)) as session:
        r = report.run(session, since="24h")
    assert any(HOSTILE in k for f in r.findings for k in f.evidence.get("sample_keys", []))
    page = r.render("html")
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags
    assert set(parser.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "span", "div",
                                "figure", "figcaption", "svg", "line", "text", "rect", "path", "table", "tr", "th",
                                "td", "details", "summary", "code", "ul", "li"}
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # standalone: nothing fetched
    assert "&lt;script&gt;" in page
    md = r.render("markdown")
    assert "<script>" not in md and "<img" not in md and "&lt;script&gt;" in md
    for text in (page, md):  # a key cannot disguise itself as another name, nor drive a terminal
        assert "\u202e" not in text and "\x9b" not in text and "\\u202egnp.exe" in text


# --- the CLI --------------------------------------------------------------------------------------

def test_cli_json_and_exit_codes(data, tmp_path):
    out, manifest = data
    since, until = window_of(manifest)
    args = ["report", "--data", str(out), "--since", since.isoformat(), "--until", until.isoformat()]
    proc = cli(*args, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert any(f["detector"] == "mass_delete" and f["severity"] == "critical" for f in doc["findings"])
    proc = cli(*args, "--fail-on", "critical", "--config", str(_config(tmp_path, '[report.detectors.mass_delete]\n'
                                                                               'new_actor_severity = "high"\n'
                                                                               '[report.detectors.malware]\n'
                                                                               'enabled = false\n')))
    assert proc.returncode == 0, proc.stderr
    quiet = cli("report", "--data", str(out), "--since", (since - timedelta(days=3)).isoformat(),
                "--until", (since - timedelta(days=3, hours=-1)).isoformat(), "--fail-on", "critical")
    assert quiet.returncode == 0, quiet.stderr


def _config(tmp_path, text, name="config.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_several_formats_with_output(data, tmp_path):
    out, manifest = data
    since, until = window_of(manifest, "unencrypted_kms_only")
    config = _config(tmp_path, RULES)
    proc = cli("report", "--data", str(out), "--since", since.isoformat(), "--until", until.isoformat(),
               "--config", str(config), "--format", "json", "--format", "html", "--format", "markdown",
               "--output", str(tmp_path / "r" / "report.html"))
    assert proc.returncode == 1, proc.stderr
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["report.html", "report.json", "report.md"]
    doc = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert [f["severity"] for f in doc["findings"] if f["detector"] == "encryption_rule"] == ["high"]
    assert (tmp_path / "r" / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("text, message", [
    ("[report]\nthreshold = 5\n", "unknown key 'threshold'"),
    ("[report.detectors.nope]\nmin_count = 1\n", "unknown detector 'nope'"),
    ("[report.detectors.mass_delete]\nmin_cont = 1\n", "unknown key detectors.mass_delete.'min_cont'"),
    ("[report]\noverlap = \"soon\"\n", "overlap must be a duration"),
    ("[report.allowlist]\ncidrs = [\"10.0.0.0/33\"]\n", "allowlist.cidrs"),
    ("[report]\nfail_on = \"urgent\"\n", "fail_on must be one of"),
    ("[[report.encryption_rules]]\nprefix = \"x/\"\nrequire = [\"AES\"]\n", "require must list"),
])
def test_cli_bad_config_is_one_line_and_exit_2(data, tmp_path, text, message):
    out, _ = data
    proc = cli("report", "--data", str(out), "--config", str(_config(tmp_path, text)))
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_cli_bad_window_and_missing_config_exit_2(data, tmp_path):
    out, _ = data
    assert cli("report", "--data", str(out), "--since", "yesterday-ish").returncode == 2
    assert cli("report", "--data", str(out), "--config", str(tmp_path / "missing.toml")).returncode == 2
    assert cli("report", "--data", str(out), "--format", "json", "--format", "html").returncode == 2


def test_one_file_holds_profiles_and_report(data, tmp_path):
    out, manifest = data
    since, until = window_of(manifest)
    config = _config(tmp_path, f'[profiles.default]\ndata = "{out}"\n\n[report]\nfail_on = "critical"\n'
                               '[report.detectors.mass_delete]\nenabled = false\n')
    proc = cli("--config", str(config), "report", "--since", since.isoformat(), "--until", until.isoformat())
    assert proc.returncode == 0, proc.stderr
    assert not [f for f in json.loads(proc.stdout)["findings"] if f["detector"] == "mass_delete"]


# --- notifications --------------------------------------------------------------------------------

class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_webhook_receives_the_new_findings(data, tmp_path, webhook):
    out, manifest = data
    url, handler = webhook
    since, until = window_of(manifest)
    proc = cli("report", "--data", str(out), "--since", since.isoformat(), "--until", until.isoformat(),
               "--webhook", url, "--output", str(tmp_path / "r.json"))
    assert proc.returncode == 1, proc.stderr
    assert len(handler.received) == 1
    assert any(f["detector"] == "mass_delete" for f in handler.received[0]["findings"])
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["notifications"][0]["ok"] is True and doc["notifications"][0]["channel"] == "webhook"


def test_a_failing_webhook_keeps_the_report_exits_3_and_keeps_the_state(data, tmp_path, webhook):
    out, manifest = data
    url, handler = webhook
    handler.status = 500
    since, until = window_of(manifest)
    state = tmp_path / "state.json"
    proc = cli("report", "--data", str(out), "--since", since.isoformat(), "--until", until.isoformat(),
               "--webhook", url, "--state", str(state), "--format", "json", "--format", "markdown",
               "--output", str(tmp_path / "r.json"))
    assert proc.returncode == 3 and "HTTP 500" in proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["findings"] and doc["notifications"][0]["ok"] is False
    assert (tmp_path / "r.md").is_file()
    assert not state.exists()  # not advanced: the next run retries the notification
    unreachable = cli("report", "--data", str(out), "--since", since.isoformat(), "--until", until.isoformat(),
                      "--webhook", "http://127.0.0.1:9/nothing", "--output", str(tmp_path / "r2.json"))
    assert unreachable.returncode == 3 and (tmp_path / "r2.json").is_file()


def test_sns_publish_against_moto(aws, data):
    import boto3
    out, manifest = data
    since, until = window_of(manifest)
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="s3meta-findings")["TopicArn"]
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    from analytics.report import notify
    with analytics.connect(data=out) as session:
        r = report.run(session, since=since, until=until)
    outcomes = notify.notify(r, sns_topic_arn=topic, min_severity="high")
    assert outcomes[0]["ok"] is True, outcomes
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"]
    body = json.loads(messages[0]["Body"])
    assert body["new_findings"] >= 1 and body["findings"][0]["severity"] == "critical"
    assert r.exit_code() == 1
    bad = notify.notify(r, sns_topic_arn=topic.replace("s3meta-findings", "missing"), min_severity="high")
    assert bad[0]["ok"] is False and r.exit_code() == 3


def test_cost_is_summed_into_stats():
    class FakeResult:
        def __init__(self, scanned):
            self.stats = {"elapsed_seconds": 1.0, "data_scanned_bytes": scanned, "cost_usd": scanned / 2**40 * 5}

    class FakeSession:
        class engine:
            name = "athena"
    from analytics.report.run import _stats

    stats = _stats(FakeSession, [FakeResult(2**30), FakeResult(2**30)], [], [])
    assert stats["data_scanned_bytes"] == 2**31 and stats["cost_usd"] == pytest.approx(10 / 1024)


@pytest.mark.parametrize("url,shown", [
    ("https://hooks.example.com/services/T000/B000/SECRET", "https://hooks.example.com/…"),
    ("https://user:p4ss@hooks.example.com:8443/x?token=SECRET", "https://hooks.example.com:8443/…"),
    ("not a url", "(invalid URL)"),
])
def test_webhook_targets_never_show_secrets(url, shown):
    from analytics.report.notify import _redacted

    assert _redacted(url) == shown


# --- a silent journal ------------------------------------------------------------------------------

def test_a_window_without_journal_records_is_a_finding_not_a_quiet_day(data, tmp_path):
    out, _ = data  # the journal ends at END, as if the metadata configuration had failed then
    proc = cli("report", "--data", str(out), "--since", (END + timedelta(hours=1)).isoformat(),
               "--until", (END + timedelta(hours=7)).isoformat(), "--format", "json", "--format", "markdown",
               "--output", str(tmp_path / "r.json"))
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["stats"]["window_events"] == 0
    silent = {f["bucket"]: f for f in doc["findings"] if f["detector"] == "freshness"}
    assert "acme-prod-data" in silent and all(f["severity"] == "high" and f["new"] for f in silent.values())
    f = silent["acme-prod-data"]
    assert f["title"].startswith("Journal silent since 2025-11-29 23:") and f["evidence"]["silent_hours"] > 7
    assert "get-bucket-metadata-configuration --bucket acme-prod-data" in f["runbook"]
    assert "Journal silent since" in (tmp_path / "r.md").read_text(encoding="utf-8")
    # A window that only starts the silence is not one: the journal is quiet for two hours now and then.
    calm = cli("report", "--data", str(out), "--since", "24h", "--until", (END + timedelta(minutes=30)).isoformat())
    assert not [f for f in json.loads(calm.stdout)["findings"] if f["detector"] == "freshness"], calm.stdout
