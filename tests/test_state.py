"""The report's state file and its lock: symbolic links, the Python API's commit, leftovers, clocks.

The state is what keeps scheduled runs from paging twice or losing a window, so everything that
can point it elsewhere (a planted symlink, a link to the shared state), write it unlocked (the
API), leave debris (a killed run) or wedge it (a watermark in the future, or months old) is tried
here through the API and the real command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

import analytics
from analytics import fixtures, report
from analytics.errors import BadInput
from analytics.report.state import State, StateChanged, StateLocked, lock
from conftest import cli

END = datetime(2025, 11, 30)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("state")
    fixtures.generate(out, rows=6000, seed=5, days=10, end=END)
    return out


def run_cli(data, state, *extra):
    return cli("report", "--data", str(data), "--state", str(state), "--until", END.isoformat(), *extra)


# --- the lock ------------------------------------------------------------------------------------------

def test_a_lock_planted_as_a_symlink_is_refused_and_its_target_left_alone(data, tmp_path):
    victim = tmp_path / "victim.conf"
    victim.write_text("precious\n", encoding="utf-8")
    (tmp_path / "state.json.lock").symlink_to(victim)
    with pytest.raises(BadInput, match="is a symbolic link"):
        with lock(tmp_path / "state.json"):
            pass
    proc = run_cli(data, tmp_path / "state.json")
    assert proc.returncode == 2 and "symbolic link" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n" and not (tmp_path / "state.json").exists()


def test_a_lock_that_is_not_a_regular_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / "state.json.lock")
    with pytest.raises(BadInput, match="not a regular file"):
        with lock(tmp_path / "state.json"):
            pass


def test_a_state_reached_through_a_symlink_is_locked_and_written_where_it_lives(data, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    link = tmp_path / "link.json"
    link.symlink_to(shared / "state.json")  # dangling until the first run writes the target
    assert run_cli(data, link, "--since", "2d").returncode in (0, 1)
    assert link.is_symlink() and (shared / "state.json").is_file() and State.load(link).runs == 1
    # Naming the link and naming the target take the same lock.
    with lock(shared / "state.json"):
        with pytest.raises(StateLocked, match="another report is running"):
            with lock(link):
                pass
        proc = run_cli(data, link)
        assert proc.returncode == 3 and "locked by process" in proc.stderr, proc.stderr
    with lock(link):
        with pytest.raises(StateLocked):
            with lock(shared / "state.json"):
                pass
    # The next run through the link updates the shared state; the link stays a link.
    assert run_cli(data, link, "--since", "3h").returncode in (0, 1)
    assert link.is_symlink() and os.readlink(link) == str(shared / "state.json")
    assert State.load(shared / "state.json").runs == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "shared"]  # lock beside the target


# --- the Python API: report.run(..., state=PATH), then r.commit() --------------------------------------

def test_the_api_takes_the_same_lock_as_a_scheduled_run(data, tmp_path):
    path = tmp_path / "state.json"
    with analytics.connect(data=data, clock=lambda: END) as session:
        with lock(path):  # a scheduled run is going on
            with pytest.raises(StateLocked):
                report.run(session, state=path)
        r = report.run(session, state=path)
        with lock(path):  # a scheduled run started meanwhile: commit waits for nobody and writes nothing
            with pytest.raises(StateLocked):
                r.commit()
        assert not path.exists()
        r.commit()
    assert State.load(path).runs == 1


def test_the_api_never_overwrites_a_state_another_run_saved_after_it_read_it(data, tmp_path):
    path = tmp_path / "state.json"
    with analytics.connect(data=data, clock=lambda: END) as session:
        report.run(session, since="2d", state=path).commit()
        slow = report.run(session, state=path)  # the Lambda recipe: run, notify, then commit
        proc = run_cli(data, path, "--since", "1d")  # a cron run finishes first
        assert proc.returncode in (0, 1), proc.stderr
        recorded = path.read_bytes()
        with pytest.raises(StateChanged, match="changed by another run"):
            slow.commit()
    assert path.read_bytes() == recorded and State.load(path).runs == 2


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(data, tmp_path):
    state, output = tmp_path / "state.json", tmp_path / "out" / "latest.json"
    assert run_cli(data, state, "--since", "2d").returncode in (0, 1)
    before = state.read_bytes()
    for target in (state, output):  # kill -9 in the middle of each atomic write
        writer = subprocess.Popen([sys.executable, "-c", (
            "import time; from analytics.files import atomic_write\n"
            f"with atomic_write({str(target)!r}) as fh:\n"
            "    fh.write('{\"partial'); fh.flush(); print('writing', flush=True); time.sleep(60)\n")],
            stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "writing"
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    leftovers = [p for p in (*tmp_path.iterdir(), *output.parent.iterdir()) if p.name.endswith(".tmp")]
    assert len(leftovers) == 2 and state.read_bytes() == before
    (tmp_path / ".state.json.notmine.tmp").write_text("someone else's", encoding="utf-8")
    proc = run_cli(data, state, "--output", str(output))
    assert proc.returncode in (0, 1), proc.stderr
    assert not any(p.exists() for p in leftovers) and (tmp_path / ".state.json.notmine.tmp").exists()
    assert json.loads(output.read_text(encoding="utf-8"))["window"]["until"] == END.isoformat()


# --- clocks and watermarks ---------------------------------------------------------------------------

def test_an_until_in_the_future_is_refused_and_stores_nothing(data, tmp_path):
    state = tmp_path / "state.json"
    proc = cli("report", "--data", str(data), "--state", str(state), "--until", "2031-01-01")
    assert proc.returncode == 2 and "cannot cover the future" in proc.stderr and proc.stderr.count("\n") == 1
    assert not state.exists()
    with analytics.connect(data=data, clock=lambda: END) as session:
        report.run(session, until=END + timedelta(minutes=4))  # within the clock skew
        with pytest.raises(BadInput, match="cannot cover the future"):
            report.run(session, until=END + timedelta(minutes=6))
        skewed = report.parse_config({"clock_skew": "10m"})
        report.run(session, until=END + timedelta(minutes=6), config=skewed)


def test_a_watermark_in_the_future_names_the_state_and_the_fix(data, tmp_path):
    path = tmp_path / "state.json"
    State(path=path, watermark=datetime(2031, 1, 1), runs=3).save()
    clock = {"now": END}
    with analytics.connect(data=data, clock=lambda: clock["now"]) as session:
        with pytest.raises(BadInput) as caught:
            report.run(session, state=path)
        message = str(caught.value)
        assert str(path) in message and "2031-01-01T00:00:00" in message and "--since" in message
        # The fix it names: one run with an explicit --since resets the watermark to that run's end.
        report.run(session, since="24h", state=path).commit()
        assert State.load(path).watermark == END
        clock["now"] = END + timedelta(hours=1)
        assert report.run(session, state=path).since == END - timedelta(hours=1)
    _set_watermark(path, datetime(2999, 1, 1))
    proc = cli("report", "--data", str(data), "--state", str(path))
    assert proc.returncode == 2 and str(path) in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    # A watermark at or after an explicit --until: the window was reported; the state is named too.
    _set_watermark(path, END)
    proc = run_cli(data, path, "--until", (END - timedelta(days=1)).isoformat())
    assert proc.returncode == 2 and str(path) in proc.stderr and "is not before --until" in proc.stderr


def _set_watermark(path, watermark):
    state = State.load(path)
    state.watermark = watermark
    state.save()


def test_a_watermark_months_old_is_caught_up_at_most_max_catch_up_and_says_what_it_skipped(data, tmp_path):
    path = tmp_path / "state.json"
    old = END - timedelta(days=90)
    State(path=path, watermark=old, runs=40).save()
    with analytics.connect(data=data, clock=lambda: END) as session:
        r = report.run(session, state=path)
    assert (r.since, r.until, r.skipped_since) == (END - timedelta(days=7), END, old - timedelta(hours=1))
    doc = json.loads(r.to_json())
    assert doc["skipped"] == {"since": (old - timedelta(hours=1)).isoformat(), "until": r.since.isoformat()}
    assert any(n.startswith("catch-up capped") for n in doc["notes"])
    assert "catch-up capped" in r.render("markdown") and "catch-up capped" in r.render("html")
    proc = run_cli(data, path, "--config", str(_config(tmp_path, '[report]\nmax_catch_up = "2d"\n')))
    assert proc.returncode in (0, 1), proc.stderr
    assert f"s3meta: catch-up capped: the state's watermark is {old.isoformat()}" in proc.stderr
    assert f"--since {(old - timedelta(hours=1)).isoformat()} --until {(END - timedelta(days=2)).isoformat()}" \
        in proc.stderr


def _config(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ('[report]\nmax_catch_up = "30m"\n', "max_catch_up (30m) must be longer than overlap (1h)"),
    ('[report]\nmin_baseline = "a day"\n', "min_baseline must be a duration"),
    ('[report]\nclock_skew = 5\n', "clock_skew must be a duration"),
    ('[report.notify]\ntimeout = "10s"\n', "notify.timeout must be a number of seconds"),
    ('[report.detectors.freshness]\nsilent_hours = -1\n', "detectors.freshness.silent_hours must be a number"),
])
def test_new_settings_are_checked(data, tmp_path, text, message):
    proc = cli("report", "--data", str(data), "--config", str(_config(tmp_path, text)))
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
