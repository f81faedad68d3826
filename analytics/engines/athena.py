"""The Athena engine: the same catalog over the S3 Tables of S3 Metadata, via boto3 and PyAthena.

AWS writes each bucket's tables into the AWS-managed table bucket `aws-s3`, namespace `b_<bucket>`
(dots become underscores), reached from Athena as catalog `s3tablescatalog/aws-s3`. One bucket is
addressed through the query execution context, so the catalog text runs unchanged; several
buckets are addressed by rewriting `journal`, `inventory` and `annotation` into a UNION ALL of the
qualified per-bucket tables, so aggregates are computed across buckets, not pasted together.

Parameters travel as Athena ExecutionParameters bound to `?` placeholders. Athena substitutes each
value as a SQL literal, so values are turned into literals by PyAthena's own formatter (strings
quoted with quotes doubled, timestamps as TIMESTAMP '...'), never by string formatting here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
import uuid
from typing import Any, ClassVar, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ..buffers import arrow_copy
from ..errors import BadInput, EngineError, Interrupted, QueryFailed, SQLRefused
from ..params import bucket_names
from ..values import byte_size
from .base import Engine, Progress, Rendered, Stream

DEFAULT_CATALOG = "s3tablescatalog/aws-s3"
# The tables S3 Metadata writes per bucket, all in the namespace b_<bucket> ("annotation" since June 2026).
TABLES = ("journal", "inventory", "annotation")
PRICE_PER_TB = 5.0          # USD per TB scanned, standard (non-capacity) pricing
MIN_BILLED_BYTES = 10 * 2**20  # Athena bills at least 10 MB per query, rounded up to whole MB
MAX_PARAMETER_CHARS = 1024  # an ExecutionParameters value is 1-1024 characters
_LEGACY = re.compile(r"[A-Z_]")



def namespace_for(bucket: str) -> str:
    """S3 Metadata's namespace for a bucket: `b_` + the name with dots as underscores.

    Buckets named before 2018 with capitals or underscores, or longer than 63 characters, get a
    truncated, lower-cased name plus a hash suffix that cannot be derived here: pass --namespace.
    """
    if _LEGACY.search(bucket) or len(bucket) > 63:
        raise BadInput(f"bucket {bucket!r} has a legacy name: its S3 Metadata namespace carries a hash "
                       "suffix AWS assigns; pass --namespace (see the table's ARN in the S3 console)")
    return "b_" + bucket.replace(".", "_")


def estimated_cost(scanned_bytes: int | None) -> float:
    """Athena's standard price for a query: $5 per TB, bytes rounded up to whole MB, 10 MB minimum."""
    billed = max(math.ceil((scanned_bytes or 0) / 2**20) * 2**20, MIN_BILLED_BYTES)
    return billed / 2**40 * PRICE_PER_TB


def literal(value: Any) -> str:
    """One Python value as the SQL literal Athena substitutes for a `?`, by PyAthena's formatter."""
    from pyathena.formatter import DefaultParameterFormatter

    return DefaultParameterFormatter().format("%(v)s", {"v": value})


