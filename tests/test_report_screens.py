"""The HTML report as a browser lays it out: headless Chromium at laptop (1366x768) and phone (390x844) sizes.

Skipped when neither `chromium` nor `chromium-browser` is on PATH (Debian: `apt-get install chromium`).
A copy of the page gets a small probe script that measures the layout and writes its findings into
the DOM, which `--dump-dom` returns: nothing may stick out of a phone's width, and on a laptop the
worst incident and the command to run next must be on the first screen. Headless Chromium will not
make its window narrower than 500 px, so the probed copy is laid out in an iframe of the exact size
(its srcdoc: same origin, so the probe can write into the outer document). Screenshots are taken too;
set S3META_SCREENSHOTS=DIR to keep them (report-laptop.png, report-phone.png) for a person to look at.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import analytics
from analytics import fixtures, report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}

# Runs in the page once it is laid out; the result lands in an attribute that --dump-dom shows.
PROBE = """<script>
(() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    const name = `${e.tagName}.${e.className.baseVal ?? e.className}`;
    if (r.width && (r.right > width + 0.5 || r.left < -0.5)) out.push(name);
  }
  const first = document.querySelector(".incident");
  const box = (e) => e ? e.getBoundingClientRect() : null;
  parent.document.body.setAttribute("data-probe", JSON.stringify({
    width, height: window.innerHeight, scrollWidth: document.documentElement.scrollWidth, overflow: out,
    title: box(first.querySelector(".title")).bottom, command: box(first.querySelector(".next code")).bottom,
  }));
})();
</script>"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("screens")
    manifest = fixtures.generate(out / "data", rows=12000, seed=5, days=14, end=datetime(2025, 11, 30))
    hour = datetime.fromisoformat(manifest["incidents"]["mass_delete"]["since"]).replace(minute=0, second=0)
    with analytics.connect(data=out / "data") as session:
        r = report.run(session, since=hour - timedelta(hours=12), until=hour + timedelta(hours=12))
    path = out / "report.html"
    path.write_text(r.render("html"), encoding="utf-8")
    return path


def _chromium(tmp_path: Path, size: tuple[int, int], *args: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"  # a fresh one each run
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                           *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _probe(page: Path, tmp_path: Path, size: tuple[int, int]) -> dict:
    probed = page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>")
    frame = tmp_path / "frame.html"
    frame.write_text(f'<!DOCTYPE html><html><body style="margin:0"><iframe style="border:0;width:{size[0]}px;'
                     f'height:{size[1]}px" srcdoc="{html.escape(probed, quote=True)}"></iframe></body></html>',
                     encoding="utf-8")
    dom = _chromium(tmp_path, (size[0] + 100, size[1] + 100), "--dump-dom", frame.as_uri())
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, "the probe did not run"
    return json.loads(html.unescape(found.group(1)))


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_nothing_sticks_out_at_phone_width(page, tmp_path):
    probe = _probe(page, tmp_path, SIZES["phone"])
    assert probe["width"] == SIZES["phone"][0]  # the viewport meta tag: laid out at the phone's width
    assert probe["overflow"] == [] and probe["scrollWidth"] <= probe["width"], probe


def test_the_worst_incident_and_its_command_are_on_the_first_laptop_screen(page, tmp_path):
    probe = _probe(page, tmp_path, SIZES["laptop"])
    assert probe["overflow"] == [], probe
    assert probe["title"] <= probe["height"] and probe["command"] <= probe["height"], probe


@pytest.mark.parametrize("name", sorted(SIZES))
def test_screenshot(page, tmp_path, name):
    shot = tmp_path / f"report-{name}.png"
    _chromium(tmp_path, SIZES[name], f"--screenshot={shot}", page.as_uri())
    assert _png_size(shot) == SIZES[name]
    keep = os.environ.get("S3META_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / shot.name)
