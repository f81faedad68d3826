"""The report's settings: the `[report]` table of the config file, checked key by key.

Durations are timedeltas, severities are checked against the detectors' scale, and every detector's
table is checked against the defaults it registered. Any unknown key, wrong type or unknown detector
is a BadInput naming the key (exit 2).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..detectors import DETECTORS, SEVERITIES, Allowlist
from ..errors import BadInput
from ..params import parse_duration

@dataclass
class Config:
    """The `[report]` table of the config file. Durations are timedeltas."""

    baseline: timedelta = timedelta(days=14)
    overlap: timedelta = timedelta(hours=1)
    fail_on: str = "high"
    renotify_after: timedelta = timedelta(hours=24)
    state_retention: timedelta = timedelta(days=30)
    allowlist: Allowlist = field(default_factory=Allowlist)
    encryption_rules: list[dict[str, Any]] = field(default_factory=list)
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    notify: dict[str, Any] = field(default_factory=dict)

    def settings(self, name: str) -> dict[str, Any]:
        return {**DETECTORS[name].defaults, **self.detectors.get(name, {})}


_TOP_KEYS = {"baseline", "overlap", "fail_on", "renotify_after", "state_retention", "allowlist",
             "encryption_rules", "detectors", "notify"}
_NOTIFY_KEYS = {"sns_topic_arn", "webhook_url", "min_severity", "timeout", "region"}
_ENCRYPTION_TYPES = ("SSE-S3", "SSE-KMS", "DSSE-KMS", "SSE-C")


def load_config(path: str | os.PathLike | None = None, table: dict[str, Any] | None = None,
                required: bool = True) -> Config:
    """The report settings from the `[report]` table of a TOML file (or an already-parsed table).

    Any unknown key, wrong type or unknown detector is a BadInput naming the key (exit 2).
    """
    where = str(path) if path is not None else "config"
    if table is None:
        if path is None:
            return Config()
        target = Path(path).expanduser()
        if not target.is_file():
            if required:
                raise BadInput(f"config file not found: {target}")
            return Config()
        try:
            document = tomllib.loads(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise BadInput(f"cannot read config file {target}: {' '.join(str(exc).split())}") from None
        table = document.get("report", {})
    return parse_config(table, where)


def parse_config(table: Any, where: str = "config") -> Config:
    def bad(message: str) -> BadInput:
        return BadInput(f"{where}: [report] {message}")

    if not isinstance(table, dict):
        raise bad("must be a table")
    _unknown(table, _TOP_KEYS, "", bad)
    config = Config()
    for name in ("baseline", "overlap", "renotify_after", "state_retention"):
        if name in table:
            setattr(config, name, _duration(table[name], name, bad))
    if "fail_on" in table:
        config.fail_on = _severity(table["fail_on"], "fail_on", bad)
    allow = table.get("allowlist", {})
    if not isinstance(allow, dict):
        raise bad("allowlist must be a table with cidrs and accounts")
    _unknown(allow, {"cidrs", "accounts"}, "allowlist.", bad)
    cidrs, accounts = _strings(allow.get("cidrs", []), "allowlist.cidrs", bad), \
        _strings(allow.get("accounts", []), "allowlist.accounts", bad)
    try:
        config.allowlist = Allowlist.parse(cidrs, accounts)
    except ValueError as exc:
        raise bad(f"allowlist.cidrs: {exc}") from None
    rules = table.get("encryption_rules", [])
    if not isinstance(rules, list):
        raise bad("encryption_rules must be an array of tables ([[report.encryption_rules]])")
    for i, rule in enumerate(rules):
        label = f"encryption_rules[{i}]"
        if not isinstance(rule, dict):
            raise bad(f"{label} must be a table")
        _unknown(rule, {"bucket", "prefix", "require"}, label + ".", bad)
        if not isinstance(rule.get("prefix"), str) or not rule["prefix"]:
            raise bad(f"{label}.prefix is required (a key prefix such as ssekms-only/)")
        if "bucket" in rule and not isinstance(rule["bucket"], str):
            raise bad(f"{label}.bucket must be a bucket name")
        require = _strings(rule.get("require", []), label + ".require", bad)
        if not require or any(r not in _ENCRYPTION_TYPES for r in require):
            raise bad(f"{label}.require must list encryption types from {', '.join(_ENCRYPTION_TYPES)}")
        config.encryption_rules.append({"bucket": rule.get("bucket"), "prefix": rule["prefix"], "require": require})
    dets = table.get("detectors", {})
    if not isinstance(dets, dict):
        raise bad("detectors must be a table of [report.detectors.NAME] tables")
    for name, values in dets.items():
        if name not in DETECTORS:
            raise bad(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})")
        if not isinstance(values, dict):
            raise bad(f"detectors.{name} must be a table")
        defaults = DETECTORS[name].defaults
        _unknown(values, set(defaults) | {"severity"}, f"detectors.{name}.", bad)
        checked: dict[str, Any] = {}
        for key, value in values.items():
            default = defaults.get(key)
            if key == "severity" or key.endswith("_severity"):
                checked[key] = _severity(value, f"detectors.{name}.{key}", bad)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise bad(f"detectors.{name}.{key} must be true or false")
                checked[key] = value
            elif isinstance(default, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise bad(f"detectors.{name}.{key} must be a number >= 0")
                checked[key] = value
            elif isinstance(default, list):
                checked[key] = _strings(value, f"detectors.{name}.{key}", bad)
            elif isinstance(default, dict):
                if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                    raise bad(f"detectors.{name}.{key} must be a table of strings (name = \"value\")")
                checked[key] = dict(value)
            else:
                checked[key] = value
        config.detectors[name] = checked
    notify = table.get("notify", {})
    if not isinstance(notify, dict):
        raise bad("notify must be a table")
    _unknown(notify, _NOTIFY_KEYS, "notify.", bad)
    if "min_severity" in notify:
        _severity(notify["min_severity"], "notify.min_severity", bad)
    config.notify = dict(notify)
    return config


def _unknown(table: dict, known: set[str], prefix: str, bad) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise bad(f"unknown key {prefix}{unknown[0]!r} (known: {', '.join(sorted(known))})")


def _duration(value: Any, name: str, bad) -> timedelta:
    delta = parse_duration(value) if isinstance(value, str) else None
    if delta is None:
        raise bad(f"{name} must be a duration such as 1h, 14d or 2w (got {value!r})")
    return delta


def _severity(value: Any, name: str, bad) -> str:
    if value not in SEVERITIES:
        raise bad(f"{name} must be one of {', '.join(SEVERITIES)} (got {value!r})")
    return value


def _strings(value: Any, name: str, bad) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{name} must be a list of strings")
    return value

