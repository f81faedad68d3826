"""Engine settings from flags, environment variables and a config file with named profiles.

Precedence: a flag beats an environment variable, which beats the chosen profile of the config
file, which beats the defaults. The config file is TOML:

    [profiles.prod]
    engine = "athena"
    region = "us-east-1"
    aws_profile = "security-audit"       # a profile of the AWS CLI configuration
    workgroup = "s3meta"
    output_location = "s3://my-athena-results/s3meta/"
    buckets = ["acme-prod-data", "acme.media.assets"]
    timeout = 900

It is read from --config FILE, else $S3META_CONFIG, else $XDG_CONFIG_HOME/s3meta/config.toml
(~/.config/s3meta/config.toml). A profile is chosen with --profile NAME or $S3META_PROFILE; the
profile named "default", if present, applies otherwise.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

from .errors import BadInput

# setting -> (environment variable, type). Types: str, float, list (comma-separated in the environment).
SETTINGS: dict[str, tuple[str, type]] = {
    "engine": ("S3META_ENGINE", str),
    "data": ("S3META_DATA", str),
    "region": ("S3META_REGION", str),
    "aws_profile": ("S3META_AWS_PROFILE", str),
    "workgroup": ("S3META_WORKGROUP", str),
    "output_location": ("S3META_OUTPUT_LOCATION", str),
    "catalog": ("S3META_CATALOG", str),
    "namespace": ("S3META_NAMESPACE", str),
    "buckets": ("S3META_BUCKETS", list),
    "timeout": ("S3META_TIMEOUT", float),
    "inventory_report": ("S3META_INVENTORY_REPORT", list),
    "inventory_config": ("S3META_INVENTORY_CONFIG", list),
    "iceberg": ("S3META_ICEBERG", list),
}
ENGINE_OPTIONS = {
    "duckdb": ("data", "inventory_report", "inventory_config", "iceberg"),
    "athena": ("region", "aws_profile", "workgroup", "output_location", "catalog", "namespace", "buckets", "timeout"),
}


def config_path(explicit: str | None = None, env: Mapping[str, str] = os.environ) -> tuple[Path | None, bool]:
    """The config file to read, and whether the user named it (then it must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    if env.get("S3META_CONFIG"):
        return Path(env["S3META_CONFIG"]).expanduser(), True
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "s3meta" / "config.toml", False


def load_profile(path: Path | None, required: bool, profile: str | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        if required:
            raise BadInput(f"config file not found: {path}")
        if profile:
            raise BadInput(f"profile {profile!r} requested but there is no config file at {path}")
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read config file {path}: {exc}") from None
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise BadInput(f"{path}: [profiles] must be a table of named profiles")
    name = profile or ("default" if "default" in profiles else None)
    if name is None:
        return {}
    if name not in profiles:
        raise BadInput(f"{path}: no profile {name!r} (profiles: {', '.join(sorted(profiles)) or 'none'})")
    values = profiles[name]
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise BadInput(f"{path}: profile {name!r} has unknown setting {unknown[0]!r} "
                       f"(known: {', '.join(SETTINGS)})")
    return dict(values)


def _typed(name: str, value: Any, origin: str) -> Any:
    kind = SETTINGS[name][1]
    try:
        if kind is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
            raise ValueError
        if kind is float:
            number = float(value)
            if number <= 0:
                raise ValueError
            return number
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        expected = {list: "a list of names", float: "a positive number", str: "text"}[kind]
        raise BadInput(f"{origin}: setting {name!r} must be {expected}") from None


def resolve(flags: Mapping[str, Any], *, config: str | None = None, profile: str | None = None,
            env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """All settings, merged by precedence; `flags` holds only what the user typed (None = not given)."""
    path, required = config_path(config, env)
    merged: dict[str, Any] = {"engine": "duckdb"}
    for name, value in load_profile(path, required, profile or env.get("S3META_PROFILE")).items():
        merged[name] = _typed(name, value, str(path))
    for name, (variable, _) in SETTINGS.items():
        if env.get(variable):
            merged[name] = _typed(name, env[variable], f"${variable}")
    for name, value in flags.items():
        if value is not None and value != []:
            merged[name] = _typed(name, value, f"--{name.replace('_', '-')}")
    return merged


def engine_options(settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The engine name and the keyword options it takes, from resolved settings."""
    engine = settings.get("engine", "duckdb")
    if engine not in ENGINE_OPTIONS:
        raise BadInput(f"unknown engine {engine!r} (available: {', '.join(ENGINE_OPTIONS)})")
    return engine, {k: settings[k] for k in ENGINE_OPTIONS[engine] if settings.get(k) is not None}
