"""What `pip install .` gives: the built wheel, installed without -e into an empty environment, runs.

The wheel is built and installed once per test session (its dependencies come from the package
registry through pip's cache). Every command then runs from a folder that is not the source tree,
with HOME pointed at an empty folder, so nothing of the checkout or the developer's own
configuration can stand in for what the wheel is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from analytics.cli import build_parser
from conftest import SMALL

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                           "--wheel-dir", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = out.glob("s3meta-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """The bin folder of a fresh virtual environment holding the wheel and its dependencies only."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           str(wheel)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return env_dir / "bin"


def run_installed(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    home = cwd / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("S3META_", "PYTHON", "XDG_", "AWS_", "VIRTUAL_ENV"))}
    env |= {"HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    return subprocess.run([str(bin_dir / "s3meta"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser (`list`, `fixtures generate`, ...), found by walking its subparsers."""
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, prefix + (name,))
    return found


def test_wheel_ships_every_module_query_and_the_console_script(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "analytics").rglob("*.py"))
    assert sorted(n for n in names if n.startswith("analytics/") and n.endswith(".py")) == modules
    shipped = sorted(Path(n).name for n in names if n.startswith("analytics/queries/") and n.endswith(".sql"))
    assert shipped == sorted(p.name for p in (ROOT / "queries").glob("*.sql"))
    rules = sorted(Path(n).name for n in names if n.startswith("analytics/report/example_rules/"))
    assert rules == sorted(p.name for p in (ROOT / "examples" / "rules").glob("*.sql"))
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "s3meta = analytics.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not [n for n in names if n.startswith(("tests/", "fixtures/", "notebooks/", "bench/"))]


def test_every_command_of_the_installed_wheel_has_help(installed, tmp_path):
    paths = commands(build_parser())
    assert ("report",) in paths and ("fixtures", "generate") in paths  # the walk found nested commands
    for path in paths:
        proc = run_installed(installed, tmp_path, *path, "--help")
        assert proc.returncode == 0 and proc.stdout.startswith("usage: s3meta"), (path, proc.stderr)
        assert proc.stderr == "", (path, proc.stderr)


def test_installed_wheel_runs_a_catalog_query(installed, tmp_path):
    proc = run_installed(installed, tmp_path, "query", "recent_deletes", "--data", str(SMALL),
                         "-p", "since=2025-11-16", "-p", "until=2025-11-30", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows and {"bucket", "key", "record_timestamp"} <= set(rows[0])


def test_installed_wheel_runs_a_report(installed, tmp_path):
    out = tmp_path / "report.json"
    proc = run_installed(installed, tmp_path, "report", "--data", str(SMALL), "--since", "2025-11-29",
                         "--until", "2025-11-30", "--output", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["schema_version"] == 1 and document["stats"]["queries"] > 0
    assert "internal error" not in proc.stderr
