"""Tables that fit the terminal: width, ellipsis, key columns kept, numbers right-aligned, the pager,
and a Result's repr as a text table."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from datetime import datetime

import pyarrow as pa
import pytest

from analytics import output
from analytics.output import _width
from analytics.result import Result
from conftest import ODD_KEY, SCRIPT_KEY, WINDOW

WIDE = pa.table({
    "bucket": ["acme-prod-data", "b"],
    "key": ["images/2025/11/a-very-long-folder-name/and-an-even-longer-file-name-1390.jpg", SCRIPT_KEY],
    "record_timestamp": pa.array([datetime(2025, 11, 20, 10, 0, 0, 123456), None], pa.timestamp("us")),
    "size": pa.array([5, 1234567890123], pa.int64()),
    "requester": ["111122223333", "invoice\u202efdp.exe"],
    "request_id": ["X" * 40, None],
    "ratio": pa.array([0.5, None], pa.float64()),
    "note": ["日本語のメモ" * 6, ODD_KEY],
})


def table_text(table: pa.Table, width: int | None = None) -> str:
    return output.text_table(output.head(table, None), width)


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("|", "+"))]


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_every_line_fits_the_terminal(width):
    text = table_text(WIDE, width)
    table = lines_of(text)
    assert table and all(_width(line) <= width for line in table), (width, text)
    assert len({_width(line) for line in table}) == 1  # wide characters counted as two cells: aligned
    header = table[1]
    for key in ("bucket", "key", "record_timestamp"):  # the key columns stay at any width
        assert key in header or key[:3] in header
    assert not set(text) & {"\u202e", "\r", "\x1b"}  # escaping kept: no control reaches the terminal
    if width >= 200:
        assert "invoice\\u202efdp.exe" in text and 'q"uote,comma\\nnew.csv' in text


def test_long_cells_end_in_an_ellipsis_and_keys_are_cut_in_the_middle():
    text = table_text(WIDE, 100)
    assert "images/2025" in text and "1390.jpg" in text and "…" in text  # both ends of the key
    assert "X" * 40 not in text


def test_columns_left_out_are_named():
    text = table_text(WIDE, 60)
    header = lines_of(text)[1]
    assert "note" not in header and "request_id" not in header
    assert "left out to fit the terminal: " in text and "note" in text.splitlines()[-1]


def test_numbers_are_right_aligned_and_text_left_aligned():
    table = lines_of(table_text(WIDE))
    cells = [[c for c in line.strip("|").split("|")] for line in table if line.startswith("|")]
    names = [c.strip() for c in cells[0]]
    size, bucket = names.index("size"), names.index("bucket")
    assert cells[1][size].endswith(" 5 ") and cells[2][size].strip() == "1234567890123"
    assert cells[1][bucket].startswith(" acme-prod-data") and cells[2][bucket].startswith(" b ")
    assert cells[2][names.index("ratio")].endswith(" NULL ")


def test_without_a_width_nothing_is_left_out():
    text = table_text(WIDE)
    assert "left out" not in text and all(n in text for n in WIDE.column_names)


def test_repr_of_a_result_is_a_text_table(monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    rows = pa.table({"key": [f"k{i}" for i in range(25)], "n": pa.array(range(25), pa.int64())})
    text = repr(Result(rows, "SELECT ...", query="recent_deletes"))
    assert text.splitlines()[0] == "recent_deletes: 25 rows x 2 columns"
    assert "| k0  |  0 |" in text and "k19" in text and "k20" not in text
    assert "25 rows (showing the first 20; .df() or .arrow() for all)" in text
    assert all(_width(line) <= 72 for line in text.splitlines()[1:-1])


# --- the pager, on a real terminal (a pseudo-terminal) ---------------------------------------------------

def on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI with stdout on a pseudo-terminal; its exit code, terminal output and stderr."""
    master, slave = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S3META_") and k != "PAGER"}
    proc = subprocess.Popen([sys.executable, "-m", "analytics", *args], stdout=slave, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env={**environment, **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    stderr = proc.stderr.read().decode()
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace"), stderr


QUERY = ["query", "recent_deletes", "-p", f"since={WINDOW['since']}", "-p", f"until={WINDOW['until']}"]


def test_a_table_on_a_terminal_goes_through_the_pager_and_fits(hand_data, tmp_path):
    paged = tmp_path / "paged.txt"
    code, shown, stderr = on_a_terminal([*QUERY, "--data", str(hand_data)],
                                        {"COLUMNS": "70", "S3META_PAGER": f"cat > {paged}"})
    assert code == 0, stderr
    text = paged.read_text(encoding="utf-8")
    assert "7 rows" in text and "| bucket" in text and "+--" not in shown
    assert all(_width(line) <= 70 for line in lines_of(text))


def test_no_pager_prints_to_the_terminal(hand_data, tmp_path):
    paged = tmp_path / "paged.txt"
    code, shown, stderr = on_a_terminal([*QUERY, "--data", str(hand_data), "--no-pager"],
                                        {"COLUMNS": "70", "S3META_PAGER": f"cat > {paged}"})
    assert code == 0, stderr
    assert not paged.exists() and "7 rows" in shown
    assert all(_width(line) <= 70 for line in lines_of(shown.replace("\r\n", "\n")))


def test_an_empty_pager_setting_or_a_missing_pager_prints(hand_data):
    for pager in ("", "no-such-pager-s3meta"):
        code, shown, stderr = on_a_terminal([*QUERY, "--data", str(hand_data)],
                                            {"COLUMNS": "70", "S3META_PAGER": pager})
        assert code == 0 and "7 rows" in shown, (pager, stderr)


def test_never_a_pager_when_stdout_is_not_a_terminal(hand_data, tmp_path):
    paged = tmp_path / "paged.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3META_")}
    proc = subprocess.run([sys.executable, "-m", "analytics", *QUERY, "--data", str(hand_data), "--format", "table"],
                          capture_output=True, text=True, env={**env, "S3META_PAGER": f"cat > {paged}"})
    assert proc.returncode == 0 and "7 rows" in proc.stdout and not paged.exists()


def test_list_fits_the_terminal_too():
    from conftest import cli
    text = cli("list", env={"COLUMNS": "70"}).stdout
    assert "recent_deletes" in text and all(_width(line) <= 70 for line in text.splitlines())
    assert any(line.endswith("…") for line in text.splitlines())
    assert any(len(line) > 70 for line in cli("list").stdout.splitlines())  # a pipe: whole titles
