"""Parse, validate and coerce query parameter values: typed, with durations and an injectable clock."""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from .errors import BadInput, OutOfRange, ParamError

# Digits are ASCII only: Python's \d and int() also take '１２' and '٣', which a user did not mean
# and which then match nothing (or something else) in the data.
_DURATION_PART = re.compile(r"([0-9]+)\s*(w|d|h|m|s)", re.I)
_DURATION = re.compile(r"^\s*(?:[0-9]+\s*[wdhms]\s*)+$", re.I)
MAX_DURATION = timedelta(days=36500)  # a century: far beyond any journal, and never past year 1
_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
# Current S3 bucket rules (3-63 chars of a-z 0-9 . -) widened to the legacy us-east-1 names
# (upper case and underscores, up to 255 chars) that still exist in old accounts.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_PRINCIPAL = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$")
_EXTENSION = re.compile(r"^\.?[A-Za-z0-9]{1,16}$")
_INT_MAX = 2**31 - 1


def parse_duration(text: str) -> timedelta | None:
    """`90m`, `24h`, `7d`, `2w`, `1h30m` as a timedelta; None if `text` is not a duration.

    Longer than MAX_DURATION raises OutOfRange: a BadInput wherever it surfaces, and a ValueError
    to the parsers that name the parameter or flag it came from.
    """
    if not _DURATION.match(text):
        return None
    seconds = sum(int(amount) * _SECONDS[unit.lower()] for amount, unit in _DURATION_PART.findall(text))
    if seconds > MAX_DURATION.total_seconds():
        raise OutOfRange(f"duration {_shown(text.strip())} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def parse_span(text: Any) -> timedelta:
    """A length such as the report's baseline: a timedelta as it is, or a duration's text. A
    ValueError when it is neither, that the CLI (naming its flag) and the API both report."""
    if isinstance(text, timedelta):
        return text
    span = parse_duration(str(text))
    if span is None:
        raise ValueError(f"expected a duration such as 7d or 14d (got {str(text)[:60]!r})")
    return span


def utc_naive(value: datetime) -> datetime:
    """A datetime as naive UTC, the convention of the S3 Metadata tables (Iceberg timestamp, no zone)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def parse_timestamp(text: str, reference: datetime) -> datetime:
    """ISO 8601 (an offset is converted to UTC, none means UTC), `now`, or a duration before `reference`."""
    text = text.strip()
    if text.lower() == "now":
        return reference
    delta = parse_duration(text)
    if delta is not None:
        try:
            return reference - delta
        except OverflowError:
            raise ValueError(f"{text} before {reference.isoformat()} is before the year 1") from None
    try:
        return utc_naive(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError("expected ISO 8601 (2025-11-30T14:00:00, 2025-11-30, +02:00 or Z allowed), "
                         "'now', or a duration such as 90m, 24h, 7d") from None


@dataclass(frozen=True)
class ParamType:
    """One declared parameter type: its name, the form users see in errors, and its coercion."""

    name: str
    form: str
    coerce: Callable[[Any], Any]


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise ValueError("expected an integer")
        number = int(text)
    if not 0 <= number <= _INT_MAX:
        raise ValueError(f"expected an integer from 0 to {_INT_MAX}")
    return number


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _nonempty(value: Any) -> str:
    text = _as_string(value)
    if not text:
        raise ValueError("expected a non-empty string")
    return text


def _matching(pattern: re.Pattern[str], form: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _as_string(value).strip()
        if not pattern.match(text):
            raise ValueError(f"expected {form}")
        return text
    return check


def _ip(value: Any) -> str:
    text = _as_string(value).strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("expected an IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::1") from None
    # Compared as written: AWS records the address as text, and we do not know its IPv6 spelling
    # for certain, so the value is validated but not re-spelled.
    return text


def _requester(value: Any) -> str:
    text = _as_string(value).strip()
    if not (_ACCOUNT.match(text) or _PRINCIPAL.match(text)):
        raise ValueError("expected a 12-digit AWS account ID or a service principal such as s3.amazonaws.com")
    return text


def _extension(value: Any) -> str:
    text = _matching(_EXTENSION, "a file extension of 1-16 letters or digits, such as jpg or .parquet")(value)
    return text.lstrip(".").lower()


def _timestamp(value: Any) -> datetime:
    # Resolved against the clock by coerce(); a datetime passed from Python is taken as it is.
    if isinstance(value, datetime):
        return utc_naive(value)
    raise TypeError  # pragma: no cover - coerce() handles text before calling this


TYPES: dict[str, ParamType] = {t.name: t for t in (
    ParamType("timestamp", "ISO 8601 timestamp, 'now', or a duration such as 90m, 24h, 7d", _timestamp),
    ParamType("integer", f"an integer from 0 to {_INT_MAX}", _as_int),
    ParamType("string", "text", _as_string),
    ParamType("key", "an object key", _nonempty),
    ParamType("prefix", "a key prefix such as logs/ or finance/2025/", _nonempty),
    ParamType("bucket", "an S3 bucket name such as my-bucket or my.bucket", _matching(
        _BUCKET, "an S3 bucket name such as my-bucket or my.bucket")),
    ParamType("ip", "an IPv4 or IPv6 address", _ip),
    ParamType("requester", "a 12-digit AWS account ID or a service principal", _requester),
    ParamType("extension", "a file extension such as jpg", _extension),
)}


@dataclass(frozen=True)
class Param:
    """A parameter declared in a query's header. `default` is text in the same form users type."""

    name: str
    type: str
    default: str | None  # None: required; the text "null": optional, bound as SQL NULL
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def optional(self) -> bool:
        return self.default is not None and self.default.lower() == "null"


def coerce(query: str | None, declared: list[Param], values: Mapping[str, Any],
           now: datetime | None = None) -> dict[str, Any]:
    """Validate `values` against `declared`, fill defaults, and return Python values ready to bind.

    Timestamps resolve in two steps because a duration in `since` counts back from `until`:
    first every timestamp that is not a duration, then the durations against `until` (or `now`).
    """
    by_name = {p.name: p for p in declared}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        known = ", ".join(by_name) or "none"
        if query is None:  # ad-hoc SQL: its parameters are its placeholders
            raise ParamError(None, unknown[0], f"the statement has no :{unknown[0]} placeholder (it has: {known})")
        raise ParamError(query, unknown[0], f"this query has no such parameter (it takes: {known})")
    now = utc_naive(now) if now is not None else utcnow()

    raw: dict[str, Any] = {}
    for p in declared:
        value = values.get(p.name)
        if value is None:
            if p.required:
                raise ParamError(query, p.name, f"required; expected {TYPES[p.type].form}")
            value = None if p.optional else p.default
        raw[p.name] = value

    out: dict[str, Any] = {}
    relative: list[Param] = []
    for p in declared:
        value = raw[p.name]
        if value is None:
            out[p.name] = None
        elif p.type == "timestamp" and not isinstance(value, datetime):
            text = _as_text(query, p, value)
            try:
                is_duration = parse_duration(text) is not None
            except ValueError as exc:
                raise ParamError(query, p.name, str(exc)) from None
            if is_duration and p.name != "until":
                relative.append(p)
                continue
            out[p.name] = _resolve_timestamp(query, p, text, now)
        else:
            try:
                out[p.name] = TYPES[p.type].coerce(value)
            except (TypeError, ValueError) as exc:
                raise ParamError(query, p.name, f"{exc or 'invalid value'} (got {_shown(value)})") from None

    reference = out.get("until") or now
    for p in relative:
        out[p.name] = _resolve_timestamp(query, p, _as_text(query, p, raw[p.name]), reference)

    if out.get("since") is not None and out.get("until") is not None and out["since"] > out["until"]:
        raise ParamError(query, "since", f"the window is empty: since {out['since'].isoformat()} "
                                         f"is after until {out['until'].isoformat()}")
    return {p.name: out[p.name] for p in declared}


def _as_text(query: str | None, p: Param, value: Any) -> str:
    try:
        return _as_string(value)
    except ValueError as exc:
        raise ParamError(query, p.name, str(exc)) from None


def _resolve_timestamp(query: str | None, p: Param, text: str, reference: datetime) -> datetime:
    try:
        return parse_timestamp(text, reference)
    except ValueError as exc:
        raise ParamError(query, p.name, f"{exc} (got {_shown(text)})") from None


def _shown(value: Any) -> str:
    """The offending value for an error message: one line, bounded, control characters escaped."""
    text = repr(str(value)) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def adhoc(names: list[str], given: Mapping[str, Any], known: Mapping[str, str]) -> tuple[list[Param], dict[str, Any]]:
    """Declarations for the `:name` placeholders of ad-hoc SQL, and the values keyed by bare name.

    A name is typed, in order, by a `NAME:TYPE` key (`-p n:integer=5`), by the type the catalog
    gives that name (`known`: `:since` is a timestamp everywhere, so `since=24h` works), or by the
    Python value (datetime: timestamp, int: integer, str: string). Every placeholder is required:
    a forgotten value must not bind NULL and silently match nothing.
    """
    values: dict[str, Any] = {}
    explicit: dict[str, str] = {}
    for key, value in given.items():
        name, sep, type_ = key.partition(":")
        if sep:
            if type_ not in TYPES:
                raise ParamError(None, name, f"unknown type {type_!r} (known: {', '.join(TYPES)})")
            explicit[name] = type_
        values[name] = value
    declared = []
    for name in dict.fromkeys(names):
        type_ = explicit.get(name) or known.get(name) or _type_of(name, values.get(name))
        declared.append(Param(name, type_, None))
    return declared, values


def _type_of(name: str, value: Any) -> str:
    if value is None or isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, int) and not isinstance(value, bool):
        return "integer"
    raise ParamError(None, name, f"cannot bind a {type(value).__name__}: give a str, int or datetime, "
                                 f"or name a type ({name}:TYPE; types: {', '.join(TYPES)})")


