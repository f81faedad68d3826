"""Turning Arrow values into JSON-ready and display-ready Python values, in one place."""

from __future__ import annotations

import array as array_module
import base64
import json
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pyarrow as pa

from . import kernels as pc
from .buffers import arrow_buffer

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
    plain = jsonable(value)
    if plain is None:  # NULL, and NaN or infinity, which JSON cannot carry either
        return ""
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
    shown = "NULL" if jsonable(value) is None else text(value)
    shown = shown.translate(_CONTROL)
    return shown if len(shown) <= width else shown[: width - 1] + "…"


# --- whole arrays at once, for the writers ------------------------------------------------------------
#
# The rules above, applied to an Arrow array with pyarrow.compute, so a large answer is converted batch
# by batch without a Python object per cell. Types without a vectorized rule here (binary, intervals,
# durations, unions) take the per-value rules, column by column.
#
# No Python value is ever converted to Arrow here (not even a literal string): pyarrow imports pandas
# the first time it does that, a third of a second that a command line must not pay. Literals are
# built from bytes instead (`literal`).

# json.dumps(..., ensure_ascii=False) escapes backslash, quote and the C0 control characters only.
_JSON_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"),
                 ("\f", "\\f")] + [(chr(i), f"\\u{i:04x}") for i in range(32) if chr(i) not in "\n\r\t\b\f"]
_DISPLAY_ESCAPES = [(chr(code), escape) for code, escape in _CONTROL.items()]


@lru_cache(maxsize=None)
def literal(value: str | None) -> pa.Scalar:
    """A string scalar (None: a null one) built from bytes, not converted from a Python object."""
    if value is None:
        return pa.nulls(1, pa.string())[0]
    return strings([value])[0]


