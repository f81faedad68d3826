"""Big answers at DuckDB's own speed and memory: each figure of issue 13 against its target, in one run.

    python bench/bench_answers.py [--rows 3000000] [--repeat 3] [--small-files 10000]

Every figure is a whole process: the `s3meta` command against plain DuckDB doing the same work in a
Python process of its own (no toolkit, no settings but the UTC time zone), run alternately pair by
pair so that load from other processes hits both sides. Wall time and peak memory (the child's peak
RSS, from os.wait4) are medians over the pairs; a ratio above its target is marked **over**.

1. One aggregate over the journal, written as CSV, against `fetchall()` of the same statement.
2. Exporting a window of the journal (400,000 rows or more) as csv, jsonl, json and parquet, against
   DuckDB's own `COPY ... TO` of the same statement; and the peak memory of exporting the whole
   journal against exporting the window (memory must not grow with the answer).
3. `--format table` over the whole journal against the same command on its first 200 rows (LIMIT
   200), and against DuckDB fetching those 200 rows.
4. The same rows in 10,000 small Parquet files: a count, `recent_deletes` and `s3meta report`,
   against plain DuckDB running the same statements over the same files.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402

import analytics  # noqa: E402
from analytics import fixtures, report  # noqa: E402
from analytics.engines.duckdb import ATHENA_FUNCTIONS  # noqa: E402

END = datetime(2025, 11, 30)
AGGREGATE = ("SELECT bucket, requester, record_type, date_trunc('hour', record_timestamp) AS hour, count(*) AS n, "
             "sum(size) AS bytes FROM journal GROUP BY ALL ORDER BY ALL")
COPY_OPTIONS = {"csv": "FORMAT csv, HEADER", "jsonl": "FORMAT json", "json": "FORMAT json, ARRAY true",
                "parquet": "FORMAT parquet, COMPRESSION zstd"}

# Plain DuckDB: the same files as views, the same statements, nothing else.
PLAIN = r"""
import glob, json, os, sys
from datetime import datetime
import duckdb
mode, data, payload = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")  # as s3meta: no bar drawn on stdout from `python -c`
for name, definition in json.loads(sys.argv[4]).items():  # the Athena functions the catalog's SQL uses
    con.execute(f"CREATE MACRO {name} AS {definition}")
for table in ("journal", "inventory", "annotation"):
    files = sorted(glob.glob(os.path.join(data, table, "**", "*.parquet"), recursive=True))
    if files:
        con.read_parquet(files).create_view(table)
def values(v):
    v = {k: datetime.fromisoformat(x["datetime"]) if isinstance(x, dict) else x for k, x in (v or {}).items()}
    return v or None
if mode in ("fetchall", "arrow"):
    for sql, params in payload:
        result = con.execute(sql, values(params))
        result.fetchall() if mode == "fetchall" else result.to_arrow_table()
elif mode == "head":
    con.execute(payload["sql"]).fetchmany(200)
elif mode == "copy":
    con.execute(f"COPY ({payload['sql']}) TO '{payload['out']}' ({payload['options']})")
"""


# Runs one command and reports its wall time and peak RSS. A child's peak RSS counts the memory of
# the process it was forked from, so each command is forked from this small launcher, never from
# the benchmark itself (which holds data).
LAUNCHER = r"""
import json, os, subprocess, sys, time
out = sys.argv[1]
started = time.perf_counter()
stdout = open(out, "wb") if out else subprocess.DEVNULL
proc = subprocess.Popen(sys.argv[2:], stdout=stdout, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "rss": usage.ru_maxrss * 1024, "cpu": usage.ru_utime + usage.ru_stime,
                  "code": os.waitstatus_to_exitcode(status),
                  "stderr": proc.stderr.read().decode(errors="replace")[-2000:]}))
"""


class Run(NamedTuple):
    seconds: float  # wall time
    rss: int  # peak resident memory, bytes
    cpu: float  # user + system seconds: less sensitive than wall time to other processes' load


@functools.cache
def installed_env() -> dict[str, str]:
    """The environment children run in: Python's own, with modules byte-compiled as an installed package's are.

    pip compiles a package's modules when it installs them. This checkout is installed in place,
    and these machines set PYTHONDONTWRITEBYTECODE, under which every process would compile the
    toolkit from source: about 0.1 s that no user pays. So the children may keep bytecode, and the
    toolkit is compiled once before anything is measured.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "analytics")], env=env,
                   stdout=subprocess.DEVNULL, check=True)
    return env


def child(command: list[str], stdout: Path | None = None, ok: tuple[int, ...] = (0,)) -> Run:
    """Run a command to completion: its wall seconds, its own peak RSS and its CPU seconds. An exit
    code not in `ok` stops the benchmark (a report's findings exit 1; a crashed baseline also does)."""
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, str(stdout or ""), *command],
                              capture_output=True, text=True, check=True, env=installed_env())
    run = json.loads(launched.stdout)
    if run["code"] not in ok:
        raise SystemExit(f"failed ({run['code']}): {' '.join(command)[:200]}\n{run['stderr']}")
    return Run(run["seconds"], run["rss"], run["cpu"])


