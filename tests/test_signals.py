"""Ctrl-C, SIGTERM and --timeout on real processes: queries stop at once, temp files go, exit 130/143/3.

Each test runs the real command in a process of its own and sends it a real signal while a query
runs: on DuckDB an endless aggregate, on Athena (moto) a query held RUNNING by a manual state
transition. Progress shows on a terminal only (a pseudo-terminal stands in for one).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

import analytics
from analytics.errors import QueryFailed
from test_athena import RESULTS, transitions

# Hours of work for DuckDB, with no file to read: the sandbox and the data do not matter.
ENDLESS = "SELECT sum(hash(i)) AS s FROM range(1000000000000) t(i)"
PROMPT = 10  # seconds a stopped process may take to exit on this shared machine; DuckDB alone took ~40 s


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_process_left():
    """Whatever a test asserts, the endless commands it started do not outlive it."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(*args: str, tmp: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    """The real command in a process of its own, with its temporary files under tmp/tmp."""
    (tmp / "tmp").mkdir(exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S3META_")}
    environment |= {"TMPDIR": str(tmp / "tmp"), **(env or {})}
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    STARTED.append(subprocess.Popen([sys.executable, "-m", "analytics", *args], env=environment, **popen))
    return STARTED[-1]


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the process did not exit within {timeout} s; stderr: {err!r}")
    return proc.returncode, out.decode(), err.decode()


def duckdb_running(tmp: Path) -> bool:
    # The session's private temp folder exists from connect to close; the query starts right after.
    return any((tmp / "tmp").glob("s3meta-duckdb-*"))


@pytest.mark.parametrize("signum,code,message", [
    (signal.SIGINT, 130, "s3meta: error: interrupted"),
    (signal.SIGTERM, 143, "s3meta: error: terminated (SIGTERM)"),
])
def test_a_signal_stops_a_long_duckdb_query_at_once(hand_data, tmp_path, signum, code, message):
    proc = start("sql", ENDLESS, "--data", str(hand_data), tmp=tmp_path)
    wait_for(lambda: duckdb_running(tmp_path), "the DuckDB session")
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signum)
    returncode, out, err = finish(proc, PROMPT)
    assert returncode == code, err
    assert err.splitlines() == [err.strip()] and err.startswith(message), err
    assert out == "" and time.monotonic() - sent < PROMPT
    assert list((tmp_path / "tmp").iterdir()) == []  # the private temp folder is gone


def test_timeout_stops_a_long_duckdb_query(hand_data, tmp_path):
    started = time.monotonic()
    proc = start("sql", ENDLESS, "--data", str(hand_data), "--timeout", "1.5", tmp=tmp_path)
    returncode, out, err = finish(proc, 30)
    assert returncode == 3, err
    assert err.splitlines() == ["s3meta: error: DuckDB query timed out after 1.5 s and was stopped"], err
    assert out == "" and time.monotonic() - started < 30
    assert list((tmp_path / "tmp").iterdir()) == []


def test_timeout_from_a_profile_applies_to_duckdb(hand_data, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.local]\ndata = "{hand_data}"\ntimeout = 0.5\n')
    with analytics.connect(config=str(config), profile="local") as session:
        watchdog = threading.Timer(30, session.engine.con.interrupt)  # should the timeout be ignored
        watchdog.start()
        try:
            with pytest.raises(QueryFailed, match="DuckDB query timed out after 0.5 s") as err:
                session.sql(ENDLESS)
        finally:
            watchdog.cancel()
        assert err.value.exit_code == 3
        assert session.sql("SELECT 42 AS n").rows() == [{"n": 42}]  # the session goes on


def test_progress_shows_on_a_terminal_and_nowhere_else(hand_data, tmp_path):
    # On a terminal: the one-line progress, redrawn in place, then the error on a line of its own.
    leader, follower = pty.openpty()
    proc = start("sql", ENDLESS, "--data", str(hand_data), "--timeout", "2", tmp=tmp_path, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        assert ready, "no output from the pseudo-terminal"
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=30) == 3
    text = shown.decode()
    assert "s3meta: query running " in text and "\r\x1b[K" in text
    assert text.rstrip().splitlines()[-1] == "s3meta: error: DuckDB query timed out after 2 s and was stopped"
    # Not a terminal (cron, a pipe): the error line only.
    proc = start("sql", ENDLESS, "--data", str(hand_data), "--timeout", "2", tmp=tmp_path)
    returncode, _, err = finish(proc, 30)
    assert returncode == 3 and err == "s3meta: error: DuckDB query timed out after 2 s and was stopped\n"


# --- Athena: the query is stopped in Athena, not only in the client -------------------------------------

def running(query_id: str) -> None:
    """Move a query from QUEUED to RUNNING in moto's backend (the suite's server runs in this
    process); the manual transition then holds it there for thousands of polls."""
    from moto.athena.models import athena_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].executions[query_id].status = "RUNNING"


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_athena_query_in_athena(aws, tmp_path, signum, code):
    transitions(aws, "manual", times=10_000)  # QUEUED, then RUNNING until stopped
    athena = boto3.client("athena")
    try:
        env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        proc = start("sql", "SELECT 1", "--engine", "athena", "--bucket", "acme-prod-data",
                     "--output-location", RESULTS, tmp=tmp_path, env=env)
        wait_for(lambda: athena.list_query_executions()["QueryExecutionIds"], "the Athena query to start")
        (query_id,) = athena.list_query_executions()["QueryExecutionIds"]
        running(query_id)
        time.sleep(0.5)  # the command polls it
        assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "RUNNING"
        proc.send_signal(signum)
        returncode, out, err = finish(proc, PROMPT)
    finally:
        transitions(aws, "immediate")
    assert returncode == code, err
    assert len(err.splitlines()) == 1 and f"Athena query {query_id} was stopped" in err, err
    state = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"]
    assert state == "CANCELLED" and out == ""


def test_athena_timeout_exits_as_duckdb_timeout_does(aws, tmp_path):
    transitions(aws, "manual", times=10_000)
    try:
        env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        proc = start("sql", "SELECT 1", "--engine", "athena", "--bucket", "acme-prod-data",
                     "--output-location", RESULTS, "--timeout", "1", tmp=tmp_path, env=env)
        returncode, _, err = finish(proc, 30)
    finally:
        transitions(aws, "immediate")
    assert returncode == 3 and len(err.splitlines()) == 1, err  # as test_timeout_stops_a_long_duckdb_query
    assert "timed out after 1 s and was stopped in Athena" in err


def test_interrupted_api_call_raises_and_the_session_stays_usable(hand_data):
    """In a notebook a kernel interrupt is a SIGINT: the query stops and the session answers again."""
    script = f"""
import json, os, signal, threading, time
import analytics
from analytics.errors import Interrupted
s = analytics.connect(data={str(hand_data)!r})
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
started = time.monotonic()
try:
    s.sql({ENDLESS!r})
except Interrupted as exc:
    print(json.dumps({{"code": exc.exit_code, "seconds": time.monotonic() - started,
                      "after": s.sql("SELECT 42 AS n").rows()}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["code"] == 130 and outcome["seconds"] < PROMPT and outcome["after"] == [{"n": 42}]
