"""The report's settings: the `[report]` table of the config document, checked key by key.

The document is read once, by analytics.settings (which also gives the engine profiles); this
module only checks its `[report]` table. Each key is one line of `Config`: its default, the kind
of value it takes (a key of `_KINDS`) and what it means, so a new key is a one-line declaration.
Durations are timedeltas, severities are checked against the detectors' scale, every detector's
table is checked against the defaults it registered, and rule folders (`rules`) are loaded and
checked. Any unknown key, wrong type or unknown detector is a BadInput naming the key (exit 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from .. import settings as _settings
from ..detectors import DETECTORS, SEVERITIES, Allowlist
from ..errors import BadInput
from ..params import parse_duration


def setting(default: Any, kind: str, help: str) -> Any:
    """One [report] key: its default (a value, or a factory such as `list`), its kind, what it means."""
    factory = default if callable(default) else (lambda: default)
    return field(default_factory=factory, metadata={"kind": kind, "help": help})


@dataclass
class Config:
    """The `[report]` table of the config file. Durations are timedeltas."""

    baseline: timedelta = setting(timedelta(days=14), "duration", "default baseline length before since")
    overlap: timedelta = setting(timedelta(hours=1), "duration", "re-read before the watermark, for late records")
    fail_on: str = setting("high", "severity", "default for --fail-on")
    renotify_after: timedelta = setting(timedelta(hours=24), "duration", "a finding quiet this long is new again")
    state_retention: timedelta = setting(timedelta(days=30), "duration", "forget findings not seen this long")
    # A window that starts at the state's watermark reaches back at most this far: a watermark
    # months old would otherwise start one window over months of journal (an Athena bill).
    max_catch_up: timedelta = setting(timedelta(days=7), "duration", "longest window a state's watermark starts")
    # Below this much observed baseline, "never seen" and "more than usual" are not evidence.
    min_baseline: timedelta = setting(timedelta(hours=24), "duration", "baseline needed before novelty pages")
    # How far --until (or a state's watermark) may lie after now before it is refused.
    clock_skew: timedelta = setting(timedelta(minutes=5), "duration", "how far --until may lie after now")
    rules: tuple = setting((), "rules", "folders of SQL detection rules, relative to the config file")
    allowlist: Allowlist = setting(Allowlist, "allowlist", "CIDRs and accounts that never count as new")
    encryption_rules: list = setting(list, "encryption_rules", "per-prefix encryption requirements")
    detectors: dict = setting(dict, "detectors", "per-detector settings: enabled, severity, thresholds")
    notify: dict = setting(dict, "notify", "SNS topic, webhook, minimum severity, timeout, region")

    def settings(self, name: str) -> dict[str, Any]:
        return {**DETECTORS[name].defaults, **self.detectors.get(name, {})}


def load_config(source: str | os.PathLike | _settings.ConfigFile | None = None) -> Config:
    """The report settings from the `[report]` table of a config document: a path, a ConfigFile that
    analytics.settings already read (the same one the engine profiles come from), or None (defaults).

    Any unknown key, wrong type or unknown detector is a BadInput naming the key (exit 2).
    """
    if source is None:
        return Config()
    document = _settings.read(source)
    return parse_config(document.table("report"), str(document.path), base=document.path.parent)


@dataclass
class _Reading:
    """Where a [report] table comes from: for messages, and for paths relative to the file."""

    where: str
    base: Path | None

    def bad(self, message: str) -> BadInput:
        return BadInput(f"{self.where}: [report] {message}")


def parse_config(table: Any, where: str = "config", base: str | os.PathLike | None = None) -> Config:
    """A [report] table already parsed from TOML (or written in Python) as a Config; `base` is the folder
    relative rule paths start from (the config file's; else the working folder)."""
    reading = _Reading(where, Path(base) if base is not None else None)
    if not isinstance(table, dict):
        raise reading.bad("must be a table")
    declared = {f.name: f.metadata["kind"] for f in fields(Config)}
    _unknown(table, set(declared), "", reading.bad)
    config = Config(**{name: _KINDS[declared[name]](value, name, reading) for name, value in table.items()})
    if config.max_catch_up <= config.overlap:
        # Each run re-reads the overlap; a cap inside it would skip part of every window.
        raise reading.bad(f"max_catch_up ({table.get('max_catch_up', '7d')}) must be longer than overlap "
                          f"({table.get('overlap', '1h')})")
    return config


# --- the kinds of value a key takes ----------------------------------------------------------------

def _duration(value: Any, name: str, reading: _Reading) -> timedelta:
    delta = parse_duration(value) if isinstance(value, str) else None
    if delta is None:
        raise reading.bad(f"{name} must be a duration such as 1h, 14d or 2w (got {value!r})")
    return delta


def _severity(value: Any, name: str, reading: _Reading) -> str:
    if value not in SEVERITIES:
        raise reading.bad(f"{name} must be one of {', '.join(SEVERITIES)} (got {value!r})")
    return value


def _strings(value: Any, name: str, reading: _Reading) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise reading.bad(f"{name} must be a list of strings")
    return value


def _rules(value: Any, name: str, reading: _Reading) -> tuple:
    from . import rules

    folders = [value] if isinstance(value, str) else _strings(value, name, reading)
    base = reading.base or Path.cwd()
    return rules.load([base / Path(folder).expanduser() for folder in folders])


def _allowlist(value: Any, name: str, reading: _Reading) -> Allowlist:
    if not isinstance(value, dict):
        raise reading.bad(f"{name} must be a table with cidrs and accounts")
    _unknown(value, {"cidrs", "accounts"}, f"{name}.", reading.bad)
    cidrs = _strings(value.get("cidrs", []), f"{name}.cidrs", reading)
    accounts = _strings(value.get("accounts", []), f"{name}.accounts", reading)
    try:
        return Allowlist.parse(cidrs, accounts)
    except ValueError as exc:
        raise reading.bad(f"{name}.cidrs: {exc}") from exc


_ENCRYPTION_TYPES = ("SSE-S3", "SSE-KMS", "DSSE-KMS", "SSE-C")


def _encryption_rules(value: Any, name: str, reading: _Reading) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise reading.bad(f"{name} must be an array of tables ([[report.{name}]])")
    checked = []
    for i, rule in enumerate(value):
        label = f"{name}[{i}]"
        if not isinstance(rule, dict):
            raise reading.bad(f"{label} must be a table")
        _unknown(rule, {"bucket", "prefix", "require"}, label + ".", reading.bad)
        if not isinstance(rule.get("prefix"), str) or not rule["prefix"]:
            raise reading.bad(f"{label}.prefix is required (a key prefix such as ssekms-only/)")
        if "bucket" in rule and not isinstance(rule["bucket"], str):
            raise reading.bad(f"{label}.bucket must be a bucket name")
        require = _strings(rule.get("require", []), label + ".require", reading)
        if not require or any(r not in _ENCRYPTION_TYPES for r in require):
            raise reading.bad(f"{label}.require must list encryption types from {', '.join(_ENCRYPTION_TYPES)}")
        checked.append({"bucket": rule.get("bucket"), "prefix": rule["prefix"], "require": require})
    return checked


def _detectors(value: Any, name: str, reading: _Reading) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise reading.bad(f"{name} must be a table of [report.{name}.NAME] tables")
    checked: dict[str, dict[str, Any]] = {}
    for detector, values in value.items():
        if detector not in DETECTORS:
            raise reading.bad(f"unknown detector {detector!r} (known: {', '.join(DETECTORS)})")
        if not isinstance(values, dict):
            raise reading.bad(f"{name}.{detector} must be a table")
        defaults = DETECTORS[detector].defaults
        _unknown(values, set(defaults) | {"severity"}, f"{name}.{detector}.", reading.bad)
        checked[detector] = {key: _detector_value(v, defaults.get(key), f"{name}.{detector}.{key}", reading)
                             for key, v in values.items()}
    return checked


def _detector_value(value: Any, default: Any, label: str, reading: _Reading) -> Any:
    if label.endswith((".severity", "_severity")):
        return _severity(value, label, reading)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise reading.bad(f"{label} must be true or false")
    elif isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise reading.bad(f"{label} must be a number >= 0")
    elif isinstance(default, list):
        return _strings(value, label, reading)
    elif isinstance(default, dict):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise reading.bad(f"{label} must be a table of strings (name = \"value\")")
        return dict(value)
    return value


_NOTIFY_KEYS = {"sns_topic_arn", "webhook_url", "min_severity", "timeout", "region"}


def _notify(value: Any, name: str, reading: _Reading) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise reading.bad(f"{name} must be a table")
    _unknown(value, _NOTIFY_KEYS, f"{name}.", reading.bad)
    if "min_severity" in value:
        _severity(value["min_severity"], f"{name}.min_severity", reading)
    timeout = value.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 300:
        raise reading.bad(f"{name}.timeout must be a number of seconds, above 0 and at most 300 (got {timeout!r})")
    if "webhook_url" in value:
        from .notify import check_url  # the one place that says which webhook URLs are usable

        try:
            check_url(value["webhook_url"])
        except ValueError as exc:
            raise reading.bad(f"{name}.webhook_url: {exc}") from exc
    return dict(value)


_KINDS: dict[str, Callable[[Any, str, _Reading], Any]] = {
    "duration": _duration, "severity": _severity, "rules": _rules, "allowlist": _allowlist,
    "encryption_rules": _encryption_rules, "detectors": _detectors, "notify": _notify,
}


def _unknown(table: dict, known: set[str], prefix: str, bad: Callable[[str], BadInput]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise bad(f"unknown key {prefix}{unknown[0]!r} (known: {', '.join(sorted(known))})")