class AthenaEngine(Engine):
    name: ClassVar[str] = "athena"
    paramstyle: ClassVar[str] = "qmark"
    reports_progress: ClassVar[bool] = True
    terminal_states: ClassVar[frozenset[str]] = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

    def __init__(self, buckets: list[str] | str | None = None, namespace: str | None = None,
                 catalog: str = DEFAULT_CATALOG, region: str | None = None, aws_profile: str | None = None,
                 workgroup: str | None = None, output_location: str | None = None,
                 timeout: float | None = None, poll_interval: float = 0.5, progress: Progress | None = None,
                 client: Any = None, s3_client: Any = None):
        for flag, value in (("--namespace", namespace), ("--catalog", catalog), ("--region", region),
                            ("--aws-profile", aws_profile), ("--workgroup", workgroup),
                            ("--output-location", output_location)):
            if value is not None and not str(value).strip():
                raise BadInput(f"{flag}: expected a value, got an empty string")
        if output_location is not None and not output_location.startswith("s3://"):
            raise BadInput(f"--output-location {output_location[:60]!r}: expected an s3:// folder such as "
                           "s3://my-athena-results/s3meta/")
        buckets = bucket_names(buckets)
        if namespace and len(buckets) > 1:
            raise BadInput("--namespace names one bucket's tables; it cannot go with several --bucket")
        if not buckets and not namespace:
            raise BadInput("the Athena engine needs --bucket NAME: the general purpose bucket whose "
                           "S3 Metadata tables to query (or --namespace for a legacy bucket name)")
        self.namespaces = [namespace] if namespace else [namespace_for(b) for b in buckets]
        self.catalog = catalog
        self.region, self.aws_profile = region, aws_profile
        self.workgroup, self.output_location = workgroup, output_location
        self.timeout, self.poll_interval, self.progress = timeout, poll_interval, progress
        self._client, self._s3 = client, s3_client

    # --- AWS clients, created on first use so render() works offline ------------------------------
    def _session(self):
        import botocore.exceptions

        from .. import aws

        try:
            return aws.session(self.aws_profile, self.region)
        except botocore.exceptions.ProfileNotFound:
            raise BadInput(f"AWS profile {self.aws_profile!r} not found in the AWS configuration") from None

    def _clients(self):
        if self._client is None or self._s3 is None:
            from botocore.config import Config

            # Standard retry mode backs off and retries throttling (ThrottlingException,
            # TooManyRequestsException) and transient errors on every call, polling included.
            config = Config(retries={"mode": "standard", "max_attempts": 8}, user_agent_extra="s3meta")
            session = self._session()
            if session.region_name is None:
                raise BadInput("no AWS region: pass --region, set AWS_REGION, or configure the AWS profile")
            self._client = self._client or session.client("athena", config=config)
            self._s3 = self._s3 or session.client("s3", config=config)
        return self._client, self._s3

    # --- rendering ---------------------------------------------------------------------------------
    def bind_value(self, value: Any) -> str:
        text = literal(value)
        if len(text) > MAX_PARAMETER_CHARS:
            raise BadInput(f"a parameter value is {len(text)} characters as an Athena literal; "
                           f"Athena's ExecutionParameters take at most {MAX_PARAMETER_CHARS}")
        return text

    def render(self, sql: str, values: dict[str, Any] | None = None) -> Rendered:
        rendered = super().render(sql, values)
        rendered.context = {"Catalog": self.catalog, "Database": self.namespaces[0]}
        if len(self.namespaces) > 1:
            rendered.sql = self._union_tables(rendered.sql)
            rendered.context = {"Catalog": self.catalog}
        return rendered

    def qualified(self, namespace: str, table: str) -> str:
        return f'"{self.catalog}"."{namespace}"."{table}"'

    def _union_tables(self, sql: str) -> str:
        import sqlglot
        from sqlglot import exp

        def union(table: str, alias: str) -> exp.Expression:
            text = " UNION ALL ".join(f"SELECT * FROM {self.qualified(ns, table)}" for ns in self.namespaces)
            return exp.Subquery(this=sqlglot.parse_one(text, read="athena"),
                                alias=exp.TableAlias(this=exp.to_identifier(alias)))

        def rewrite(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and not node.args.get("db") and node.name in TABLES:
                return union(node.name, node.alias or node.name)
            return node

        try:
            with _quiet_parser():
                tree = sqlglot.parse_one(sql, read="athena")
        except sqlglot.errors.ParseError as exc:
            raise SQLRefused(f"invalid SQL for Athena: {str(exc).splitlines()[0]}") from exc
        return tree.transform(rewrite).sql("athena")

    def tables_present(self, stats: list[dict[str, Any]] | None = None) -> tuple[str, ...]:
        """The S3 Metadata tables found in every bucket's namespace (a union needs them all), as
        the catalog's information_schema lists them; the namespaces travel as bound values."""
        names = {f"namespace{i}": ns for i, ns in enumerate(self.namespaces)}
        listing = self.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ("
                               + ", ".join(":" + n for n in names) + ")", names)
        if stats is not None:
            stats.append(listing.stats)  # a billed query too
        pairs = {(row["table_schema"], row["table_name"]) for row in listing.table.to_pylist()}
        return tuple(t for t in TABLES if all((ns, t) in pairs for ns in self.namespaces))

    # --- read-only check ---------------------------------------------------------------------------
    def _statements(self, sql: str) -> list[tuple[str, str]]:
        import sqlglot
        from sqlglot import exp

        try:
            with _quiet_parser():
                trees = [t for t in sqlglot.parse(sql, read="athena") if t is not None]
        except sqlglot.errors.ParseError as exc:
            raise SQLRefused(f"invalid SQL: {str(exc).splitlines()[0]}") from exc
        kinds = []
        for tree in trees:
            if isinstance(tree, (exp.Query, exp.Describe, exp.Values)):  # Trino's VALUES is a query
                kind = "SELECT"
            elif isinstance(tree, exp.Command) and tree.name.upper() in ("SHOW", "EXPLAIN"):
                kind = "EXPLAIN" if tree.name.upper() == "EXPLAIN" else "SELECT"
            else:
                kind = tree.key.upper()
            kinds.append((kind, tree.sql("athena")))
        return kinds

    # --- running -----------------------------------------------------------------------------------
    def _stream(self, rendered: Rendered) -> Stream:
        client, s3 = self._clients()
        request: dict[str, Any] = {"QueryString": rendered.sql, "QueryExecutionContext": rendered.context,
                                   "ClientRequestToken": str(uuid.uuid4())}
        if rendered.parameters:
            request["ExecutionParameters"] = rendered.parameters
        if self.workgroup:
            request["WorkGroup"] = self.workgroup
        if self.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.output_location}
        with _aws_errors():
            query_id = client.start_query_execution(**request)["QueryExecutionId"]
            execution = self._wait(client, query_id)
            return self._fetch(client, s3, execution)

    def _wait(self, client: Any, query_id: str) -> dict:
        started = time.monotonic()
        delay = self.poll_interval
        try:
            while True:
                execution = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
                state = execution["Status"]["State"]
                elapsed = time.monotonic() - started
                if self.progress:
                    scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
                    self.progress(state, elapsed, f"{byte_size(scanned)} scanned" if scanned else None)
                if state in self.terminal_states:
                    break
                if self.timeout is not None and elapsed >= self.timeout:
                    raise QueryFailed(f"Athena query {query_id} timed out after {self.timeout:g} s and "
                                      f"{self._stop(client, query_id)}", query_id=query_id)
                time.sleep(delay)
                delay = min(delay * 1.5, 5.0)  # quick answers stay quick; long ones poll less
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP as errors.Terminated
            raise Interrupted.by(exc, f"Athena query {query_id} {self._stop(client, query_id)}") from None
        if state != "SUCCEEDED":
            status = execution["Status"]
            error = status.get("AthenaError", {})
            reason = status.get("StateChangeReason") or error.get("ErrorMessage") or "no reason given"
            category = {1: "SYSTEM", 2: "USER", 3: "OTHER"}.get(error.get("ErrorCategory"), "unknown")
            detail = f"error category {category}" + (f", type {error['ErrorType']}" if "ErrorType" in error else "")
            raise QueryFailed(f"Athena query {query_id} {state}: {reason} ({detail})",
                              user_error=error.get("ErrorCategory") == 2, query_id=query_id)
        return execution

    @staticmethod
    def _stop(client: Any, query_id: str) -> str:
        """Stop the query in Athena (it would run on, and bill, without the client); say how that went."""
        import botocore.exceptions

        try:
            client.stop_query_execution(QueryExecutionId=query_id)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            return f"could NOT be stopped in Athena ({exc}); stop it in the console"
        except KeyboardInterrupt:  # a second Ctrl-C while stopping
            return "may still run in Athena: a second interrupt cut the stop request short"
        return "was stopped in Athena"

    def _stats(self, execution: dict) -> dict[str, Any]:
        statistics = execution.get("Statistics", {})
        scanned = statistics.get("DataScannedInBytes")
        return {
            "query_execution_id": execution["QueryExecutionId"],
            "data_scanned_bytes": scanned,
            "engine_ms": statistics.get("EngineExecutionTimeInMillis"),
            "queue_ms": statistics.get("QueryQueueTimeInMillis"),
            "total_ms": statistics.get("TotalExecutionTimeInMillis"),
            "cost_usd": estimated_cost(scanned),
        }

    def _fetch(self, client: Any, s3: Any, execution: dict) -> Stream:
        """The answer from the CSV result file Athena writes, parsed block by block as it downloads.

        One GET, not row paging; memory holds a few blocks whatever the answer's size.
        """
        first = client.get_query_results(QueryExecutionId=execution["QueryExecutionId"], MaxResults=1)
        columns = first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        location = execution.get("ResultConfiguration", {}).get("OutputLocation", "")
        stats = self._stats(execution)
        if not columns:
            return Stream.of(pa.table({}), stats)
        if not location.endswith(".csv"):  # DDL and utility statements write text, not CSV
            return Stream.of(self._paged(client, execution["QueryExecutionId"], columns), stats)
        bucket, _, key = location.removeprefix("s3://").partition("/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        return Stream(schema_of(columns), _guarded(csv_batches(body, columns), location), stats,
                      on_close=body.close)

    def _paged(self, client: Any, query_id: str, columns: list[dict]) -> pa.Table:
        rows: list[list[str | None]] = []
        for page in client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            for row in page["ResultSet"]["Rows"]:
                rows.append([d.get("VarCharValue") for d in row["Data"]])
        if rows and rows[0] == [c["Name"] for c in columns]:
            rows = rows[1:]
        strings = {c["Name"]: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)}
        return convert(pa.table(strings), columns)


