"""The DuckDB engine: the catalog over local Parquet in the S3 Metadata schema, offline and sandboxed."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from .. import footers
from ..errors import BadInput, DataError, EngineError, Interrupted, QueryError, QueryFailed, SQLRefused
from ..params import bucket_names
from ..schema import ADDED_IN_2026, TABLES
from .base import Engine, Progress, Rendered, Stream

# The rows of the buckets given with --bucket (a variable set once per session); all rows without it.
IN_BUCKETS = "list_contains(getvariable('s3meta_buckets'), bucket)"
PROGRESS_AFTER = 1.0  # seconds before a query's progress is shown: quick ones never flash a line
# DuckDB's own default is 80% of the machine's memory: a 50M-row journal's prefix_delete_volume took
# 7.4 GiB. Bounded, a big query spills to the session's temp folder instead, and a scheduled report
# cannot starve what else the machine runs (--memory-limit, $S3META_MEMORY_LIMIT to change it).
MEMORY_LIMIT = "2GB"
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?B|[KMGT]iB)\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_LEAST_MEMORY = 100e6  # below, DuckDB cannot even open its session (an out-of-memory error at connect)

# DuckDB type names accepted for each Arrow type of the schema. Timestamps may also arrive with a
# zone (an export from Athena); the session zone is UTC, so they compare as AWS's UTC values do.
_ACCEPTED = {
    "string": ("VARCHAR",),
    "int64": ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT"),
    "bool": ("BOOLEAN",),
    "timestamp[us]": ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP WITH TIME ZONE"),
    "map<string, string>": ("MAP(VARCHAR, VARCHAR)",),
}
# The DuckDB type each Arrow type of the schema is read as (and a missing 2026 column is typed as).
_CANONICAL = {"string": "VARCHAR", "int64": "BIGINT", "bool": "BOOLEAN", "timestamp[us]": "TIMESTAMP",
              "map<string, string>": "MAP(VARCHAR, VARCHAR)"}


# Rows per Arrow batch read from DuckDB: large enough that per-batch costs vanish, small enough that
# a few batches in flight stay in tens of megabytes.
BATCH_ROWS = 32_768

# Athena (Trino) functions DuckDB lacks, as macros, so that one query text runs on both engines.
ATHENA_FUNCTIONS = {
    "from_utf8(b)": "decode(b)",  # varbinary -> varchar (the ACL column is base64 of UTF-8 JSON)
    # Trino returns NULL for text that is not JSON and for an object or array at the path; DuckDB's
    # json_extract_string raises on the first and returns JSON text for the second. Annotation
    # payloads are often plain text, so both cases are common here. The nested CASE keeps
    # json_type from ever seeing invalid JSON.
    "json_extract_scalar(j, p)": ("CASE WHEN json_valid(j) THEN CASE WHEN json_type(j, p) NOT IN ('OBJECT', 'ARRAY') "
                                  "THEN json_extract_string(j, p) END END"),
    "regexp_like(s, p)": "regexp_matches(s, p)",  # both find the pattern anywhere in s (RE2 / Java syntax)
    "array_join(a, separator)": "array_to_string(a, separator)",  # detect_rewrites lists removed tag keys
}


class DuckDBEngine(Engine):
    """`journal`, `inventory` and `annotation` are views over DIR/<table>/**/*.parquet."""

    name: ClassVar[str] = "duckdb"
    paramstyle: ClassVar[str] = "named"
    reports_progress: ClassVar[bool] = True  # from DuckDB's own estimate, for a terminal

    def __init__(self, data: str | os.PathLike | None = None, threads: int | None = None,
                 memory_limit: str | None = None, inventory_report: Any = None, inventory_config: Any = None,
                 iceberg: Any = None, buckets: list[str] | str | None = None, timeout: float | None = None,
                 progress: Progress | None = None, poll_interval: float = 0.1):
        if data is not None and not os.fspath(data).strip():
            raise BadInput("--data: expected a folder, got an empty string")
        # Absolute, so that the views still find their files after a notebook changes folder.
        self.data = Path(data).expanduser().absolute() if data is not None else None
        self.buckets = bucket_names(buckets)
        self.timeout, self.progress, self.poll_interval = timeout, progress, poll_interval
        self.report_locations = _as_list(inventory_report)
        self.report_configurations = _as_list(inventory_config)
        self.reports: Any = None  # inventory_report.Reports, when reports are the inventory
        if self.report_configurations and not self.report_locations:
            raise BadInput("--inventory-config ($S3META_INVENTORY_CONFIG) chooses among the configurations of "
                           "--inventory-report: give that too")
        self.iceberg = _iceberg_tables(iceberg)
        if self.report_locations and "inventory" in self.iceberg:
            raise BadInput("give the inventory either as --inventory-report or as --iceberg inventory=..., not both")
        config: dict[str, Any] = {
            # Never reach the network: no extension is installed or loaded behind the user's back.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if self.iceberg:
            # A dedicated folder, filled only from the pinned wheel packages (never from DuckDB's
            # server, which is unreachable here and would not be pinned anyway).
            config["extension_directory"] = str(_extension_directory())
        if threads:
            config["threads"] = threads
        config["memory_limit"] = _memory_limit(MEMORY_LIMIT if memory_limit is None else str(memory_limit))
        # A private folder for DuckDB's spill files (mode 0700, removed at close or at exit). DuckDB's
        # default, `.tmp` in the working folder with symlinks resolved, is added to the sandbox's
        # allowed directories, so whatever the working folder (cron's is $HOME) put there was readable.
        self.temp_directory = Path(tempfile.mkdtemp(prefix="s3meta-duckdb-"))
        self._remove_temp = weakref.finalize(self, shutil.rmtree, self.temp_directory, ignore_errors=True)
        config["temp_directory"] = str(self.temp_directory)
        self.con = duckdb.connect(":memory:", config=config)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self.con.execute("SET TimeZone = 'UTC'")  # Athena's semantics for naive timestamps
        # DuckDB draws its progress bar on stdout whenever Python looks interactive (`python -c`,
        # a REPL), into the answer being written. Long queries report through `progress` instead,
        # from DuckDB's own estimate, which it keeps only while its bar is enabled.
        try:
            self.con.execute(f"SET enable_progress_bar = {'true' if self.progress else 'false'}")
            self.con.execute("SET enable_progress_bar_print = false")
        except duckdb.InvalidInputException:
            pass  # Jupyter: DuckDB's bar is a widget there, never stdout, and it refuses any change without ipywidgets
        for name, definition in ATHENA_FUNCTIONS.items():
            self.con.execute(f"CREATE MACRO {name} AS {definition}")
        self.tables: dict[str, list[str]] = {}
        self.allowed: list[str] = []  # folders (or s3:// prefixes) the sandbox lets SQL read
        self.allowed_files: list[str] = []  # single files besides: data reached through a symlink
        if self.buckets:
            # Views take no prepared parameter: the names travel as a variable's bound value, which
            # the views read (IN_BUCKETS), as Athena reads only the given buckets' tables.
            _execute(self.con, "SET VARIABLE s3meta_buckets = $buckets", {"buckets": self.buckets})
        if self.data is not None:
            self._attach(self.data, required=not (self.report_locations or self.iceberg))
        if self.report_locations:
            self._attach_report(self.report_locations)
        if self.iceberg:
            self._attach_iceberg(self.iceberg)
        self._sandbox()

    def _attach(self, data: Path, required: bool = True) -> None:
        if not data.is_dir():
            raise DataError(f"data folder not found: {data}")
        for table in TABLES:
            files, links = _scan(data / table)
            if not files:
                continue
            try:
                # The relation API takes the file list as a value: no path is pasted into SQL text.
                # DuckDB matches later files' columns to the first file's by name, so writers may
                # order columns differently (union_by_name is not needed for that, and costs ~20%),
                # but it drops columns the first file lacks: a folder of 2025 and 2026 exports is
                # read by name. The list is bound once, here: with thousands of small files each
                # bind costs a visit to every file.
                relation = self.con.read_parquet(files, union_by_name=_mixed_layouts(self.con, files))
                casts = _conforming_columns(_types(relation), table)
                if casts:
                    relation = relation.project(casts)
                if self._restricted(table):
                    relation = relation.filter(IN_BUCKETS)  # pushed down into the Parquet scan
                relation.create_view(table, replace=True)
            except duckdb.Error as exc:
                raise DataError(f"cannot read {table} data under {data}: {_first_line(exc)}") from exc
            self._check_schema(table, data, _types(relation))
            self.tables[table] = files
            # DuckDB checks the real path of each file it opens: data that a symlink inside the
            # folder (journal/ -> /mnt/export/journal) brings in is allowed file by file, nothing more.
            self.allowed_files += _outside(data / table, files, links, data.resolve())
        if not self.tables and required:
            raise DataError(f"no Parquet data under {data} (expected {data / 'journal'}/*.parquet, "
                            f"{data / 'inventory'}/*.parquet or {data / 'annotation'}/*.parquet)")

    def _attach_report(self, locations: list[str]) -> None:
        from .. import inventory_report

        self.reports = inventory_report.load(locations, self.report_configurations)
        self.notes = tuple(self.reports.notes)
        table, summary = self.reports.table, self.reports.summary()
        if self.buckets:  # only the given buckets' reports, as for every other table
            import pyarrow.compute as pc

            names = pa.array(self.buckets, pa.string())
            table = table.filter(pc.is_in(table["bucket"], value_set=names))
            summary = summary.filter(pc.is_in(summary["source_bucket"], value_set=names))
        # Registered Arrow tables: the data is already in memory, so no path reaches SQL text or the sandbox.
        self.con.register("inventory_report", table)
        self.con.register("inventory", inventory_report.inventory(table))
        self.con.register("inventory_reports", summary)  # which fields each report has
        self.tables["inventory"] = self.tables["inventory_report"] = list(locations)

    def _attach_iceberg(self, tables: dict[str, str]) -> None:
        locations = {table: _metadata_location(location) for table, location in tables.items()}
        self._load_extensions()
        if any(loc.startswith("s3://") for loc in locations.values()):
            self._s3_secret()
        for table, location in locations.items():
            # iceberg_scan takes no prepared parameter inside a view, so the location travels as a
            # variable's value: it is never pasted into SQL text.
            variable = f"s3meta_iceberg_{table}"
            _execute(self.con, f"SET VARIABLE {variable} = $location", {"location": location})
            try:
                self.con.execute(f"CREATE OR REPLACE VIEW {table} AS "
                                 f"SELECT * FROM iceberg_scan(getvariable('{variable}'))")
                # A table created before June 2026 has no object_join_key or annotation column
                # until AWS evolves its schema: those read as NULL, as from a 2025 Parquet export.
                casts = _conforming_columns(_types(self.con.table(table)), table)
                where = f" WHERE {IN_BUCKETS}" if self._restricted(table) else ""
                if casts or where:
                    self.con.execute(f"CREATE OR REPLACE VIEW {table} AS "
                                     f"SELECT {casts or '*'} FROM iceberg_scan(getvariable('{variable}')){where}")
            except duckdb.Error as exc:
                raise DataError(f"cannot read Iceberg {table} at {location}: {_first_line(exc)}") from exc
            self._check_schema(table, location)
            self.tables[table] = [location]
            self.allowed.append(_table_root(location))

    def _restricted(self, table: str) -> bool:
        """Whether --bucket limits `table`: every table of the schema with a bucket column."""
        return bool(self.buckets) and "bucket" in TABLES[table].names

    def _load_extensions(self) -> None:
        try:
            from duckdb_extensions import import_extension
        except ImportError:
            raise BadInput("--iceberg needs the DuckDB extension packages: pip install 's3meta[iceberg]' "
                           "(duckdb-extension-httpfs, -iceberg and -avro, pinned to DuckDB 1.5.5)") from None
        try:
            # iceberg loads avro from the same extension_directory, so avro is installed first.
            for name in ("avro", "httpfs", "iceberg"):
                import_extension(name, con=self.con)  # INSTALL '<file from the wheel>'
            for name in ("avro", "httpfs", "iceberg"):
                self.con.execute(f"LOAD {name}")
        except (ImportError, duckdb.Error) as exc:
            raise EngineError(f"cannot load DuckDB extension: {_first_line(exc)}") from exc

    def _s3_secret(self) -> None:
        from .. import aws

        session = aws.session()  # the standard AWS chain: environment, profile, SSO, instance role
        options = {"REGION": session.region_name or "us-east-1"}
        credentials = session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            options |= {"KEY_ID": frozen.access_key, "SECRET": frozen.secret_key}
            if frozen.token:
                options["SESSION_TOKEN"] = frozen.token
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        use_ssl = None
        if endpoint:  # an S3-compatible endpoint (moto in the tests): path-style addressing
            parsed = urlsplit(endpoint)
            options |= {"ENDPOINT": parsed.netloc or parsed.path, "URL_STYLE": "path"}
            use_ssl = parsed.scheme != "http"
        # CREATE SECRET takes no prepared parameters: values are quoted as SQL literals.
        body = ", ".join(f"{k} {_literal(v)}" for k, v in options.items())
        if use_ssl is not None:
            body += f", USE_SSL {'true' if use_ssl else 'false'}"
        try:
            self.con.execute(f"CREATE SECRET s3meta_s3 (TYPE s3, {body})")
        except duckdb.Error as exc:
            raise EngineError(f"cannot set up S3 credentials for DuckDB: {_first_line(exc)}") from exc

    def _check_schema(self, table: str, data: Path | str,
                      described: dict[str, duckdb.DuckDBPyType] | None = None) -> None:
        described = described if described is not None else _types(self.con.table(table))
        missing = [f.name for f in TABLES[table] if f.name not in described]
        if missing:
            raise DataError(f"{table} data under {data} is not in the S3 Metadata schema: "
                            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        for f in TABLES[table]:
            problem = _type_problem(f.type, described[f.name])
            if problem:
                raise DataError(f"{table} data under {data}: column {f.name} {problem}")

    def _sandbox(self) -> None:
        # Defence in depth behind the read-only check on ad-hoc SQL: files outside the data folder
        # cannot be read or written, and no setting can be changed afterwards.
        allowed = list(self.allowed)
        if self.data is not None:
            allowed.append(str(self.data.resolve()) + os.sep)
        if allowed:
            # Iceberg tables add their own folder or s3:// prefix, and nothing else. DuckDB adds its
            # temp folder itself: the session's private one, set at connect.
            _execute(self.con, "SET allowed_directories = $paths", {"paths": allowed})
        if self.allowed_files:
            _execute(self.con, "SET allowed_paths = $paths", {"paths": self.allowed_files})
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")

    def _stream(self, rendered: Rendered) -> Stream:
        # DuckDB computes the answer as its batches are fetched (a streaming result), so an answer
        # of any size is never held whole, and one read in part costs only that part.
        if self.reports is not None:  # a field no report has: one line, before DuckDB answers "unknown"
            self.reports.check(rendered.sql)
        watch = _Watch()
        reader = self._run(lambda: _execute(self.con, rendered.sql, rendered.parameters).to_arrow_reader(BATCH_ROWS),
                           watch)
        return Stream(reader.schema, self._batches(reader, watch), on_close=reader.close)

    def _batches(self, reader: pa.RecordBatchReader, watch: "_Watch") -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = self._run(reader.read_next_batch, watch)
            except StopIteration:
                watch.end(self.progress, "SUCCEEDED")
                return
            yield batch

    def _run(self, step: Callable[[], Any], watch: "_Watch") -> Any:
        """One step of a statement (running it, or computing its next batch) in a worker thread.

        Python runs signal handlers only between bytecodes of the main thread, and DuckDB checks for
        them only between tasks, tens of seconds apart on a big scan; a main thread that waits in
        short slices is what lets Ctrl-C, SIGTERM and the timeout stop DuckDB within milliseconds
        (con.interrupt()). The timeout counts from the start of the statement, across its batches.
        """
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["value"] = step()
            except BaseException as exc:  # handed over to the waiting thread
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="s3meta-duckdb", daemon=True)
        worker.start()
        self._wait(worker, watch)
        error = outcome.get("error")
        if isinstance(error, StopIteration):
            raise error
        if error is not None:
            watch.end(self.progress, "FAILED")
        if isinstance(error, duckdb.Error):
            raise self._translate(error) from error
        if isinstance(error, (pa.ArrowException, OSError)):  # a failure computing a batch arrives as Arrow's
            raise self._translate(_duckdb_error(error)) from error
        if error is not None:
            raise error
        return outcome["value"]

    def _wait(self, worker: threading.Thread, watch: "_Watch") -> None:
        """Wait for the worker; on the timeout, Ctrl-C or a termination signal, stop DuckDB first."""
        try:
            while True:
                worker.join(self.poll_interval)
                if not worker.is_alive():
                    return
                elapsed = watch.elapsed()
                if self.timeout is not None and elapsed >= self.timeout:
                    self._stop(worker)
                    watch.end(self.progress, "CANCELLED")
                    raise QueryFailed(f"DuckDB query timed out after {self.timeout:g} s and was stopped")
                if self.progress and elapsed >= PROGRESS_AFTER:
                    percent = self.con.query_progress()  # -1 while DuckDB has no estimate
                    self.progress("RUNNING", elapsed, f"{percent:.0f}% done" if percent >= 0 else None)
                    watch.shown = True
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP as errors.Terminated
            self._stop(worker)
            watch.end(self.progress, "CANCELLED")
            raise Interrupted.by(exc, "the DuckDB query was stopped") from None

    def _stop(self, worker: threading.Thread) -> None:
        self.con.interrupt()
        while worker.is_alive():
            try:
                worker.join()
            except KeyboardInterrupt:  # a second Ctrl-C: DuckDB is already stopping, within milliseconds
                continue

    def _statements(self, sql: str) -> list[tuple[str, str]]:
        try:
            return [(s.type.name, s.query) for s in self.con.extract_statements(sql)]
        except duckdb.Error as exc:
            raise SQLRefused(f"invalid SQL: {_message(exc)}") from exc

    def _translate(self, exc: duckdb.Error) -> Exception:
        """DuckDB's error as ours, labelled by what happened: a policy refusal, invalid SQL,
        unreadable data, a query failing on the data as it runs, or DuckDB itself failing."""
        first, message = _first_line(exc), _message(exc)
        if isinstance(exc, duckdb.CatalogException):
            for table in TABLES:
                if f"name {table} does not exist" in first:
                    where = self.data / table if self.data else "(no --data folder given)"
                    return DataError(f"no {table} data: nothing at {where}/*.parquet")
            for table in ("inventory_report", "inventory_reports"):
                if f"name {table} does not exist" in first:
                    return DataError(f"no {table} table: pass --inventory-report PATH (a classic S3 "
                                     "Inventory report)")
        if isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in first:
            return SQLRefused(f"refused: {message}")
        if isinstance(exc, (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
                            duckdb.NotImplementedException)):
            return SQLRefused(f"invalid SQL: {message}")
        if isinstance(exc, duckdb.IOException) or (
                isinstance(exc, duckdb.InvalidInputException) and ".parquet" in first):
            return DataError(f"unreadable data: {message}")
        if isinstance(exc, duckdb.OutOfMemoryException):
            return EngineError(f"DuckDB ran out of memory: {message}")
        if isinstance(exc, (duckdb.DataError, duckdb.InvalidInputException)):  # casts, overflows, error()
            return QueryError(f"the query failed as it ran: {message}")
        return EngineError(f"DuckDB failed: {message}")

    def tables_present(self, stats: list[dict[str, Any]] | None = None) -> tuple[str, ...]:
        return tuple(self.tables)  # filled as each source was attached: no statement runs

    def close(self) -> None:
        self.con.close()
        self._remove_temp()


def _duck_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type the toolkit reads an Arrow type of the schema as."""
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f"{_quoted(f.name)} {_duck_type(f.type)}" for f in arrow_type)
        return f"STRUCT({fields})"
    return _CANONICAL[str(arrow_type)]


