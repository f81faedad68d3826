"""`make bench`: generator throughput, and each workshop query through the toolkit versus raw DuckDB.

Figures are ratios against baselines measured in the same run (these machines are noisy):
the toolkit's time for a query over the time DuckDB takes for the identical SQL and parameters on
a plain connection over the same Parquet files. Medians of several runs, after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import analytics  # noqa: E402
from analytics import catalog, fixtures  # noqa: E402

WORKSHOP = ["recent_deletes", "recent_user_deletes", "source_ip_activity", "recent_metadata_updates",
            "encryption_status_summary", "prefix_delete_volume"]
END = datetime(2025, 11, 30)


def paired(toolkit, baseline, repeat: int) -> tuple[float, float, float]:
    """Median times of both, and the median of per-pair ratios.

    The two run alternately, so a burst of load from another process hits both sides of a pair
    rather than one side of the comparison.
    """
    toolkit(), baseline()  # warm-up: file metadata and OS caches
    a, b = [], []
    for _ in range(repeat):
        for fn, times in ((toolkit, a), (baseline, b)):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = parser.parse_args()
    data = Path(args.out) / f"data-{args.rows}"

    started = time.perf_counter()
    manifest = fixtures.generate(data, rows=args.rows, seed=1, days=30, end=END)
    seconds = time.perf_counter() - started
    print(f"generator: {manifest['rows']:,} journal rows + {manifest['inventory_rows']:,} inventory rows "
          f"in {seconds:.2f} s = {manifest['rows'] / seconds:,.0f} journal rows/s")

    # The baseline: a plain DuckDB connection, views over the same files, the same statement text.
    raw = duckdb.connect()
    raw.execute("SET TimeZone = 'UTC'")
    for table in ("journal", "inventory"):
        raw.read_parquet(sorted(str(p) for p in (data / table).glob("*.parquet"))).create_view(table)

    window = {"since": "7d", "until": END.isoformat()}
    results = []
    with analytics.connect(data=data, clock=lambda: END) as session:
        for name in WORKSHOP:
            query = catalog.shipped().get(name)
            values = {k: v for k, v in window.items() if k in {p.name for p in query.params}}
            rendered = session.render(name, values)
            toolkit, baseline, ratio = paired(
                lambda name=name, values=values: session.run(name, values),
                lambda r=rendered: raw.execute(r.sql, r.parameters).to_arrow_table(), args.repeat)
            rows = len(session.run(name, values))
            results.append({"query": name, "rows": rows, "toolkit_s": toolkit, "duckdb_s": baseline,
                            "ratio": ratio})
            print(f"{name:28s} {rows:>8,} rows  toolkit {toolkit * 1000:8.1f} ms  duckdb {baseline * 1000:8.1f} ms"
                  f"  ratio {ratio:5.2f}")
    worst = max(r["ratio"] for r in results)
    print(f"worst toolkit/duckdb ratio: {worst:.2f} (target <= 1.10)")
    (Path(args.out) / "bench.json").write_text(json.dumps(
        {"rows": manifest["rows"], "generator_rows_per_s": manifest["rows"] / seconds, "queries": results},
        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