@contextlib.contextmanager
def _aws_errors() -> Iterator[None]:
    """AWS's errors as the toolkit's; refused requests the user can fix exit 2."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.NoCredentialsError:
        raise BadInput("no AWS credentials found (the default chain: environment, AWS_PROFILE, "
                       "~/.aws, instance or container role)") from None
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", str(exc))
        user = code in ("InvalidRequestException", "AccessDeniedException", "ResourceNotFoundException",
                        "NoSuchBucket", "AccessDenied", "UnrecognizedClientException")
        raise QueryFailed(f"Athena refused the request: {code}: {message}", user_error=user) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise EngineError(f"cannot reach Athena: {exc}") from exc


def _guarded(batches: Iterator[pa.RecordBatch], location: str) -> Iterator[pa.RecordBatch]:
    """The result file's batches, with a broken download or a malformed file as one clear error."""
    try:
        with _aws_errors():
            yield from batches
    except pa.ArrowException as exc:
        raise EngineError(f"cannot read Athena's result file {location}: {str(exc).splitlines()[0]}") from exc


@contextlib.contextmanager
def _quiet_parser() -> Iterator[None]:
    """sqlglot logs a warning for every statement it parses as an opaque Command (SHOW, EXPLAIN,
    UNLOAD, ...); here that is expected, since those statements are classed by their keyword, so
    the warning would only put a second, misleading line beside the answer or the refusal."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# --- Athena's CSV results, typed ----------------------------------------------------------------------

# Result file bytes read from S3 at a time; each whole-record piece of them is parsed as one batch.
CSV_BLOCK_BYTES = 1 << 20


def csv_batches(source: Any, columns: list[dict]) -> Iterator[pa.RecordBatch]:
    """Athena's result CSV (header row, every value quoted, NULL as an empty unquoted field) from a
    file-like object (an S3 GET's body), typed by its ColumnInfo, one block at a time.

    The blocks are read here, on the calling thread, and each piece that ends on a whole record is
    handed to Arrow as Arrow-owned memory and parsed without threads. pyarrow's own streaming reader,
    given the Python object, reads and releases it on Arrow's worker threads, and a worker that needs
    the GIL while the interpreter exits aborts the process (see analytics/buffers.py).
    """
    import pyarrow.csv as pacsv

    placeholders = [f"c{i}" for i in range(len(columns))]
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in placeholders},
        strings_can_be_null=True, quoted_strings_can_be_null=False, null_values=[""])
    pending, header = b"", True
    while True:
        block = source.read(CSV_BLOCK_BYTES)
        pending += block
        end = _records_end(pending) if block else len(pending)
        piece, pending = pending[:end], pending[end:]
        if piece:
            read = pacsv.ReadOptions(column_names=placeholders, skip_rows=int(header), use_threads=False,
                                     block_size=max(CSV_BLOCK_BYTES, len(piece)))
            header = False
            for batch in pacsv.read_csv(arrow_copy(piece), read_options=read, parse_options=parse,
                                        convert_options=convert_options).to_batches():
                yield convert(batch, columns)
        if not block:
            return


def _records_end(data: bytes) -> int:
    """Length of the longest prefix of `data` (which starts at a record) that ends with a whole record.

    Every value is quoted, with quotes inside doubled, so a newline ends a record exactly when an
    even number of quotes precede it; walking back from the end counts each quote once.
    """
    quotes, end = data.count(b'"'), len(data)
    while (newline := data.rfind(b"\n", 0, end)) >= 0:
        quotes -= data.count(b'"', newline, end)
        if quotes % 2 == 0:
            return newline + 1
        end = newline
    return 0


_INTEGER = {"bigint", "integer", "int", "smallint", "tinyint"}
_FLOAT = {"double", "float", "real"}
_TYPES = {"boolean": pa.bool_(), "timestamp": pa.timestamp("us"), "date": pa.date32()}
STRING_MAP = pa.map_(pa.string(), pa.string())


def _arrow_type(athena_type: str) -> pa.DataType:
    kind = athena_type.lower()
    if kind in _INTEGER:
        return pa.int64()
    if kind in _FLOAT:
        return pa.float64()
    if kind.startswith("map"):
        return STRING_MAP
    return _TYPES.get(kind, pa.string())


def schema_of(columns: list[dict]) -> pa.Schema:
    """The Arrow schema of a result, from Athena's ColumnInfo."""
    return pa.schema([(c["Name"], _arrow_type(c["Type"])) for c in columns])


def convert(strings: pa.Table | pa.RecordBatch, columns: list[dict]) -> pa.RecordBatch | pa.Table:
    """String columns typed by Athena's ColumnInfo types (a table or one batch of it)."""
    arrays = []
    for column, field in zip(strings.columns, schema_of(columns), strict=True):
        if field.type == STRING_MAP:
            arrays.append(_maps(column))
        elif field.type != pa.string():
            arrays.append(pc.cast(column, field.type))
        else:
            arrays.append(column)
    return type(strings).from_arrays(arrays, schema=schema_of(columns))


_MAP_ENTRY = r"(?s)^(?P<key>[^=]*)(?:=(?P<value>.*))?$"  # split at the first "=": no "=" means value ""


def _maps(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Athena's text form of maps, {k1=v1, k2=v2}, as map<string,string> (`null` as a NULL value).

    The form cannot tell a ", " or "=" inside a key or value from the separators: entries are split
    at each ", ", and each entry at its first "=".
    """
    if isinstance(texts, pa.ChunkedArray):
        return pa.chunked_array([_maps(chunk) for chunk in texts.chunks], STRING_MAP)
    trimmed = pc.utf8_trim_whitespace(texts)
    braced = pc.and_(pc.starts_with(trimmed, "{"), pc.ends_with(trimmed, "}"))
    inner = pc.if_else(braced, pc.utf8_slice_codeunits(trimmed, 1, -1), trimmed)
    empty = pc.equal(inner, "")
    pieces = pc.split_pattern(inner, ", ")
    # An empty map's one piece is "": dropped, so that {} stays an empty map.
    counts = pc.if_else(empty, 0, pc.list_value_length(pieces))
    kept = pc.invert(pc.take(empty, pc.list_parent_indices(pieces)))
    entries = pc.extract_regex(pc.filter(pc.list_flatten(pieces), kept), _MAP_ENTRY)
    keys, values = pc.struct_field(entries, "key"), pc.struct_field(entries, "value")
    values = pc.if_else(pc.equal(values, "null"), pa.scalar(None, pa.string()), values)
    offsets = pc.cumulative_sum(pc.fill_null(counts, 0))
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cast(offsets, pa.int32())])
    return pa.MapArray.from_arrays(offsets, keys, values, type=STRING_MAP, mask=pc.is_null(texts))


__all__ = ["AthenaEngine", "csv_batches", "estimated_cost", "literal", "namespace_for", "schema_of"]