def strings(values: list[str | None]) -> pa.Array:
    """A string array built from its buffers: what pa.array(values) gives, without importing pandas."""
    data = bytearray()
    offsets = [0]
    valid = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value is not None:
            data += value.encode("utf-8", "surrogatepass")
            valid[i // 8] |= 1 << (i % 8)
        offsets.append(len(data))
    # Arrow-owned copies, not pa.py_buffer: see analytics/buffers.py
    buffers = [arrow_buffer(bytes(valid)), arrow_buffer(array_module.array("i", offsets).tobytes()),
               arrow_buffer(bytes(data))]
    return pa.Array.from_buffers(pa.string(), len(values), buffers)


def _kind(array_type: pa.DataType) -> str:
    t = pa.types
    checks = [("null", t.is_null), ("string", t.is_string), ("string", t.is_large_string),
              ("string", t.is_string_view), ("bool", t.is_boolean), ("integer", t.is_integer),
              ("float", t.is_floating), ("timestamp", t.is_timestamp), ("date", t.is_date),
              ("dictionary", t.is_dictionary), ("map", t.is_map), ("list", t.is_list), ("list", t.is_large_list),
              ("list", t.is_fixed_size_list), ("struct", t.is_struct)]
    if t.is_decimal(array_type):
        return "decimal" if array_type.scale >= 0 else "other"
    if t.is_time(array_type):
        return "time" if array_type.unit != "ns" else "other"
    return next((kind for kind, check in checks if check(array_type)), "other")


def field_texts(array: pa.Array) -> pa.Array:
    """`text` of each value as a string array, keeping NULL (and NaN, infinity) as null.

    Strings come back as they are; nested values as JSON with sorted keys.
    """
    kind = _kind(array.type)
    if kind == "string":
        return array if array.type == pa.string() else pc.cast(array, pa.string())
    if kind == "null":
        return pa.nulls(len(array), pa.string())
    if kind == "bool":
        return pc.if_else(array, literal("true"), literal("false"))
    if kind == "integer":
        return pc.cast(array, pa.string())
    if kind == "float":
        return _float_texts(array)
    if kind == "decimal":
        # An integral decimal prints as an integer (exactly), any other as the float nearest to it.
        texts = pc.cast(array, pa.string())
        if array.type.scale == 0:
            return texts
        integral = pc.match_substring_regex(texts, r"\.0*$")
        return pc.if_else(integral, pc.replace_substring_regex(texts, r"\.0*$", ""),
                          _float_texts(pc.cast(texts, pa.float64())))
    if kind == "timestamp":
        return _timestamp_texts(array)
    if kind == "date":
        return pc.cast(pc.cast(array, pa.date32()), pa.string())
    if kind == "time":
        texts = pc.cast(pc.cast(array, pa.time64("us")), pa.string())
        return pc.if_else(pc.ends_with(texts, ".000000"), pc.utf8_slice_codeunits(texts, 0, -7), texts)
    if kind == "dictionary":
        return field_texts(array.dictionary_decode())
    if kind in ("list", "map", "struct"):
        return _valid_only(array, lambda valid: json_texts(valid, sort_keys=True))
    return strings([None if v is None else text(v) for v in array.to_pylist()])


def json_texts(array: pa.Array, sort_keys: bool = False) -> pa.Array:
    """Each value as JSON text (what `json.dumps(jsonable(value))` writes), NULL as `null`: no nulls left."""
    kind = _kind(array.type)
    if kind == "dictionary":
        return json_texts(array.dictionary_decode(), sort_keys)
    if kind == "string":
        encoded = json_strings(field_texts(array))
    elif kind in ("timestamp", "date", "time"):  # ISO 8601 needs no escaping
        encoded = join(literal('"'), field_texts(array), literal('"'))
    elif kind in ("null", "bool", "integer", "float", "decimal"):
        encoded = field_texts(array)
    elif kind in ("list", "map", "struct"):
        nested = {"list": _json_lists, "map": _json_maps, "struct": _json_structs}[kind]
        encoded = _valid_only(array, lambda valid: nested(valid, sort_keys))
    else:
        return strings([json.dumps(jsonable(v), ensure_ascii=False, sort_keys=sort_keys) for v in array.to_pylist()])
    return pc.fill_null(encoded, literal("null"))


def _valid_only(array: pa.Array, convert) -> pa.Array:
    """convert() of the array's valid values, null where the array is: nested columns are often mostly
    NULL (a delete has no tags, few records carry an annotation), and their conversion is the dearest."""
    if not array.null_count:
        return convert(array)
    if array.null_count == len(array):
        return pa.nulls(len(array), pa.string())
    valid = pc.is_valid(array)
    return pc.replace_with_mask(pa.nulls(len(array), pa.string()), valid, convert(pc.filter(array, valid)))


def json_strings(texts: pa.Array) -> pa.Array:
    """Strings as JSON string literals, escaped as json.dumps(ensure_ascii=False) escapes them."""
    return join(literal('"'), replace_chars(texts, _JSON_ESCAPES), literal('"'))


def display_texts(array: pa.Array, width: int = 60) -> pa.Array:
    """`display` of each value: NULL shown, control characters escaped, long text cut with '…'."""
    texts = replace_chars(pc.fill_null(field_texts(array), literal("NULL")), _DISPLAY_ESCAPES)
    cut = join(pc.utf8_slice_codeunits(texts, 0, width - 1), literal("…"))
    return pc.if_else(pc.greater(pc.utf8_length(texts), _int32(width)), cut, texts)


def replace_chars(texts: pa.Array, replacements: list[tuple[str, str]]) -> pa.Array:
    """`texts` with each character of `replacements` replaced (in order), one pass per character over
    only the values that hold any of them: most batches hold none."""
    pattern = "[" + "".join(re.escape(char) for char, _ in replacements) + "]"
    found = pc.match_substring_regex(texts, pattern)  # null for a null text, which stays null
    if not pc.any(found).as_py():
        return texts
    replaced = pc.filter(texts, found)
    for char, replacement in replacements:
        replaced = pc.replace_substring(replaced, char, replacement)
    return pc.replace_with_mask(texts, found, replaced)


def join(*parts: pa.Array | pa.Scalar) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, literal(""))


def _int32(value: int) -> pa.Scalar:
    return pa.Array.from_buffers(pa.int32(), 1, [None, arrow_buffer(array_module.array("i", [value]).tobytes())])[0]


def _float_texts(array: pa.Array) -> pa.Array:
    # Arrow prints the shortest digits that round-trip, as Python does; the fix-ups give Python's `1.0`
    # for `1` and `1e-07` for `1e-7`. Below 1e-4 and from 1e10 the notation may still differ from
    # Python's (0.00001 for 1e-05), never the value.
    values = pc.cast(array, pa.float64())
    texts = pc.cast(pc.if_else(pc.is_finite(values), values, pa.nulls(1, pa.float64())[0]), pa.string())
    texts = pc.replace_substring_regex(texts, r"^(-?\d+)$", r"\1.0")
    return pc.replace_substring_regex(texts, r"e([+-])(\d)$", r"e\10\2")