def s3meta(*args: str) -> list[str]:
    return [sys.executable, "-m", "analytics", *args]


def plain(mode: str, data: Path, payload) -> list[str]:
    return [sys.executable, "-c", PLAIN, mode, str(data), json.dumps(payload), json.dumps(ATHENA_FUNCTIONS)]


def encoded(params: dict | None) -> dict | None:
    return {k: {"datetime": v.isoformat()} if isinstance(v, datetime) else v for k, v in (params or {}).items()}


class Figures:
    def __init__(self):
        self.rows: list[dict] = []

    def pair(self, what: str, toolkit, baseline, repeat: int, target_time: float | None,
             target_memory: float | None = None, baseline_label: str = "plain DuckDB") -> dict:
        """Medians of alternating runs of both sides, and the median of the per-pair time ratios."""
        ours, theirs = [], []
        for _ in range(repeat):
            ours.append(toolkit())
            theirs.append(baseline())
        row = {
            "what": what, "baseline": baseline_label,
            "s3meta_s": statistics.median(r.seconds for r in ours),
            "plain_s": statistics.median(r.seconds for r in theirs),
            "s3meta_rss": statistics.median(r.rss for r in ours), "plain_rss": statistics.median(r.rss for r in theirs),
            "s3meta_cpu": statistics.median(r.cpu for r in ours), "plain_cpu": statistics.median(r.cpu for r in theirs),
            "time_ratio": statistics.median(a.seconds / b.seconds for a, b in zip(ours, theirs, strict=True)),
            "cpu_ratio": statistics.median(a.cpu / b.cpu for a, b in zip(ours, theirs, strict=True)),
            "target_time": target_time, "target_memory": target_memory,
        }
        row["memory_ratio"] = row["s3meta_rss"] / row["plain_rss"]
        self.rows.append(row)
        print(self.line(row), flush=True)
        return row

    @staticmethod
    def line(r: dict) -> str:
        def verdict(ratio, target):
            return "" if target is None else (" ok" if ratio <= target else " **over**")
        time_target = f" (target <= {r['target_time']})" if r["target_time"] else ""
        memory_target = f" (target <= {r['target_memory']})" if r["target_memory"] else ""
        return (f"{r['what']:58s} time {r['s3meta_s']:7.2f} s vs {r['plain_s']:7.2f} s = {r['time_ratio']:5.2f}"
                f"{time_target}{verdict(r['time_ratio'], r['target_time'])} (cpu {r['cpu_ratio']:4.2f}); "
                f"memory {r['s3meta_rss'] / 2**20:6.0f} MiB vs {r['plain_rss'] / 2**20:6.0f} MiB = "
                f"{r['memory_ratio']:5.2f}{memory_target}{verdict(r['memory_ratio'], r['target_memory'])}")


