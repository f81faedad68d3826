"""The shipped notebooks: committed without outputs, built from notebooks/build.py, and each runs top
to bottom on generated data (papermill injects the data folder); a failing cell fails the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from analytics import fixtures, notebook
from conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_explore_journal.ipynb", "02_investigate_incident.ipynb", "03_production_athena.ipynb"]


def test_every_notebook_is_committed_without_outputs():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code, name
        for cell in code:
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name}: {cell['id']}"
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{name}: one cell must be tagged 'parameters' (papermill)"
        assert 'os.environ.get("S3META_DATA", "demo")' in "".join(tagged[0]["source"])


def test_notebooks_match_their_source_in_build_py():
    pytest.importorskip("nbformat")
    proc = subprocess.run([sys.executable, str(NOTEBOOKS / "build.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# Five busy days, as dense as `make demo`'s data: on the first day the baseline is empty, so a
# routine account's deletes read as a critical mass delete by a "new" actor, hours before the
# planted one. Notebook 02 must still investigate the planted incident.
DAYS = 5


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    data = tmp_path_factory.mktemp("nbdata")
    fixtures.generate(data, rows=40_000, days=DAYS, seed=7)
    return data


@pytest.fixture
def kernel_env(monkeypatch):
    # The kernel is a child process: it must import this checkout and see no user settings.
    for name in [n for n in os.environ if n.startswith("S3META_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")  # no config profile either


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, generated, kernel_env, tmp_path):
    papermill = pytest.importorskip("papermill")
    pytest.importorskip("matplotlib")
    parameters = {"data": str(generated)}
    if name.startswith("02"):
        parameters["plan_prefix"] = str(tmp_path / "plan")
        parameters["span"] = f"{DAYS}d"
    out = tmp_path / name
    # cwd is the notebooks folder, as when Jupyter opens the notebook; a failing cell raises here.
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters, cwd=str(NOTEBOOKS),
                               kernel_name="python3", progress_bar=False, log_output=False,
                               execution_timeout=120)
    nb = json.loads(out.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    if name.startswith("01"):
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5  # the charts were drawn
    if name.startswith("02"):
        assert "the plan matches the planted incident" in text
        assert (tmp_path / "plan.json").is_file() and (tmp_path / "plan.sh").is_file()
        # Whatever the notebook prints: the plan it wrote restores exactly the planted incident's keys.
        planted = json.loads((generated / "manifest.json").read_text(encoding="utf-8"))["incidents"]["mass_delete"]
        plan = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
        assert plan["selection"]["requester"] == planted["actor"]
        assert sorted((r["key"], r["hidden_version_id"], r["delete_marker_version_id"]) for r in plan["restores"]) \
            == sorted((h["key"], h["version_id"], h["marker_version_id"]) for h in planted["hidden_versions"])
        assert not plan["unresolved"]
    if name.startswith("03"):
        assert "estimated $0.0000" in text  # DuckDB: nothing scanned in Athena, nothing billed


def test_default_data_folder_is_found_from_the_notebooks_folder(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "demo" / "manifest.json").write_text('{"end": "2025-11-30T00:00:00"}', encoding="utf-8")
    monkeypatch.chdir(tmp_path / "notebooks")
    assert notebook.data_folder("demo") == tmp_path / "demo"
    assert notebook.window("demo", "7d") == {"since": "7d", "until": "2025-11-30T00:00:00"}
    assert notebook.manifest(tmp_path / "notebooks") is None


# --- the charts, as figures ------------------------------------------------------------------------

def _execute_here(name: str, parameters: dict) -> dict:
    """Run a notebook's code cells in this process, as papermill would (parameters after the tagged
    cell), with matplotlib's Agg backend, so the test can read the figures the cells drew."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.close("all")
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    namespace: dict = {"display": lambda *args, **kwargs: None}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        exec(compile("".join(cell["source"]), f"{name}:{cell['id']}", "exec"), namespace)  # noqa: S102
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            namespace.update(parameters)
    return {ax.get_title(): ax for n in plt.get_fignums() for ax in plt.figure(n).axes}


def _collisions(ax) -> list[tuple[str, str]]:
    """Pairs of tick labels of one axis whose drawn boxes overlap."""
    renderer = ax.figure.canvas.get_renderer()
    ax.figure.canvas.draw()
    pairs = []
    for axis in (ax.xaxis, ax.yaxis):
        labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer).expanded(0.98, 0.98) for t in labels]
        pairs += [(labels[i].get_text(), labels[j].get_text()) for i in range(len(boxes))
                  for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]
    return pairs


def _shaded(ax, at) -> bool:
    """Whether a shaded span (axvspan) covers the time `at`."""
    import matplotlib.dates as mdates
    x = mdates.date2num(at)
    for patch in ax.patches:
        box = patch.get_bbox() if hasattr(patch, "get_bbox") else None
        if box is not None and box.x0 <= x <= box.x1 and box.height > 0:
            return True
    return False


def test_explore_charts_label_utc_mark_the_incident_and_stay_readable(generated, kernel_env, monkeypatch):
    monkeypatch.chdir(NOTEBOOKS)
    planted = json.loads((generated / "manifest.json").read_text(encoding="utf-8"))["incidents"]["mass_delete"]
    axes = _execute_here("01_explore_journal.ipynb", {"data": str(generated)})
    try:
        from datetime import datetime
        burst_start = datetime.fromisoformat(planted["since"])
        for title in ("Journal records per hour", "Deletes per hour"):
            ax = axes[title]
            assert "UTC" in ax.get_xlabel(), title
            assert _shaded(ax, burst_start), f"{title}: the planted mass delete is not shaded"
            assert any(planted["actor"] in t.get_text() for t in ax.texts), f"{title}: the incident is not named"
        ips = next(ax for title, ax in axes.items() if title.startswith("Requests by source IP"))
        shown = [t.get_text() for t in ips.get_yticklabels()]
        # The NULL address (S3 and other AWS services) would dwarf every bar: counted in the title, not drawn.
        assert not {"(AWS service)", "nan", "None", ""} & set(shown) and "AWS services" in ips.get_title()
        assert len(shown) == 15
        for title, ax in axes.items():
            assert not _collisions(ax), f"{title}: tick labels overlap: {_collisions(ax)}"
    finally:
        import matplotlib.pyplot as plt
        plt.close("all")


def test_investigate_chart_marks_the_burst_in_utc(generated, kernel_env, monkeypatch, tmp_path):
    monkeypatch.chdir(NOTEBOOKS)
    planted = json.loads((generated / "manifest.json").read_text(encoding="utf-8"))["incidents"]["mass_delete"]
    axes = _execute_here("02_investigate_incident.ipynb",
                         {"data": str(generated), "span": f"{DAYS}d", "plan_prefix": str(tmp_path / "plan")})
    try:
        from datetime import datetime
        ax = next(ax for title, ax in axes.items() if title.startswith("Records per minute from"))
        assert planted["ip"] in ax.get_title() and "UTC" in ax.get_xlabel()
        assert _shaded(ax, datetime.fromisoformat(planted["since"]) + (datetime.fromisoformat(planted["until"]) -
                                                                         datetime.fromisoformat(planted["since"])) / 2)
        assert not _collisions(ax)
    finally:
        import matplotlib.pyplot as plt
        plt.close("all")
