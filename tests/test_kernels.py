"""analytics.kernels: each function gives what its pyarrow.compute namesake gives, and the writers'
path imports no pyarrow.compute (whose import alone costs some 70 ms)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from analytics import kernels

TEXTS = pa.array(["a b c", None, "", "2025-11-20 10:00:00.000000", 'say "hi"\n', "ünïcödé", "x.000000"])
NUMBERS = pa.array([1.5, None, float("nan"), float("inf"), -2.0, 0.0, 1e-7])
INTS = pa.array([3, None, -1, 0, 7, 2, 5], pa.int64())
MASK = pa.array([True, False, None, True, False, True, True])
STAMPS = pa.array([0, None, 1_700_000_000_123_456, -1, 86_400_000_000, 5, 10], pa.timestamp("us"))
LISTS = pa.array([["a", "b"], None, [], ["c"], [None], ["d", "e", "f"], ["g"]], pa.list_(pa.string()))
NULL_TEXT = pa.nulls(1, pa.string())[0]
TEXT = pa.array(["-"])[0]

CASES = [
    ("if_else", (MASK, TEXTS, TEXT), {}),
    ("is_valid", (TEXTS,), {}),
    ("is_finite", (NUMBERS,), {}),
    ("equal", (INTS, INTS), {}),
    ("less", (TEXTS, pa.array(["b"] * 7)), {}),
    ("greater", (INTS, pa.array([2], pa.int64())[0]), {}),
    ("and_", (MASK, pa.array([True] * 7)), {}),
    ("subtract", (INTS, pa.array([1], pa.int64())[0]), {}),
    ("utf8_length", (TEXTS,), {}),
    ("list_parent_indices", (LISTS,), {}),
    ("binary_join", (LISTS, pa.array([", "])[0]), {}),
    ("replace_with_mask", (TEXTS, pa.array([True, False, False, True, False, False, False]), pa.array(["X", "Y"])),
     {}),
    ("cast", (INTS, pa.string()), {}),
    ("cast", (STAMPS, pa.string()), {}),
    ("cast", (NUMBERS, pa.string()), {}),
    ("fill_null", (TEXTS, TEXT), {}),
    ("binary_join_element_wise", (TEXTS, TEXTS, TEXT), {}),
    ("binary_join_element_wise", (TEXTS, NULL_TEXT, TEXT), {}),
    ("match_substring_regex", (TEXTS, r"[\"\n]"), {}),
    ("ends_with", (TEXTS, ".000000"), {}),
    ("replace_substring", (TEXTS, " ", "T"), {"max_replacements": 1}),
    ("replace_substring", (TEXTS, '"', '\\"'), {}),
    ("replace_substring_regex", (TEXTS, r"^(\w)", r"<\1>"), {}),
    ("utf8_slice_codeunits", (TEXTS, 0, -7), {}),
    ("utf8_slice_codeunits", (TEXTS, 0, 3), {}),
    ("strftime", (STAMPS, "%Y-%m-%dT%H:%M:%S"), {}),
    ("any", (MASK,), {}),
    ("any", (pa.array([None, None], pa.bool_()),), {}),
    ("filter", (TEXTS, MASK), {}),
    ("take", (TEXTS, pa.array([6, 0, 0, 3])), {}),
]


@pytest.mark.parametrize("name,args,options", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_kernel_gives_what_pyarrow_compute_gives(name, args, options):
    ours, theirs = getattr(kernels, name)(*args, **options), getattr(pc, name)(*args, **options)
    assert ours.equals(theirs), (ours, theirs)


def test_sort_indices_of_a_table():
    table = pa.table({"owner": pa.array([1, 0, 1, 0]), "key": pa.array(["b", "z", "a", None])})
    keys = [("owner", "ascending"), ("key", "ascending")]
    assert kernels.sort_indices(table, keys).equals(pc.sort_indices(table, sort_keys=keys))


def test_a_timestamped_aggregate_written_by_the_cli_imports_no_pyarrow_compute(hand_data):
    probe = ("import json, sys\n"
             "from analytics import cli\n"
             "sys.stdout = open('/dev/null', 'w')\n"
             "code = cli.main(['sql', \"SELECT bucket, date_trunc('hour', record_timestamp) AS hour, "
             "any_value(object_tags) AS tags, count(*) AS n FROM journal GROUP BY ALL\", "
             f"'--data', {str(hand_data)!r}, '--format', 'csv'])\n"
             "sys.stdout = sys.__stdout__\n"
             "print(json.dumps([code, 'pyarrow.compute' in sys.modules]))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == [0, False]
