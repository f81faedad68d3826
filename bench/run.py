"""`make bench`: generator throughput, and each workshop query through the toolkit versus raw DuckDB.

Figures are ratios against baselines measured in the same run (these machines are noisy):

- overhead: the toolkit's `session.run` over DuckDB executing the identical statement and values
  on the same connection, interleaved pair by pair: exactly what the toolkit adds (parameter
  checks, rendering, result wrapping);
- plain: a plain DuckDB connection over the same files, with no toolkit settings, measured in a
  child process of its own. (Two DuckDB databases working by turns in one process slow each
  other down by up to ~20% in some processes, which would be noise, not the toolkit.)

Medians of several runs, after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

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


_PLAIN = """
import json, statistics, sys, time
from datetime import datetime
from pathlib import Path
import duckdb
data, repeat, statements = Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.stdin.read())
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")  # `python -c` looks interactive: the bar would go to stdout
for table in ("journal", "inventory"):
    con.read_parquet(sorted(str(p) for p in (data / table).glob("*.parquet"))).create_view(table)
out = {}
for name, (sql, values) in statements.items():
    values = {k: datetime.fromisoformat(v) if isinstance(v, str) else v for k, v in values.items()}
    con.execute(sql, values).to_arrow_table()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        con.execute(sql, values).to_arrow_table()
        times.append(time.perf_counter() - started)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def plain_duckdb(data: Path, statements, repeat: int) -> dict[str, float]:
    """Median times of the statements on a plain DuckDB connection, alone in a child process."""
    import subprocess

    payload = {name: (r.sql, {k: v.isoformat() if isinstance(v, datetime) else v
                              for k, v in (r.parameters or {}).items()}) for name, r in statements.items()}
    proc = subprocess.run([sys.executable, "-c", _PLAIN, str(data), str(repeat)], input=json.dumps(payload),
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


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

    window = {"since": "7d", "until": END.isoformat()}
    results = []
    with analytics.connect(data=data, clock=lambda: END) as session:
        statements = {}
        for name in WORKSHOP:
            query = catalog.shipped().get(name)
            values = {k: v for k, v in window.items() if k in {p.name for p in query.params}}
            rendered = session.render(name, values)
            statements[name] = rendered
            toolkit, same, ratio = paired(
                lambda name=name, values=values: session.run(name, values),
                lambda r=rendered: session.engine.con.execute(r.sql, r.parameters).to_arrow_table(), args.repeat)
            results.append({"query": name, "rows": len(session.run(name, values)), "toolkit_s": toolkit,
                            "duckdb_same_connection_s": same, "overhead_ratio": ratio})
    plain = plain_duckdb(data, statements, args.repeat)
    for r in results:
        r["duckdb_plain_s"] = plain[r["query"]]
        r["plain_ratio"] = r["toolkit_s"] / plain[r["query"]]
        print(f"{r['query']:28s} {r['rows']:>8,} rows  toolkit {r['toolkit_s'] * 1000:8.1f} ms  "
              f"duckdb {r['duckdb_same_connection_s'] * 1000:8.1f} ms (ratio {r['overhead_ratio']:4.2f})  "
              f"plain duckdb {r['duckdb_plain_s'] * 1000:8.1f} ms (ratio {r['plain_ratio']:4.2f})")
    worst = max(r["overhead_ratio"] for r in results)
    print(f"worst toolkit/duckdb ratio: {worst:.2f} (target <= 1.10); "
          f"against plain DuckDB in its own process: {max(r['plain_ratio'] for r in results):.2f}")
    (Path(args.out) / "bench.json").write_text(json.dumps(
        {"rows": manifest["rows"], "generator_rows_per_s": manifest["rows"] / seconds, "queries": results},
        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