def _type_problem(arrow_type: pa.DataType, found: duckdb.DuckDBPyType) -> str | None:
    """Why a column's DuckDB type cannot stand for the schema's Arrow type; None when it can.

    A struct (the journal's `annotation`) is checked field by field, by name: writers may order
    the fields differently or add some, but every field AWS documents must be there.
    """
    if pa.types.is_struct(arrow_type):
        if found.id != "struct":
            return f"has type {found}, expected {_duck_type(arrow_type)}"
        children = dict(found.children)
        for field in arrow_type:
            if field.name not in children:
                return f"has no field {field.name} (expected {_duck_type(arrow_type)})"
            problem = _type_problem(field.type, children[field.name])
            if problem:
                return f"field {field.name} {problem}"
        return None
    accepted = _ACCEPTED[str(arrow_type)]
    return None if str(found) in accepted else f"has type {found}, expected {accepted[0]}"


def _conforming_columns(described: dict[str, duckdb.DuckDBPyType], table: str) -> str | None:
    """A projection that makes a table's columns read as the schema's; None when they already do.

    S3 Metadata's timestamps have no zone (UTC by convention). Files written with a UTC zone, or in
    milli- or nanoseconds, are cast (the session zone is UTC), so results look the same whatever
    wrote the files; a struct whose fields are timestamped so is cast as a whole. A column added in
    2026 (ADDED_IN_2026) that a 2025 export lacks reads as a typed NULL, so the catalog's queries
    run on both layouts. Files in the schema's own form are read untouched; otherwise the schema's
    columns come first, in its order, then any extra columns as they are.
    """
    schema = TABLES[table]
    casts: dict[str, str] = {}
    for f in schema:
        found = described.get(f.name)
        if found is None:
            if f.name in ADDED_IN_2026[table]:
                casts[f.name] = f"CAST(NULL AS {_duck_type(f.type)}) AS {_quoted(f.name)}"
        elif _needs_cast(f.type, found):
            casts[f.name] = f"CAST({_quoted(f.name)} AS {_duck_type(f.type)}) AS {_quoted(f.name)}"
    if not casts:
        return None
    ordered = [casts.get(f.name, _quoted(f.name)) for f in schema if f.name in casts or f.name in described]
    return ", ".join(ordered + [_quoted(c) for c in described if c not in schema.names])


