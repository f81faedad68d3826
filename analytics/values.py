"""Turning Arrow values into JSON-ready and display-ready Python values, in one place."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {0x7F: "\\x7f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
# C1 controls (terminal escapes such as CSI, U+009B), the Unicode bidirectional controls, which make a
# key display as another name ("invoice\u202efdp.exe" shows as "invoiceexe.pdf"), and the line and
# paragraph separators, which break a table row in some renderers.
_CONTROL |= {i: f"\\x{i:02x}" for i in range(0x80, 0xA0)}
_CONTROL |= {c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                        0x2028, 0x2029)}


def byte_size(n: float | None) -> str:
    """A byte count for people: `0 B`, `12.50 MB`, `1.20 GB`."""
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def python_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts with maps as dicts (not lists of pairs)."""
    return table.to_pylist(maps_as_pydicts="strict")


def jsonable(value: Any) -> Any:
    """A value as JSON can carry it: ISO 8601 timestamps (naive UTC as stored), maps as objects."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def text(value: Any) -> str:
    """A value as one CSV field: NULL as empty, maps and lists as JSON, timestamps in ISO 8601."""
    if value is None:
        return ""
    plain = jsonable(value)
    if isinstance(plain, (dict, list)):
        return json.dumps(plain, ensure_ascii=False, sort_keys=True)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    return str(plain)


def display(value: Any, width: int = 60) -> str:
    """A value for a terminal or a table cell: control characters escaped, long text cut with '…'.

    Object keys are chosen by whoever uploads them; a key holding a newline or a terminal escape
    sequence must not break the table or drive the terminal.
    """
    shown = "NULL" if value is None else text(value)
    shown = shown.translate(_CONTROL)
    return shown if len(shown) <= width else shown[: width - 1] + "…"
