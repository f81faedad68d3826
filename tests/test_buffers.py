"""No Arrow worker thread calls into Python when the toolkit reads bytes with pyarrow.

A worker that needs the GIL while the interpreter finalizes aborts the process after correct output
("terminate called without an active exception", exit 134; see analytics/buffers.py). Which run
aborts is a matter of timing (about 1 in 100 to 1 in 300 runs here), so these tests do not count
crashes: they watch the cause. A small library preloaded into the child process wraps
PyGILState_Ensure, the call every pyarrow worker makes before touching a Python object, and logs
each call made from a native thread (neither the main thread nor one Python started and joins).
Reading from io.BytesIO logs such calls on every run; `bench/stress_exit.py` counts the crashes
themselves over 500 CLI runs per engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from analytics import fixtures
from conftest import cli
from test_athena import RESULTS, can

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

void *PyGILState_GetThisThreadState(void);

int PyGILState_Ensure(void) {
    static int (*real)(void);
    if (!real) real = (int (*)(void))dlsym(RTLD_NEXT, "PyGILState_Ensure");
    /* Neither the main thread nor a thread Python started (threading, a ThreadPoolExecutor, which the
       interpreter joins before it finalizes): a native worker of Arrow's. */
    if (syscall(SYS_gettid) != getpid() && PyGILState_GetThisThreadState() == NULL) {
        Dl_info info;
        void *caller = __builtin_return_address(0);
        char line[512];
        int n = snprintf(line, sizeof line, "worker thread takes the GIL from %s\n",
                         dladdr(caller, &info) && info.dli_sname ? info.dli_sname : "an unnamed function");
        if (write(2, line, n) < 0) { /* nothing to do */ }
    }
    return real();
}
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("cc"),
                                reason="needs Linux's LD_PRELOAD and a C compiler")


@pytest.fixture(scope="module")
def gil_log(tmp_path_factory) -> dict[str, str]:
    """Environment that preloads the GIL-watching library into a child Python process."""
    folder = tmp_path_factory.mktemp("shim")
    (folder / "shim.c").write_text(SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(folder / "shim.so"), str(folder / "shim.c"), "-ldl"],
                   check=True, capture_output=True)
    return {"LD_PRELOAD": str(folder / "shim.so")}


def worker_calls(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("worker thread takes the GIL")]


def test_the_watch_sees_a_worker_reading_a_python_file_object(gil_log):
    # The instrument itself: pyarrow's threaded CSV reader over io.BytesIO, as the toolkit used to read.
    script = textwrap.dedent("""
        import io
        import pyarrow.csv as pacsv
        pacsv.read_csv(io.BytesIO(b"a,b\\n" + b"1,2\\n" * 100))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=os.environ | gil_log, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert worker_calls(proc.stderr)


def test_athena_results_are_read_without_a_worker_taking_the_gil(aws, gil_log):
    can(aws, [("source_ip_address", "varchar"), ("record_count", "bigint")],
        [[f"192.0.2.{i}", str(i)] for i in range(1, 50)])
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")} | gil_log
    proc = cli("query", "source_ip_activity", "--engine", "athena", "--bucket", "acme-prod-data",
               "--output-location", RESULTS, "-p", "since=1d", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("192.0.2.") == 49
    assert worker_calls(proc.stderr) == []


def test_inventory_reports_are_read_without_a_worker_taking_the_gil(small_data, tmp_path, gil_log):
    roots = fixtures.write_inventory_report(small_data, tmp_path)
    script = textwrap.dedent(f"""
        from analytics import inventory_report
        for root in {[str(root) for root in roots.values()]!r}:
            assert inventory_report.read(root).num_rows > 0
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=os.environ | gil_log, timeout=120, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert worker_calls(proc.stderr) == []
