"""The Python API: a session binds an engine to the catalog; the CLI and notebooks both use it."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from . import catalog as _catalog
from . import engines
from . import params as _params
from . import settings
from .catalog import Catalog, Query
from .engines.base import Engine, Rendered
from .result import Result
from .sqltext import placeholders as _placeholders

if TYPE_CHECKING:
    from .overview import Overview

Clock = Callable[[], datetime]


class Session:
    """An engine plus the query catalog. Use as a context manager, or call close()."""

    def __init__(self, engine: Engine, catalog: Catalog | None = None, clock: Clock | None = None):
        self.engine = engine
        self._catalog = catalog
        self.clock = clock or _params.utcnow
        self.history: list[dict[str, Any]] = []  # each run's statistics, for cost and scan totals

    @property
    def catalog(self) -> Catalog:
        # Loaded on first use: ad-hoc SQL never needs it, and parsing every query file costs ~50 ms.
        if self._catalog is None:
            self._catalog = _catalog.shipped()
        return self._catalog

    # --- the catalog ---------------------------------------------------------------------------
    def queries(self) -> list[Query]:
        return list(self.catalog)

    def query(self, name: str) -> Query:
        return self.catalog.get(name)

    def bind(self, name: str | Query, values: dict[str, Any] | None = None,
             **kwargs: Any) -> tuple[Query, dict[str, Any]]:
        """The query (a catalog name, or a Query loaded elsewhere, such as a report rule) and its
        parameter values, validated and with defaults filled in."""
        query = name if isinstance(name, Query) else self.catalog.get(name)
        given = {**(values or {}), **kwargs}
        return query, _params.coerce(query.name, list(query.params), given, now=self.clock())

    def render(self, name: str | Query, values: dict[str, Any] | None = None, **kwargs: Any) -> Rendered:
        """The statement exactly as this engine will run it, with the values its driver binds."""
        query, bound = self.bind(name, values, **kwargs)
        return self.engine.render(query.sql, bound)

    # --- running -------------------------------------------------------------------------------
    def run(self, name: str | Query, values: dict[str, Any] | None = None, *, stream: bool = False,
            **kwargs: Any) -> Result:
        """Run a catalog query; parameters as a dict and/or keyword arguments (`since="24h"`).

        With `stream=True` the rows are not read yet: `result.batches()` hands them on batch by batch
        (read them before the session runs another query). A parameter named `stream` goes in `values`.
        """
        query, bound = self.bind(name, values, **kwargs)
        return self._result(query.sql, bound, stream, query=query.name)

    def sql(self, text: str, values: dict[str, Any] | None = None, *, stream: bool = False, **kwargs: Any) -> Result:
        """Run one ad-hoc read-only statement; anything else is refused before it runs.

        `:name` placeholders are bound by the driver, never pasted into the text:
        `sql("... WHERE bucket = :bucket AND record_timestamp >= :since", bucket="b", since="24h")`.
        A name the catalog uses has the catalog's type (`since` is a timestamp); others are typed
        by the Python value, or by a `NAME:TYPE` key in `values` (`{"n:integer": "5"}`). With
        `stream=True`, as in run(); a placeholder named `stream` goes in `values`.
        """
        statement = self.engine.check_read_only(text)
        names = _placeholders(statement)
        # The catalog is read only for a statement with placeholders (a plain one needs none of it).
        declared, given = _params.adhoc(names, {**(values or {}), **kwargs},
                                        self.catalog.param_types() if names else {})
        bound = _params.coerce(None, declared, given, now=self.clock())
        return self._result(statement, bound, stream)

    def _result(self, sql: str, bound: dict[str, Any], stream: bool, query: str | None = None) -> Result:
        answer = self.engine.stream(sql, bound)
        self.history.append(answer.stats)  # the same dict: rows and time fill in as the answer is read
        return Result(answer if stream else answer.read_all(), sql, bound, answer.stats, query=query)

    def info(self) -> "Overview":
        """What the data holds: tables present, the journal's first and last record, rows per
        bucket and table, journal records by type (`s3meta info`)."""
        from .overview import collect

        overview = collect(self.engine)
        self.history.extend(overview.stats)
        return overview

    def totals(self) -> dict[str, Any]:
        """Queries run in this session, with the bytes scanned and estimated cost (Athena) summed."""
        return {
            "queries": len(self.history),
            "data_scanned_bytes": sum(s.get("data_scanned_bytes") or 0 for s in self.history),
            "cost_usd": sum(s.get("cost_usd") or 0.0 for s in self.history),
            "elapsed_seconds": sum(s.get("elapsed_seconds") or 0.0 for s in self.history),
        }

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Session engine={self.engine.name} queries={len(self.catalog)}>"


def connect(engine: str | None = None, *, profile: str | None = None,
            config: str | os.PathLike | settings.ConfigFile | None = None, catalog: Catalog | str | None = None,
            clock: Clock | None = None, progress: Callable[..., None] | None = None, **options: Any) -> Session:
    """Open a session: the one place settings are resolved (analytics.settings).

    `connect(data="demo")` runs DuckDB over local Parquet; `connect("athena", buckets=["my-bucket"],
    workgroup="s3meta")` runs Athena; `connect(profile="prod")` takes a named profile of the config
    file, `connect(config="my.toml", profile="prod")` one of another file. Settings given here beat
    $S3META_* variables, which beat the profile (see analytics.settings for the whole rule).
    `catalog` is a loaded Catalog or a folder of .sql files (default: the shipped one); `clock`
    returns naive UTC "now" (tests pin it); `progress(state, elapsed, done)` is called while a
    long query runs, by engines that report progress (`done`: "1.20 GB scanned", "42% done" or
    None). Other options (poll_interval, threads) go to the engine as they are.
    """
    if isinstance(catalog, (str, bytes)) or hasattr(catalog, "__fspath__"):
        catalog = _catalog.load(catalog)  # type: ignore[arg-type]
    given = {k: options.pop(k) for k in list(options) if k in settings.SETTINGS}
    resolved = settings.resolve({**given, "engine": engine}, config=config, profile=profile)
    name, engine_options = settings.engine_options(resolved)
    cls = engines.engine_class(name)
    if progress is not None and cls.reports_progress:
        engine_options["progress"] = progress
    return Session(cls(**engine_options, **options), catalog, clock)