def parse_count(text: str, low: int, high: int) -> int:
    """A whole number from `low` to `high`, in ASCII digits (for flags such as --max-rows, --rows)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise ValueError(f"expected a whole number from {low} to {high} (got {_shown(text)})")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"expected a whole number from {low} to {high} (got {_shown(text)})")
    return number


_SECONDS_TEXT = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def parse_seconds(text: str) -> float:
    """A positive, finite number of seconds in ASCII (for --timeout): not 0, nan, inf or '١٢'."""
    seconds = float(text) if _SECONDS_TEXT.match(text.strip()) else math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"expected a positive number of seconds, such as 30 or 1.5 (got {_shown(text)})")
    return seconds


def bucket_names(value: str | list[str] | None) -> list[str]:
    """--bucket values (one name or several), each checked by the bucket parameter's rule."""
    names = [value] if isinstance(value, str) else list(value or [])
    for name in names:
        try:
            TYPES["bucket"].coerce(name)
        except (TypeError, ValueError) as exc:
            raise BadInput(f"--bucket {_shown(name)}: {exc}") from None
    return names


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """CLI `-p NAME=VALUE` pairs as a dict; the value may itself contain '='."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParamError(None, item, "expected NAME=VALUE")
        out[name.strip()] = value
    return out