def _needs_cast(arrow_type: pa.DataType, found: duckdb.DuckDBPyType) -> bool:
    """Whether a present column is a timestamp in another unit or zone (at any depth of a struct)."""
    if pa.types.is_struct(arrow_type):
        if found.id != "struct":
            return False  # the schema check names the wrong type
        children = dict(found.children)
        return any(f.name in children and _needs_cast(f.type, children[f.name]) for f in arrow_type)
    text = str(found)
    return pa.types.is_timestamp(arrow_type) and text.startswith("TIMESTAMP") and text != "TIMESTAMP"


def _mixed_layouts(con: duckdb.DuckDBPyConnection, files: list[str]) -> bool:
    """Whether the files' column names differ (2025 and 2026 exports side by side, say).

    Read from the footers only: first as bytes (footers.same_schema), which settles the usual case
    of one writer at a fiftieth of the cost of asking DuckDB, which reads and decodes every footer
    again. A difference in the root element's name alone (each writer names it its own way) also
    counts: reading by name is then merely slower, never wrong.
    """
    if len(files) < 2 or footers.same_schema(files):
        return False
    count = _execute(con, "SELECT count(DISTINCT names) FROM (SELECT list(name || ':' || coalesce(num_children, 0) "
                     "ORDER BY name) AS names FROM parquet_schema($files) GROUP BY file_name)",
                     {"files": files}).fetchone()
    return bool(count and count[0] > 1)


