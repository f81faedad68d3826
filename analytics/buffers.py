"""Bytes handed to Arrow's readers as Arrow-owned memory, so Arrow's threads never touch a Python object.

Given a Python object (io.BytesIO, or even pa.py_buffer over bytes), pyarrow's threaded readers
(CSV, Parquet) read and release it on their worker threads, and each release takes the GIL. The
threaded CSV reader may drop its last reference to its input in a future's continuation that runs
on a CPU worker after `read_csv` has returned, so the interpreter can be finalizing by then. CPython
ends a thread that waits for the GIL during finalization with pthread_exit, and the unwinding
through Arrow's noexcept destructor calls std::terminate: "terminate called without an active
exception", exit 134, after correct output (the abort in apache/arrow#34314; the same pthread_exit
path in apache/arrow#45017). A copy into Arrow's own allocator costs one memcpy and leaves the
workers nothing to release under the GIL.
"""

from __future__ import annotations

import pyarrow as pa


def arrow_buffer(data: bytes) -> pa.Buffer:
    """`data` copied into Arrow's allocator. Arrays built on it (pa.Array.from_buffers) can be
    released on any of Arrow's threads; arrays built on pa.py_buffer release a Python object."""
    sink = pa.BufferOutputStream()
    sink.write(data)
    return sink.getvalue()


def arrow_copy(data: bytes) -> pa.BufferReader:
    """`data` copied into an Arrow buffer, as a stream any pyarrow reader accepts."""
    return pa.BufferReader(arrow_buffer(data))


__all__ = ["arrow_buffer", "arrow_copy"]
