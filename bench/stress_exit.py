"""Consecutive CLI runs per engine, counting the ones that do not exit 0 (the target is none).

    python bench/stress_exit.py [--runs 500] [--engine duckdb --engine athena] [--data fixtures/small]

Each run is a fresh `s3meta` process, as cron starts it, so interpreter start-up and teardown are
exercised every time: a native thread torn down badly at exit shows as exit 134 (SIGABRT) after
correct output. DuckDB reads `--data`; Athena talks to a moto server this script starts on
127.0.0.1, with one canned result queued before each run. A run counts as failed when it exits
non-zero or prints other rows than expected; distinct (exit code, last stderr line) pairs are listed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "s3://athena-results/out/"
# Athena's answer to source_ip_activity, as moto hands it back: header row first, then the rows.
ATHENA_COLUMNS = [("source_ip_address", "varchar"), ("record_count", "bigint")]
ATHENA_ROWS = [[f"192.0.2.{i}", str(100 - i)] for i in range(1, 21)]


def start_moto() -> tuple[str, subprocess.Popen]:
    """moto's server in a process of its own on a free port of 127.0.0.1, once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=5).close()
            return endpoint, server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise SystemExit(f"moto server did not start on {endpoint}") from None
            time.sleep(0.2)


def aws_environment(endpoint: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("S3META_", "AWS_"))}
    environment.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                       AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    return environment


def queue_athena_result(endpoint: str) -> None:
    """One canned result: moto gives it to the next StartQueryExecution and writes its CSV to S3."""
    def column(name, type_):
        return {"Name": name, "Label": name, "Type": type_, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN"}

    header = {"Data": [{"VarCharValue": name} for name, _ in ATHENA_COLUMNS]}
    rows = [{"Data": [{"VarCharValue": v} for v in row]} for row in ATHENA_ROWS]
    body = {"results": [{"rows": [header, *rows], "column_info": [column(*c) for c in ATHENA_COLUMNS]}]}
    request = urllib.request.Request(endpoint + "/moto-api/static/athena/query-results", method="POST",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()


def duckdb_case(data: Path) -> tuple[list[str], dict[str, str], object, object]:
    window = {"since": "2025-11-16T00:00:00", "until": "2025-11-30T00:00:00"}  # fixtures/small's 14 days
    args = ["query", "recent_deletes", "--data", str(data), "--format", "json", "--max-rows", "100000",
            "-p", f"since={window['since']}", "-p", f"until={window['until']}"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S3META_")}
    # The expected answer is whatever one in-process run of the API gives.
    sys.path.insert(0, str(ROOT))
    import analytics

    with analytics.connect(data=data) as session:
        expected = session.run("recent_deletes", window).arrow().num_rows
    return args, environment, None, lambda rows: len(rows) == expected


def athena_case(endpoint: str) -> tuple[list[str], dict[str, str], object, object]:
    import boto3

    environment = aws_environment(endpoint)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="athena-results")
    args = ["query", "source_ip_activity", "--engine", "athena", "--bucket", "acme-prod-data",
            "--output-location", RESULTS, "-p", "since=1d", "--format", "json"]
    expected = [{"source_ip_address": ip, "record_count": int(n)} for ip, n in ATHENA_ROWS]
    return args, environment, lambda: queue_athena_result(endpoint), lambda rows: rows == expected


def stress(name: str, args: list[str], environment: dict, before, check, runs: int) -> dict:
    failures: collections.Counter = collections.Counter()
    wrong_output = 0
    started = time.perf_counter()
    for i in range(runs):
        if before:
            before()
        # `python -m analytics` from the checkout's root runs this checkout's code, installed or not;
        # it is the `s3meta` entry point (`main()`) the console script calls.
        proc = subprocess.run([sys.executable, "-m", "analytics", *args], capture_output=True, text=True,
                              env=environment, cwd=ROOT, timeout=300)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            failures[(proc.returncode, lines[-1] if lines else "")] += 1
        else:
            try:
                ok = check(json.loads(proc.stdout))
            except ValueError:
                ok = False
            wrong_output += not ok
        if (i + 1) % 50 == 0:
            print(f"  {name}: {i + 1}/{runs} runs, {sum(failures.values())} non-zero exits, "
                  f"{wrong_output} wrong outputs", file=sys.stderr)
    return {"engine": name, "runs": runs, "failed": sum(failures.values()), "wrong_output": wrong_output,
            "seconds_per_run": (time.perf_counter() - started) / runs, "failures": failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="consecutive CLI runs per engine (default 500)")
    parser.add_argument("--engine", action="append", choices=("duckdb", "athena"),
                        help="engine to stress (repeatable; default both)")
    parser.add_argument("--data", type=Path, default=ROOT / "fixtures" / "small",
                        help="Parquet folder for the DuckDB runs (default fixtures/small)")
    args = parser.parse_args()
    engines = args.engine or ["duckdb", "athena"]

    results, server = [], None
    try:
        for engine in engines:
            if engine == "duckdb":
                case = duckdb_case(args.data.resolve())
            else:
                endpoint, server = start_moto()
                case = athena_case(endpoint)
            print(f"{engine}: {args.runs} runs of `s3meta {' '.join(case[0][:2])} ...`", file=sys.stderr)
            results.append(stress(engine, *case, runs=args.runs))
    finally:
        if server is not None:
            server.terminate()
            server.wait()

    print("| engine | runs | non-zero exits | wrong output | s per run |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['engine']} | {r['runs']} | {r['failed']} | {r['wrong_output']} | {r['seconds_per_run']:.2f} |")
    for r in results:
        for (code, line), count in r["failures"].most_common():
            print(f"{r['engine']}: {count} x exit {code}: {line}")
    return 1 if any(r["failed"] or r["wrong_output"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
