"""The full anomaly report on N journal rows versus one DuckDB aggregate pass, measured in the same run.

    python bench/bench_report.py [--rows 10000000] [--data DIR] [--repeat 3]

The baseline is one plain DuckDB GROUP BY over the columns the detectors read (bucket, key prefix,
requester, source IP, record type, delete marker, hour, encryption status) for the same window and
baseline period. The figure that matters is the ratio (target: at most 3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import analytics  # noqa: E402
from analytics import fixtures, report  # noqa: E402

END = datetime(2025, 11, 30)
ONE_PASS = """
SELECT bucket, CASE WHEN strpos(key, '/') > 0 THEN substr(key, 1, strpos(key, '/')) ELSE '' END AS prefix,
       requester, source_ip_address, record_type, is_delete_marker, encryption_status,
       date_trunc('hour', record_timestamp) AS hour, count(*) AS n
FROM journal WHERE record_timestamp >= ? AND record_timestamp < ?
GROUP BY ALL
"""


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--data", type=Path, help="reuse (or create) the data set here")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = args.data or ROOT / "bench" / "out" / f"report-{args.rows}"
    if not (data / "manifest.json").is_file():
        started = time.perf_counter()
        fixtures.generate(data, rows=args.rows, seed=11, days=14, end=END)
        print(f"generated {args.rows} rows in {time.perf_counter() - started:.1f} s into {data}")
    until, since = END, END - timedelta(days=1)
    baseline_since = since - timedelta(days=14)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.read_parquet(sorted(str(p) for p in (data / "journal").glob("**/*.parquet"))).create_view("journal")
    base = median_time(lambda: con.execute(ONE_PASS, [baseline_since, until]).to_arrow_table(), args.repeat)

    session = analytics.connect(data=data)
    config = report.parse_config({"encryption_rules": [
        {"bucket": "acme-prod-data", "prefix": "ssekms-only/", "require": ["SSE-KMS"]}]})
    last = {}

    def full():
        last["r"] = report.run(session, since=since, until=until, baseline="14d", config=config)
        for fmt in report.FORMATS:
            last["r"].render(fmt)
    full_time = median_time(full, args.repeat)
    r = last["r"]
    print(f"rows={args.rows} window={since:%Y-%m-%d}..{until:%Y-%m-%d} baseline=14d findings={len(r.findings)} "
          f"queries={r.stats['queries']}")
    print(f"one DuckDB aggregate pass: {base:.2f} s")
    print(f"full report (queries, detectors, json+markdown+html): {full_time:.2f} s")
    print(f"ratio: {full_time / base:.2f} (target <= 3)")


if __name__ == "__main__":
    main()
