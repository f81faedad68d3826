"""s3meta: analytics for Amazon S3 Metadata journal and inventory tables, on DuckDB and Athena."""

from __future__ import annotations

from typing import Any as _Any

from .api import Session, connect
from .catalog import Catalog, Query
from .errors import BadInput, CatalogError, DataError, EngineError, ParamError, S3MetaError, SQLRefused
from .result import Result
from .version import __version__ as __version__


def run(name: str, *, data: _Any = None, engine: str = "duckdb", **params: _Any) -> Result:
    """Run one catalog query in a throw-away session: `run("recent_deletes", data="demo", since="24h")`."""
    with connect(engine, data=data) as session:
        return session.run(name, **params)


def sql(text: str, *, data: _Any = None, engine: str = "duckdb", **params: _Any) -> Result:
    """Run one ad-hoc read-only statement in a throw-away session; `:name` placeholders bind `params`."""
    with connect(engine, data=data) as session:
        return session.sql(text, **params)


def load_ipython_extension(ipython: _Any) -> None:
    """`%load_ext analytics`: registers the %s3meta line magic and %%s3meta cell magic."""
    from . import notebook  # imported here so that `import analytics` stays light
    notebook.load_ipython_extension(ipython)


__all__ = [
    "BadInput", "Catalog", "CatalogError", "DataError", "EngineError", "ParamError", "Query", "Result",
    "S3MetaError", "SQLRefused", "Session", "connect", "run", "sql",
]