def _execute(con: duckdb.DuckDBPyConnection, sql: str, parameters: Any = None) -> duckdb.DuckDBPyConnection:
    """con.execute(sql, parameters), without DuckDB importing pandas to bind them.

    DuckDB 1.5.5 imports pandas to convert any bound Python value (it compares each with pandas.NaT):
    0.3 to 0.5 s, more than most statements take, and in every `s3meta query` with a window. pandas is
    optional to DuckDB, so while a statement binds, a pandas not imported yet reads as absent and
    DuckDB converts the values itself; an imported one is used as before. (For those milliseconds
    another thread could not import pandas either; the toolkit imports it only to make DataFrames.)
    """
    if not parameters or "pandas" in sys.modules:
        return con.execute(sql, parameters)
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError
    try:
        return con.execute(sql, parameters)
    finally:
        if "pandas" in sys.modules and sys.modules["pandas"] is None:
            del sys.modules["pandas"]


def _memory_limit(text: str) -> str:
    """A memory_limit setting checked, as DuckDB reads it (GB = 10^9 bytes, GiB = 2^30)."""
    size = _SIZE.match(text)
    if not size:
        raise BadInput(f"memory_limit: expected a size such as 2GB or 512MB (got {text[:60]!r})")
    if float(size.group(1)) * _UNITS[size.group(2).lower()] < _LEAST_MEMORY:
        raise BadInput(f"memory_limit: {text.strip()} is too little for DuckDB; give 100MB or more")
    return text.strip()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _outside(folder: Path, files: list[str], links: set[str], root: Path) -> list[str]:
    """The real paths of `files` (as _scan found them under `folder`, `links` among them) that lie outside `root`.

    _scan does not enter linked folders, so below the folder's own real path only a file that is
    itself a link can lead elsewhere: one resolve per folder and one per link, where resolving each
    of ten thousand paths took seconds.
    """
    top, start = str(folder.resolve()), len(os.fspath(folder))
    real = (os.path.realpath(f) if f in links else top + f[start:] for f in files)
    inside = str(root).rstrip(os.sep) + os.sep
    return [r for r in real if not r.startswith(inside)]