def _timestamp_texts(array: pa.Array) -> pa.Array:
    """ISO 8601 as datetime.isoformat() writes it: a fraction only when not zero, an offset when zoned."""
    unit, zone = array.type.unit, array.type.tz
    if unit in ("s", "ms"):
        array = pc.cast(array, pa.timestamp("us", zone))
    if zone:  # rare (TIMESTAMPTZ from ad-hoc SQL): the local time in the zone, then its offset
        texts = pc.strftime(array, "%Y-%m-%dT%H:%M:%S")
        offsets = pc.replace_substring_regex(pc.strftime(array, "%z"), r"(\d\d)(\d\d)$", r"\1:\2")
    else:  # a cast ("2025-11-20 10:00:00.000000") is some 30 times faster than strftime
        texts = pc.replace_substring(pc.cast(array, pa.string()), " ", "T", max_replacements=1)
    if unit == "ns":  # as pandas writes nanoseconds: 9 digits, or 6 when they suffice
        texts = pc.replace_substring_regex(texts, r"(\.\d{6})000$", r"\1")
    texts = pc.if_else(pc.ends_with(texts, ".000000"), pc.utf8_slice_codeunits(texts, 0, -7), texts)
    return join(texts, offsets) if zone else texts


def _children(array: pa.Array) -> tuple[pa.Array, int, int]:
    """A list or map array's offsets counted from 0, and the slice (start, length) of its child values."""
    offsets = array.offsets
    start, end = offsets[0], offsets[-1]
    return pc.subtract(offsets, start), start.as_py(), end.as_py() - start.as_py()


def _enclose(array: pa.Array, offsets: pa.Array, items: pa.Array, opening: str, closing: str) -> pa.Array:
    """Each list's items joined by ", " between `opening` and `closing`; null where `array` is null."""
    lists = (pa.LargeListArray if offsets.type == pa.int64() else pa.ListArray).from_arrays(offsets, items)
    enclosed = join(literal(opening), pc.binary_join(lists, literal(", ")), literal(closing))
    return pc.if_else(pc.is_valid(array), enclosed, literal(None))


def _json_lists(array: pa.Array, sort_keys: bool) -> pa.Array:
    if pa.types.is_fixed_size_list(array.type):
        array = pc.cast(array, pa.list_(array.type.value_field))
    offsets, start, length = _children(array)
    return _enclose(array, offsets, json_texts(array.values.slice(start, length), sort_keys), "[", "]")


def _json_maps(array: pa.Array, sort_keys: bool) -> pa.Array:
    offsets, start, length = _children(array)
    keys = pc.fill_null(field_texts(array.keys.slice(start, length)), literal("null"))  # JSON keys are str(key)
    entries = join(json_strings(keys), literal(": "), json_texts(array.items.slice(start, length), sort_keys))
    if sort_keys and length > 1:
        # Sorting by (map, key) keeps each map's entries in its own slots; UTF-8 byte order is code point
        # order, Python's order for str keys. Skipped when every map is in order already (the usual case).
        owners = pc.list_parent_indices(pa.ListArray.from_arrays(pc.cast(offsets, pa.int32()), keys))
        disorder = pc.and_(pc.equal(owners.slice(1), owners.slice(0, length - 1)),
                           pc.less(keys.slice(1), keys.slice(0, length - 1)))
        if pc.any(disorder).as_py():
            order = pc.sort_indices(pa.table({"owner": owners, "key": keys}),
                                    sort_keys=[("owner", "ascending"), ("key", "ascending")])
            entries = pc.take(entries, order)
    return _enclose(array, offsets, entries, "{", "}")


def _json_structs(array: pa.Array, sort_keys: bool) -> pa.Array:
    fields = dict(zip((f.name for f in array.type), array.flatten(), strict=True))
    names = sorted(fields) if sort_keys else list(fields)
    if not names:
        return pc.if_else(pc.is_valid(array), literal("{}"), literal(None))
    parts: list = []
    for i, name in enumerate(names):
        parts += [literal(("{" if i == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": "),
                  json_texts(fields[name], sort_keys)]
    return pc.if_else(pc.is_valid(array), join(*parts, literal("}")), literal(None))
