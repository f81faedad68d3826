"""Engines by name, imported only when used so `import analytics` stays light."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import BadInput
from .base import Engine

# name -> "module:Class"; the module is imported on first use (boto3 and pyathena are heavy).
REGISTRY: dict[str, str] = {
    "duckdb": "analytics.engines.duckdb:DuckDBEngine",
    "athena": "analytics.engines.athena:AthenaEngine",
}


def engine_class(name: str) -> type[Engine]:
    """The engine class registered under `name`, its module imported on first use."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise BadInput(f"unknown engine {name!r} (available: {', '.join(REGISTRY)})") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, **options: Any) -> Engine:
    """An engine instance by name, configured by keyword options."""
    return engine_class(name)(**options)


__all__ = ["Engine", "REGISTRY", "create", "engine_class"]
