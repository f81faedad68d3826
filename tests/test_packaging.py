"""The wheel carries the query catalog and the s3meta entry point (what `pip install .` gives)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_every_query_and_the_console_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           "--wheel-dir", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("s3meta-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(Path(n).name for n in names if n.startswith("analytics/queries/") and n.endswith(".sql"))
    assert shipped == sorted(p.name for p in (ROOT / "queries").glob("*.sql"))
    rules = sorted(Path(n).name for n in names if n.startswith("analytics/report/example_rules/"))
    assert rules == sorted(p.name for p in (ROOT / "examples" / "rules").glob("*.sql"))
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "s3meta = analytics.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not [n for n in names if n.startswith(("tests/", "fixtures/", "notebooks/"))]
