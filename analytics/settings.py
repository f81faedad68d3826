"""Engine settings: each declared once, read from one config document, resolved in one place.

Every setting is a row of SETTINGS (name, environment variable, type, engines, flag, help); the
CLI's engine flags, the notebook magic's options, the config profile keys and the keywords of
`analytics.connect()` are all built from that table. `resolve()` is the only resolver, and
`analytics.connect()` the only caller that opens a session with its answer. Precedence:

    given (a flag, or a keyword of connect())  >  $S3META_*  >  the chosen profile  >  defaults

Two rules keep a level from being half overridden by a lower one:
- settings that together say where the tables are come from one level, the highest that names any
  of them: a bucket's tables (`buckets`, `namespace`), so a profile's namespace never redirects a
  bucket given on the command line; and DuckDB's sources (`data`, `inventory_report`, `iceberg`),
  so `--inventory-report X` reads X, not X plus a profile's data folder;
- a DuckDB source means the DuckDB engine at the level it is given, unless that level (or a higher
  one) names the engine.

The config file is TOML and holds named profiles (and the report's [report] table):

    [profiles.prod]
    engine = "athena"
    region = "us-east-1"
    aws_profile = "security-audit"       # a profile of the AWS CLI configuration
    workgroup = "s3meta"
    output_location = "s3://my-athena-results/s3meta/"
    buckets = ["acme-prod-data", "acme.media.assets"]
    timeout = 900

It is read from --config FILE (connect(config=...)), else $S3META_CONFIG, else
$XDG_CONFIG_HOME/s3meta/config.toml (~/.config/s3meta/config.toml); a file the user names must
exist. A profile is chosen with --profile NAME (connect(profile=...)) or $S3META_PROFILE; the
profile named "default", if present, applies otherwise. `read()` parses the file once and every
consumer (the engine profiles, analytics.report's [report] table) reads that one document.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import BadInput
from .params import parse_seconds

ENGINES = ("duckdb", "athena")  # the names analytics.engines.REGISTRY knows (a test keeps them equal)


@dataclass(frozen=True)
class Setting:
    """One engine setting. `kind` is str, float (a positive number) or list (a repeatable flag;
    comma-separated in the environment)."""

    name: str  # the config key and connect() keyword
    env: str
    kind: type
    engines: tuple[str, ...]
    help: str
    flag: str = ""  # default: --name, with dashes
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    implies_engine: str | None = None  # a data source only this engine reads
    group: str | None = None  # settings that name one thing together come from one level

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def repeatable(self) -> bool:
        return self.kind is list


_ATHENA = ("athena",)
_DUCKDB = ("duckdb",)
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("engine", "S3META_ENGINE", str, ENGINES, "where queries run (default: duckdb)", choices=ENGINES),
    Setting("data", "S3META_DATA", str, _DUCKDB,
            "folder holding journal/**/*.parquet and inventory/**/*.parquet", metavar="DIR", implies_engine="duckdb",
            group="sources"),
    Setting("inventory_report", "S3META_INVENTORY_REPORT", list, _DUCKDB,
            "a classic S3 Inventory report (folder, manifest.json, or s3:// prefix) as the inventory, plus table "
            "inventory_report with all its columns; repeat for several", metavar="PATH", implies_engine="duckdb",
            group="sources"),
    Setting("inventory_config", "S3META_INVENTORY_CONFIG", list, _DUCKDB,
            "read this inventory configuration of its source bucket, not the newest one (one report per source "
            "bucket is read); repeat for several", metavar="ID"),
    Setting("iceberg", "S3META_ICEBERG", list, _DUCKDB,
            "read journal, inventory or annotation from an Iceberg table (S3 Tables): its metadata.json location, "
            "or its table folder; repeat for each table", metavar="TABLE=LOCATION", implies_engine="duckdb",
            group="sources"),
    Setting("buckets", "S3META_BUCKETS", list, ENGINES,
            "only this general purpose bucket's rows (athena: its S3 Metadata tables; duckdb: its rows of every "
            "table); repeat for several", flag="--bucket", metavar="NAME", group="tables"),
    Setting("namespace", "S3META_NAMESPACE", str, _ATHENA, "the tables' namespace, for legacy bucket names (b_...)",
            group="tables"),
    Setting("catalog", "S3META_CATALOG", str, _ATHENA, "data catalog (default s3tablescatalog/aws-s3)"),
    Setting("workgroup", "S3META_WORKGROUP", str, _ATHENA,
            "workgroup (its per-query scan cutoff is the hard cost limit)"),
    Setting("output_location", "S3META_OUTPUT_LOCATION", str, _ATHENA,
            "s3:// folder for results (default: the workgroup's setting)", metavar="S3URI"),
    Setting("region", "S3META_REGION", str, _ATHENA, "AWS Region (default: the AWS configuration)"),
    Setting("aws_profile", "S3META_AWS_PROFILE", str, _ATHENA,
            "AWS CLI profile (default: AWS_PROFILE or the default chain)"),
    Setting("timeout", "S3META_TIMEOUT", float, ENGINES,
            "stop a query that runs longer than this, and exit 3 (athena: stopped in Athena too)", metavar="SECONDS"),
    Setting("memory_limit", "S3META_MEMORY_LIMIT", str, _DUCKDB,
            "the memory DuckDB may use, such as 4GB; beyond it a query spills to the session's private temp "
            "folder (default 2GB)", metavar="SIZE"),
)}
ENGINE_OPTIONS = {engine: tuple(s.name for s in SETTINGS.values() if engine in s.engines and s.name != "engine")
                  for engine in ENGINES}


def add_arguments(parser: argparse.ArgumentParser) -> Any:
    """The settings as argparse options (the CLI's and the magic's), in a group that is returned.
    Defaults are None, so that connect() can tell what the user gave from what it must resolve."""
    group = parser.add_argument_group("engine (flags beat $S3META_* variables, which beat the config profile)")
    for s in SETTINGS.values():
        engines = "" if len(s.engines) > 1 else f"{s.engines[0]}: "
        group.add_argument(s.option, dest=s.name, metavar=s.metavar, choices=s.choices,
                           action="append" if s.repeatable else "store", type=_seconds if s.kind is float else None,
                           help=engines + s.help)
    return group


def _seconds(text: str) -> float:
    """A float flag's value, checked as the flag is read: one line naming the flag for `nan` or '١٢'."""
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- the config document ----------------------------------------------------------------------------