def parquet_files(folder: Path) -> list[str]:
    """FOLDER/**/*.parquet, sorted, as pathlib's glob finds them (links to files followed, links to
    folders not), at a fraction of its cost on ten thousand files."""
    return _scan(folder)[0]


def _scan(folder: Path) -> tuple[list[str], set[str]]:
    """parquet_files(folder), and which of them are links, told by the folder entries themselves:
    no call per file but for links."""
    files: list[str] = []
    links: set[str] = set()
    folders = [os.fspath(folder)]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except OSError:  # missing or unreadable: skipped, as os.walk and pathlib's glob skip it
            continue
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.name.endswith(".parquet") and entry.is_file():  # a link to a file counts
                    files.append(entry.path)
                    if entry.is_symlink():
                        links.add(entry.path)
    return sorted(files), links


def _types(relation: duckdb.DuckDBPyRelation) -> dict[str, duckdb.DuckDBPyType]:
    """Column name -> DuckDB type, in order, from a relation already bound (no DESCRIBE, no second bind)."""
    return dict(zip(relation.columns, relation.types, strict=True))


def _duckdb_error(exc: Exception) -> duckdb.Error:
    """DuckDB's own exception for an error that reached us through the Arrow stream, as text only
    ("Invalid Input Error: ...", "Out of Memory Error: ..."), so that it is translated like any other."""
    kind, found, _ = str(exc).partition(" Error: ")
    classes = {name.lower(): cls for name, cls in vars(duckdb).items()
               if isinstance(cls, type) and issubclass(cls, duckdb.Error)}
    cls = classes.get(kind.replace(" ", "").lower() + "exception") if found else None
    return (cls or duckdb.Error)(str(exc))