def dataset(path: Path, rows: int, days: int) -> Path:
    if not (path / "manifest.json").is_file():
        started = time.perf_counter()
        fixtures.generate(path, rows=rows, seed=13, days=days, end=END)
        print(f"generated {rows:,} rows into {path} in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def small_files(source: Path, target: Path, files: int) -> Path:
    """The source's journal and inventory rows, each table cut into `files` Parquet files."""
    if (target / "manifest.json").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    for table in ("journal", "inventory"):
        rows = pq.read_table(source / table)
        (target / table).mkdir(parents=True)
        step = -(-rows.num_rows // files)
        for i in range(files):
            pq.write_table(rows.slice(i * step, step), target / table / f"part-{i:05d}.parquet", compression="zstd")
    shutil.copy(source / "manifest.json", target / "manifest.json")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000, help="journal rows of the main data set")
    parser.add_argument("--small-rows", type=int, default=200_000, help="journal rows cut into small files")
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    data = dataset(args.out / f"answers-{args.rows}", args.rows, days=30)
    figures = Figures()
    scratch = Path(tempfile.mkdtemp(prefix="s3meta-bench-"))
    try:
        # 1. No accidental work.
        figures.pair(f"1. one aggregate over {args.rows:,} journal rows, as CSV",
                     lambda: child(s3meta("sql", AGGREGATE, "--data", str(data), "--format", "csv")),
                     lambda: child(plain("fetchall", data, [[AGGREGATE, None]])), args.repeat, 1.2,
                     baseline_label="fetchall()")

        # 2. Every output streams: a window of 400,000 rows or more, then the whole journal.
        window = export_window(data)
        statement = f"SELECT * FROM journal WHERE record_timestamp >= TIMESTAMP '{window[0]:%Y-%m-%d %H:%M:%S}'"
        for fmt in ("csv", "jsonl", "json", "parquet"):
            out = scratch / f"export.{fmt}"

            def ours(fmt=fmt, out=out):
                return child(s3meta("sql", statement, "--data", str(data), "--format", fmt), stdout=out)

            def copy(fmt=fmt, out=out):
                return child(plain("copy", data, {"sql": statement, "out": str(out), "options": COPY_OPTIONS[fmt]}))
            figures.pair(f"2. export {window[1]:,} journal rows as {fmt}", ours, copy, args.repeat, 1.5, 1.5,
                         baseline_label="COPY")
        whole = scratch / "whole.csv"
        all_rss = child(s3meta("sql", "SELECT * FROM journal", "--data", str(data), "--format", "csv"),
                           stdout=whole).rss
        whole.unlink()
        window_rss = next(r["s3meta_rss"] for r in figures.rows if r["what"].endswith("as csv"))
        growth = {"what": f"2. peak memory, whole journal ({args.rows:,} rows) vs the window, as csv",
                  "s3meta_rss": all_rss, "window_rss": window_rss, "ratio": all_rss / window_rss, "target": 1.25}
        figures.rows.append(growth)
        print(f"{growth['what']:58s} {all_rss / 2**20:6.0f} MiB vs {window_rss / 2**20:6.0f} MiB = "
              f"{growth['ratio']:5.2f} (target <= 1.25){' ok' if growth['ratio'] <= 1.25 else ' **over**'}")

        # 4 (issue point 4). A table shows what it reads.
        # The table reads what it shows: the whole journal costs what its first 200 rows cost.
        def table(sql):
            return lambda: child(s3meta("sql", sql, "--data", str(data), "--format", "table"))
        figures.pair(f"4. --format table over all {args.rows:,} journal rows", table("SELECT * FROM journal"),
                     table("SELECT * FROM journal LIMIT 200"), args.repeat, 1.25,
                     baseline_label="s3meta on LIMIT 200")
        figures.pair("4. the same, against plain DuckDB", table("SELECT * FROM journal"),
                     lambda: child(plain("head", data, {"sql": "SELECT * FROM journal"})), args.repeat, None,
                     baseline_label="fetchmany(200)")

        # 6. Many small files.
        small = small_files(dataset(args.out / f"answers-{args.small_rows}", args.small_rows, days=14),
                            args.out / f"small-{args.small_rows}-{args.small_files}", args.small_files)
        count = "SELECT count(*) AS n FROM journal"
        figures.pair(f"6. {args.small_files:,} small files: count",
                     lambda: child(s3meta("sql", count, "--data", str(small), "--format", "csv")),
                     lambda: child(plain("fetchall", small, [[count, None]])), args.repeat, 1.5)
        with analytics.connect(data=small, clock=lambda: END) as session:
            rendered = session.render("recent_deletes", since="1d", until=END.isoformat())
        figures.pair(f"6. {args.small_files:,} small files: recent_deletes",
                     lambda: child(s3meta("query", "recent_deletes", "--data", str(small), "-p", "since=1d",
                                          "-p", f"until={END.isoformat()}", "--format", "csv")),
                     lambda: child(plain("fetchall", small, [[rendered.sql, encoded(rendered.parameters)]])),
                     args.repeat, 1.5)
        statements = report_statements(small)
        since = (END - timedelta(days=1)).isoformat()
        figures.pair(f"6. {args.small_files:,} small files: s3meta report ({len(statements)} queries)",
                     lambda: child(s3meta("report", "--data", str(small), "--since", since, "--until", END.isoformat(),
                                          "--output", str(scratch / "report.json")), ok=(0, 1)),
                     lambda: child(plain("fetchall", small, statements)), args.repeat, 1.5,
                     baseline_label="the report's statements")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (args.out / "bench_answers.json").write_text(json.dumps(figures.rows, indent=2, default=str))
    return 0


def export_window(data: Path) -> tuple[datetime, int]:
    """The latest whole days of the journal that hold at least 400,000 rows."""
    with analytics.connect(data=data) as session:
        days = session.sql("SELECT CAST(record_timestamp AS DATE) AS day, count(*) AS n FROM journal "
                           "GROUP BY ALL ORDER BY day DESC").rows()
    total = 0
    for day in days:
        total += day["n"]
        if total >= 400_000:
            return datetime.combine(day["day"], datetime.min.time()), total
    return datetime.combine(days[-1]["day"], datetime.min.time()), total


def report_statements(data: Path) -> list:
    """The statements and values `s3meta report` runs over the data, recorded from a run of it."""
    recorded = []
    with analytics.connect(data=data, clock=lambda: END) as session:
        run = session.engine.stream

        def recording(sql, values=None):
            rendered = session.engine.render(sql, values)
            recorded.append([rendered.sql, encoded(rendered.parameters)])
            return run(sql, values)
        session.engine.stream = recording
        report.run(session, since=(END - timedelta(days=1)).isoformat(), until=END.isoformat())
    return recorded


if __name__ == "__main__":
    raise SystemExit(main())