def config_path(explicit: str | os.PathLike | None = None, env: Mapping[str, str] = os.environ) -> tuple[Path, bool]:
    """The config file to read, and whether the user named it (then it must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    if env.get("S3META_CONFIG"):
        return Path(env["S3META_CONFIG"]).expanduser(), True
    base = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME") or Path.home()) / ".config")
    return base / "s3meta" / "config.toml", False


@dataclass(frozen=True)
class ConfigFile:
    """The config document, parsed once: where it is, whether the user named it, and its tables."""

    path: Path
    named: bool  # by --config or $S3META_CONFIG (then it exists), or the default location
    found: bool
    document: dict[str, Any]

    def table(self, name: str) -> Any:
        """A top-level table of the document ({} when absent), for its own reader to check."""
        return self.document.get(name, {})

    def profile(self, name: str | None) -> dict[str, Any]:
        """The settings of profile `name`, typed; with no name, the "default" profile if there is one."""
        profiles = self.table("profiles")
        if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
            raise BadInput(f"{self.path}: [profiles] must hold tables of settings ([profiles.NAME])")
        if not name:
            if "default" not in profiles:
                return {}
            name = "default"
        elif not self.found:
            raise BadInput(f"profile {name!r} requested but there is no config file at {self.path}")
        if name not in profiles:
            raise BadInput(f"{self.path}: no profile {name!r} (profiles: {', '.join(sorted(profiles)) or 'none'})")
        values = profiles[name]
        unknown = sorted(set(values) - set(SETTINGS))
        if unknown:
            raise BadInput(f"{self.path}: profile {name!r} has unknown setting {unknown[0]!r} "
                           f"(known: {', '.join(SETTINGS)})")
        return {key: _typed(key, value, f"{self.path}: profile {name!r}") for key, value in values.items()}


def read(config: str | os.PathLike | ConfigFile | None = None, env: Mapping[str, str] = os.environ) -> ConfigFile:
    """The config document: `config` (a path, or a ConfigFile already read), else $S3META_CONFIG, else
    the default location. A file the user named must exist; the default one may be absent."""
    if isinstance(config, ConfigFile):
        return config
    path, named = config_path(config, env)
    if not path.is_file():
        if named:
            raise BadInput(f"config file not found: {path}")
        return ConfigFile(path, False, False, {})
    import tomllib  # here: most runs have no config file, and the parser is 10 ms of every command's start

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read config file {path}: {' '.join(str(exc).split())}") from exc
    return ConfigFile(path, named, True, document)


# --- resolving -----------------------------------------------------------------------------------------

def _typed(name: str, value: Any, where: str | None) -> Any:
    kind = SETTINGS[name].kind
    try:
        if kind is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(value, (list, tuple)) and all(isinstance(v, (str, os.PathLike)) for v in value):
                return [os.fspath(v) for v in value]
            raise ValueError
        if kind is float:  # seconds: positive and finite (not nan or inf), ASCII digits
            if isinstance(value, bool):
                raise ValueError
            number = parse_seconds(value) if isinstance(value, str) else float(value)
            if not math.isfinite(number) or number <= 0:
                raise ValueError
            return number
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        expected = {list: "a list of names", float: "a positive number", str: "text"}[kind]
        prefix = f"{where}: " if where else ""
        raise BadInput(f"{prefix}setting {name!r} must be {expected} (got {str(value)[:60]!r})") from None


def _merge(levels: list[dict[str, Any]]) -> dict[str, Any]:
    """Levels from lowest to highest precedence, merged by the two rules of the module docstring."""
    merged: dict[str, Any] = {"engine": "duckdb"}
    for values in levels:
        for group in {SETTINGS[name].group for name in values} - {None}:
            for s in SETTINGS.values():
                if s.group == group:
                    merged.pop(s.name, None)
        implied = [SETTINGS[name].implies_engine for name in values if SETTINGS[name].implies_engine]
        if implied and "engine" not in values:
            merged["engine"] = implied[0]
        merged.update(values)
    return merged


def resolve(given: Mapping[str, Any], *, config: str | os.PathLike | ConfigFile | None = None,
            profile: str | None = None, env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Every setting, merged by precedence. `given` holds what the caller was given (None or [] = not
    given); `config` and `profile` name the config file and profile (else $S3META_CONFIG and
    $S3META_PROFILE). The one resolver: the CLI and the magic pass what the user typed to connect()."""
    unknown = sorted(set(given) - set(SETTINGS))
    if unknown:
        raise BadInput(f"unknown setting {unknown[0]!r} (known: {', '.join(SETTINGS)})")
    document = read(config, env)
    from_profile = document.profile(profile or env.get("S3META_PROFILE") or None)
    from_env = {s.name: _typed(s.name, env[s.env], f"${s.env}") for s in SETTINGS.values() if env.get(s.env)}
    from_given = {name: _typed(name, value, None) for name, value in given.items()
                  if value is not None and value != []}
    return _merge([from_profile, from_env, from_given])


def engine_options(settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The engine name and the keyword options it takes, from resolved settings."""
    engine = settings.get("engine", "duckdb")
    if engine not in ENGINE_OPTIONS:
        raise BadInput(f"unknown engine {engine!r} (available: {', '.join(ENGINE_OPTIONS)})")
    return engine, {k: settings[k] for k in ENGINE_OPTIONS[engine] if settings.get(k) is not None}


__all__ = ["ConfigFile", "ENGINES", "ENGINE_OPTIONS", "SETTINGS", "Setting", "add_arguments", "config_path",
           "engine_options", "read", "resolve"]