def _message(exc: BaseException) -> str:
    """DuckDB's message on one line, with its hints ("Did you mean "journal"?", candidate
    bindings); the excerpt of the statement (LINE 1: ... and its caret) is left out."""
    kept = []
    for line in str(exc).strip().splitlines():
        if line.startswith("LINE "):
            break
        if line.strip() and set(line.strip()) != {"^"}:
            kept.append(line.strip())
    return " ".join(kept) or type(exc).__name__


class _Watch:
    """A statement's clock, and whether its progress line is on the terminal (then ended once)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def end(self, progress: Progress | None, state: str) -> None:
        if self.shown and progress:  # the last word, so a terminal's progress line is ended
            self.shown = False
            progress(state, self.elapsed(), None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value]


ICEBERG_TABLES = ("journal", "inventory", "annotation")
_SAFE_LOCATION = re.compile(r"^[^\x00-\x1f\x7f'\\]+$")  # no control characters, quotes or backslashes


def _iceberg_tables(value: Any) -> dict[str, str]:
    """--iceberg values, `journal=LOCATION` / `inventory=LOCATION` / `annotation=LOCATION` (or a dict), checked."""
    if value is None:
        return {}
    items = value.items() if isinstance(value, dict) else []
    if not isinstance(value, dict):
        pairs = []
        for item in _as_list(value):
            table, sep, location = item.partition("=")
            if not sep:
                raise BadInput(f"--iceberg {item!r}: expected TABLE=LOCATION, e.g. journal=s3://bucket/.../metadata.json")
            pairs.append((table.strip(), location.strip()))
        items = pairs
    tables: dict[str, str] = {}
    for table, location in items:
        if table not in ICEBERG_TABLES:
            raise BadInput(f"--iceberg {table}=...: unknown table {table!r} "
                           f"(expected {', '.join(ICEBERG_TABLES[:-1])} or {ICEBERG_TABLES[-1]})")
        if not location or not _SAFE_LOCATION.match(location):
            raise BadInput(f"--iceberg {table}=: refused location {location!r} (empty, or holds a quote, "
                           "backslash or control character)")
        tables[table] = location
    return tables


def _metadata_location(location: str) -> str:
    """A table's metadata file: the location itself, or the newest metadata/*.metadata.json under a table folder."""
    if location.endswith(".metadata.json"):
        return location
    if location.startswith("s3://"):
        from .. import aws

        bucket, _, prefix = location[5:].partition("/")
        prefix = prefix.rstrip("/") + "/metadata/"
        try:
            keys = [o["Key"] for page in aws.session().client("s3").get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix) for o in page.get("Contents", [])]
        except Exception as exc:
            raise DataError(f"cannot list Iceberg metadata at {location}: {_first_line(exc)}") from exc
        names = [k.rsplit("/", 1)[-1] for k in keys if k.endswith(".metadata.json")]
        base = f"s3://{bucket}/{prefix}"
    else:
        folder = Path(location.removeprefix("file://")).expanduser() / "metadata"
        names = [p.name for p in folder.glob("*.metadata.json")] if folder.is_dir() else []
        base = str(folder) + os.sep
    if not names:
        raise DataError(f"no Iceberg metadata at {location}: pass the table's metadata.json location "
                        "(for S3 Tables: aws s3tables get-table-metadata-location)")
    return base + max(names, key=_metadata_version)


def _metadata_version(name: str) -> tuple[int, str]:
    digits = re.match(r"v?(\d+)", name)
    return (int(digits.group(1)) if digits else -1, name)


def _table_root(metadata: str) -> str:
    """The folder (or s3:// prefix) a table's metadata and data live under: what the sandbox allows."""
    root = metadata.removeprefix("file://").rsplit("/", 1)[0]
    if root.endswith("/metadata"):
        root = root[: -len("/metadata")]
    return root.rstrip("/") + "/"


def _literal(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise BadInput("refused: an AWS setting holds a control character")
    return "'" + value.replace("'", "''") + "'"


def _extension_directory() -> Path:
    base = os.environ.get("S3META_EXTENSION_DIR")
    if base:
        return Path(base).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "s3meta" / "duckdb-extensions"
