"""The DuckDB engine: the catalog over local Parquet in the S3 Metadata schema, offline and sandboxed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from ..errors import DataError, EngineError, SQLRefused
from ..schema import TABLES
from .base import Engine, Execution, Rendered

# DuckDB type names accepted for each Arrow type of the schema. Timestamps may also arrive with a
# zone (an export from Athena); the session zone is UTC, so they compare as AWS's UTC values do.
_ACCEPTED = {
    "string": ("VARCHAR",),
    "int64": ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT"),
    "bool": ("BOOLEAN",),
    "timestamp[us]": ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP WITH TIME ZONE"),
    "map<string, string>": ("MAP(VARCHAR, VARCHAR)",),
}


class DuckDBEngine(Engine):
    """`journal` and `inventory` are views over DIR/journal/**/*.parquet and DIR/inventory/**/*.parquet."""

    name: ClassVar[str] = "duckdb"
    paramstyle: ClassVar[str] = "named"

    def __init__(self, data: str | os.PathLike | None = None, threads: int | None = None,
                 memory_limit: str | None = None):
        self.data = Path(data).expanduser() if data is not None else None
        config: dict[str, Any] = {
            # Never reach the network: no extension is installed or loaded behind the user's back.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        self.con = duckdb.connect(":memory:", config=config)
        self.con.execute("SET TimeZone = 'UTC'")  # Athena's semantics for naive timestamps
        self.tables: dict[str, list[str]] = {}
        if self.data is not None:
            self._attach(self.data)
        self._sandbox()

    def _attach(self, data: Path) -> None:
        if not data.is_dir():
            raise DataError(f"data folder not found: {data}")
        for table in TABLES:
            files = sorted(str(p) for p in (data / table).glob("**/*.parquet") if p.is_file())
            if not files:
                continue
            try:
                # The relation API takes the file list as a value: no path is pasted into SQL text.
                self.con.read_parquet(files).create_view(table, replace=True)
            except duckdb.Error as exc:
                raise DataError(f"cannot read {table} data under {data}: {_first_line(exc)}") from None
            self._check_schema(table, data)
            self.tables[table] = files
        if not self.tables:
            raise DataError(f"no Parquet data under {data} (expected {data / 'journal'}/*.parquet "
                            f"and {data / 'inventory'}/*.parquet)")

    def _check_schema(self, table: str, data: Path) -> None:
        described = {row[0]: row[1] for row in self.con.execute(f"DESCRIBE {table}").fetchall()}
        missing = [f.name for f in TABLES[table] if f.name not in described]
        if missing:
            raise DataError(f"{table} data under {data} is not in the S3 Metadata schema: "
                            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        for f in TABLES[table]:
            accepted = _ACCEPTED[str(f.type)]
            if described[f.name] not in accepted:
                raise DataError(f"{table} data under {data}: column {f.name} has type {described[f.name]}, "
                                f"expected {accepted[0]}")

    def _sandbox(self) -> None:
        # Defence in depth behind the read-only check on ad-hoc SQL: files outside the data folder
        # cannot be read or written, and no setting can be changed afterwards.
        if self.data is not None:
            allowed = str(self.data.resolve()) + os.sep
            self.con.execute("SET allowed_directories = $dirs", {"dirs": [allowed]})
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")

    def _execute(self, rendered: Rendered) -> Execution:
        try:
            cursor = self.con.execute(rendered.sql, rendered.parameters)
            table = cursor.to_arrow_table()
        except KeyboardInterrupt:
            self.con.interrupt()
            raise
        except duckdb.Error as exc:
            raise self._translate(exc) from None
        return Execution(table)

    def _statements(self, sql: str) -> list[tuple[str, str]]:
        try:
            return [(s.type.name, s.query) for s in self.con.extract_statements(sql)]
        except duckdb.Error as exc:
            raise SQLRefused(f"invalid SQL: {_first_line(exc)}") from None

    def _translate(self, exc: duckdb.Error) -> Exception:
        message = _first_line(exc)
        if isinstance(exc, duckdb.CatalogException):
            for table in TABLES:
                if f"name {table} does not exist" in message:
                    where = self.data / table if self.data else "(no --data folder given)"
                    return DataError(f"no {table} data: nothing at {where}/*.parquet")
        if isinstance(exc, duckdb.PermissionException):
            return SQLRefused(f"refused: {message}")
        if isinstance(exc, (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
                            duckdb.ConversionException, duckdb.NotImplementedException)):
            return SQLRefused(f"invalid SQL: {message}")
        if isinstance(exc, duckdb.IOException) or (
                isinstance(exc, duckdb.InvalidInputException) and ".parquet" in message):
            return DataError(f"unreadable data: {message}")
        if isinstance(exc, duckdb.InvalidInputException):
            return SQLRefused(f"refused: {message}")
        return EngineError(f"DuckDB failed: {message}")

    def close(self) -> None:
        self.con.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
