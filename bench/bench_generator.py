"""Benchmark: journal rows per second of analytics.fixtures.generate, end to end (Parquet written to disk).

Run: python bench/bench_generator.py [--rows 1000000] [--repeat 3]
Prints each run's wall time, rows/s and the process's CPU time (user + system; above the wall time when
both cores were busy), then the best run. On a shared machine the spread between runs is wide, so the
best of several runs is the figure to compare.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.fixtures import generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="runs; the best one is reported")
    args = ap.parse_args()
    best = None
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            before = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            manifest = generate(tmp, rows=args.rows, seed=args.seed, end=datetime(2025, 11, 30))
            elapsed = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_SELF)
        user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        best = elapsed if best is None else min(best, elapsed)
        print(f"run: {manifest['rows']:,} journal rows + {manifest['inventory_rows']:,} inventory rows in "
              f"{elapsed:.2f} s = {manifest['rows'] / elapsed:,.0f} rows/s "
              f"(cpu {user:.2f} s user + {system:.2f} s system)", flush=True)
    print(f"best: {manifest['rows'] / best:,.0f} journal rows/s (rows={args.rows:,}, seed={args.seed})")


if __name__ == "__main__":
    main()
