"""50M-row journals (`make bench-big`): the generator's memory, the layout's pruning, and the queries' memory.

    python bench/bench_big.py [--rows 50000000] [--repeat 1] [--out bench/out]

1. `s3meta fixtures generate --rows N --days 30` in a process of its own: time and peak RSS
   (target: at most 2 GiB).
2. Pruning: a 1-day window over the 30 days. From the files' own statistics (parquet_metadata), the
   row groups whose record_timestamp range meets the window, out of all; from DuckDB's profiler, the
   Parquet scan's CPU time for the window against a full scan of the same columns; and the bytes the
   process read (/proc/self/io rchar) for each. Target: the window reads at most 10% of the row groups.
3. The six workshop queries (7-day window) and `s3meta report` (1-day window, 14-day baseline) on
   the N rows, each a whole `s3meta` process writing CSV against plain DuckDB running the same
   statements into Arrow tables in a process of its own: time, and peak RSS (target: at most 3 GiB
   for s3meta).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import analytics  # noqa: E402
from bench_answers import Figures, child, encoded, plain, report_statements, s3meta  # noqa: E402

END = datetime(2025, 11, 30)
GiB = 1 << 30
WORKSHOP = ["recent_deletes", "recent_user_deletes", "source_ip_activity", "recent_metadata_updates",
            "encryption_status_summary", "prefix_delete_volume"]

PRUNING = r"""
import glob, json, os, sys
import duckdb
data, since, until = sys.argv[1], sys.argv[2], sys.argv[3]
files = sorted(glob.glob(os.path.join(data, "journal", "**", "*.parquet"), recursive=True))
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")  # drawn on stdout, the answer's channel, from `python -c`
con.read_parquet(files).create_view("journal")
groups = con.execute(
    "SELECT count(*) AS total, count(*) FILTER (WHERE stats_min_value::TIMESTAMP < $until "
    "AND stats_max_value::TIMESTAMP >= $since) AS meeting FROM parquet_metadata($files) "
    "WHERE path_in_schema = 'record_timestamp'", {"files": files, "since": since, "until": until}).fetchone()
out = {"row_groups": groups[0], "row_groups_meeting_window": groups[1], "files": len(files)}
profile = os.path.join(os.path.dirname(os.path.abspath(data)), "pruning-profile.json")
con.execute("PRAGMA enable_profiling = 'json'")
# Until it has a file, profiling prints each statement's profile on stdout: the last line is the answer.
con.execute("SET profiling_output = '" + profile.replace("'", "''") + "'")  # SET takes no parameters
con.execute("SET profiling_mode = 'detailed'")

def rchar():
    with open("/proc/self/io") as fh:
        return int(next(line for line in fh if line.startswith("rchar:")).split()[1])

def scan_cpu(node):
    if node.get("operator_name") == "PARQUET_SCAN":
        return node["cpu_time"]
    return sum(scan_cpu(c) for c in node.get("children", []))

for label, where in (("window", "WHERE record_timestamp >= $since AND record_timestamp < $until"), ("full", "")):
    before = rchar()
    rows = con.execute(f"SELECT count(*), max(key), max(size) FROM journal {where}",
                       {"since": since, "until": until} if where else None).fetchall()[0][0]
    read = rchar() - before
    plan = json.load(open(profile))
    out[label] = {"rows": rows, "bytes_read": read, "scan_cpu_s": scan_cpu(plan), "latency_s": plan["latency"]}
print(json.dumps(out))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    data = args.out / f"big-{args.rows}"
    results: dict = {"rows": args.rows}

    # 1. The generator, in bounded memory.
    if not (data / "manifest.json").is_file():
        seconds, rss, _ = child(s3meta("fixtures", "generate", "--out", str(data), "--rows", str(args.rows),
                                    "--days", "30", "--seed", "50", "--end", END.isoformat()))
        results["generator"] = {"seconds": seconds, "rows_per_s": args.rows / seconds, "peak_rss": rss}
        print(f"1. generator: {args.rows:,} journal rows in {seconds:.0f} s = {args.rows / seconds:,.0f} rows/s; "
              f"peak memory {rss / GiB:.2f} GiB (target <= 2 GiB){' ok' if rss <= 2 * GiB else ' **over**'}",
              flush=True)
    else:
        print(f"1. generator: reusing {data} (delete it to measure the generator again)", flush=True)

    # 2. A window prunes.
    since, until = END - timedelta(days=1), END
    import subprocess
    probe = subprocess.run([sys.executable, "-c", PRUNING, str(data), since.isoformat(), until.isoformat()],
                           capture_output=True, text=True)
    if probe.returncode:
        raise SystemExit(probe.stderr)
    p = json.loads(probe.stdout.splitlines()[-1])
    share = p["row_groups_meeting_window"] / p["row_groups"]
    results["pruning"] = p
    print(f"2. pruning, 1 day of 30: {p['row_groups_meeting_window']} of {p['row_groups']} row groups in "
          f"{p['files']} files meet the window ({share:.1%}; target <= 10%){' ok' if share <= 0.10 else ' **over**'}; "
          f"scan CPU {p['window']['scan_cpu_s']:.2f} s vs {p['full']['scan_cpu_s']:.2f} s for all rows "
          f"({p['window']['scan_cpu_s'] / p['full']['scan_cpu_s']:.1%}); bytes read "
          f"{p['window']['bytes_read'] / 2**20:.0f} MiB vs {p['full']['bytes_read'] / 2**20:.0f} MiB "
          f"({p['window']['bytes_read'] / max(p['full']['bytes_read'], 1):.1%}); "
          f"{p['window']['rows']:,} of {p['full']['rows']:,} rows", flush=True)

    # 3. The workshop queries and the report, within 3 GiB.
    figures = Figures()
    with analytics.connect(data=data, clock=lambda: END) as session:
        windowed = {name for name in WORKSHOP if {"since", "until"} <= {p.name for p in session.query(name).params}}
        rendered = {name: session.render(name, **({"since": "7d", "until": END.isoformat()} if name in windowed
                                                  else {})) for name in WORKSHOP}
    for name, r in rendered.items():
        window = ["-p", "since=7d", "-p", f"until={END.isoformat()}"] if name in windowed else []
        figures.pair(f"3. {name}", lambda name=name, window=window: child(
                         s3meta("query", name, "--data", str(data), *window, "--format", "csv")),
                     lambda r=r: child(plain("arrow", data, [[r.sql, encoded(r.parameters)]])),
                     args.repeat, None, None)
    statements = report_statements(data)
    figures.pair(f"3. s3meta report ({len(statements)} queries)",
                 lambda: child(s3meta("report", "--data", str(data), "--since", since.isoformat(), "--until",
                                      until.isoformat(), "--output", str(args.out / "big-report.json")), ok=(0, 1)),
                 lambda: child(plain("arrow", data, statements)), args.repeat, None, None,
                 baseline_label="the report's statements")
    worst = max(r["s3meta_rss"] for r in figures.rows)
    print(f"3. largest peak memory of s3meta: {worst / GiB:.2f} GiB (target <= 3 GiB)"
          f"{' ok' if worst <= 3 * GiB else ' **over**'}")
    results["queries"] = figures.rows
    (args.out / "bench_big.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"bench-big took {time.perf_counter() - started:.0f} s")
    raise SystemExit(code)
