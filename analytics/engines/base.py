"""The engine seam: the plumbing every engine shares, and the two methods an engine implements.

An engine knows how to run one statement with bound parameters and return its answer as a stream
of Arrow record batches, and how to tell a read-only statement from anything else. Everything else
(placeholder rendering, timing, statistics, reading a stream into a table) lives here once. Engines
know nothing of the catalog: they receive SQL text with `:name` placeholders and a dict of
already-coerced values.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Iterator

import pyarrow as pa

from ..sqltext import ACTS_WHILE_PARSED, READ_ONLY_KEYWORDS, leading_keyword, placeholders, strip_leading, substitute


# A long query's progress, for a terminal: state (QUEUED or RUNNING, then SUCCEEDED, FAILED or
# CANCELLED), seconds elapsed, and what the engine can say of the work done, for display ("1.20 GB
# scanned" on Athena, "42% done" from DuckDB's estimate), None when it has nothing to say.
Progress = Callable[[str, float, "str | None"], None]


@dataclass
class Rendered:
    """A statement exactly as the engine will run it: text, and the values its driver binds."""

    sql: str
    parameters: Any  # dict for named styles, list for positional ones; None when there are none
    context: dict[str, str] | None = None  # where unqualified table names resolve (Athena's context)


@dataclass
class Execution:
    """One statement's whole answer, in memory."""

    table: pa.Table
    stats: dict[str, Any] = field(default_factory=dict)


class Stream:
    """One statement's answer as Arrow record batches, read once, front to back.

    Nothing is held beyond the batch being read, so an answer of any size costs the memory of a few
    batches. Statistics fill in as it is read: `rows` so far, and `elapsed_seconds` (from the start of
    the statement) once the last batch is read; `exhausted` tells the two apart.
    """

    def __init__(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch], stats: dict[str, Any] | None = None,
                 on_close: Callable[[], None] | None = None):
        self.schema = schema
        self.stats: dict[str, Any] = stats if stats is not None else {}
        self.stats["rows"] = 0
        self.exhausted = False
        self._batches = iter(batches)
        self._on_close = on_close
        self.started = time.perf_counter()

    @classmethod
    def of(cls, table: pa.Table, stats: dict[str, Any] | None = None) -> "Stream":
        """A table already in memory, as a stream."""
        return cls(table.schema, table.to_batches(), stats)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        try:
            batch = next(self._batches)
        except StopIteration:
            if not self.exhausted:
                self.exhausted = True
                self.stats["elapsed_seconds"] = round(time.perf_counter() - self.started, 6)
                self.close()
            raise
        self.stats["rows"] += batch.num_rows
        return batch

    def read_all(self) -> pa.Table:
        """The rest of the answer as one table."""
        return pa.Table.from_batches(list(self), self.schema)

    def close(self) -> None:
        """Release what the engine holds for this answer (a connection's pending result, an HTTP body)."""
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


class Engine:
    """Base class. Subclasses set `name` and `paramstyle` and implement `_stream` and `_statements`."""

    name: ClassVar[str] = "base"
    # Whether the engine takes a `progress` callback (see Progress); connect() hands an interactive
    # caller's callback only to engines that do.
    reports_progress: ClassVar[bool] = False
    # "named": `:x` becomes `$x` and values bind from a dict (DuckDB).
    # "qmark": `:x` becomes `?` and values bind in order of appearance (Athena ExecutionParameters).
    paramstyle: ClassVar[str] = "named"
    # What the engine has to say about how it read its data (which inventory report configuration it
    # took, a field it did not know), for the CLI to print on stderr: library code never prints.
    notes: tuple[str, ...] = ()

    # --- what an engine implements -------------------------------------------------------------
    def _stream(self, rendered: Rendered) -> Stream:
        """Run one statement; its answer as a Stream whose batches raise the toolkit's errors."""
        raise NotImplementedError

    def _statements(self, sql: str) -> list[tuple[str, str]]:
        """Split ad-hoc SQL into (statement kind, text) with the engine's own parser.

        Kinds are upper-case names such as SELECT, EXPLAIN, COPY. Raises SQLRefused on a syntax error.
        """
        raise NotImplementedError

    def tables_present(self, stats: list[dict[str, Any]] | None = None) -> tuple[str, ...]:
        """The tables this engine can read now (journal, inventory, annotation, ...), for `s3meta info`;
        the statistics of any statement it ran to find out are appended to `stats` (for the cost)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the engine's connection."""

    # --- shared plumbing -------------------------------------------------------------------------
    def render(self, sql: str, values: dict[str, Any] | None = None) -> Rendered:
        """The statement with placeholders in this engine's style, and the values to bind."""
        values = values or {}
        order = placeholders(sql)
        if not order:
            return Rendered(sql, None)
        if self.paramstyle == "named":
            return Rendered(self._marked(sql), {name: values[name] for name in order})
        return Rendered(self._marked(sql), [self.bind_value(values[n]) for n in order])

    def _marked(self, sql: str) -> str:
        """`:name` placeholders in the driver's style: `$name` (named) or `?` (qmark)."""
        return substitute(sql, (lambda name: "$" + name) if self.paramstyle == "named" else (lambda name: "?"))

    def bind_value(self, value: Any) -> Any:
        """How one Python value is handed to the driver (positional engines override this)."""
        return value

    def stream(self, sql: str, values: dict[str, Any] | None = None) -> Stream:
        """Run one statement; its answer to be read batch by batch, before the engine runs another.

        Statistics hold the engine name, and the row count and elapsed seconds once it is read.
        """
        rendered = self.render(sql, values)
        started = time.perf_counter()
        stream = self._stream(rendered)
        stream.started = started
        stream.stats.setdefault("engine", self.name)
        return stream

    def execute(self, sql: str, values: dict[str, Any] | None = None) -> Execution:
        """Run one statement and read its whole answer into memory."""
        stream = self.stream(sql, values)
        return Execution(stream.read_all(), stream.stats)

    def check_read_only(self, sql: str) -> str:
        """The single statement in `sql` if it is a read-only query; SQLRefused otherwise."""
        from ..errors import SQLRefused

        text = sql.strip().rstrip(";").rstrip()
        # The keyword is read from the user's own text, and first: a parser may hand back a rewrite
        # (DuckDB turns `PRAGMA version` into a SELECT from pragma_version()), and may even act while
        # parsing (DuckDB's IMPORT DATABASE reads the files it names).
        first = leading_keyword(text)
        if not first and not strip_leading(text):
            raise SQLRefused("no SQL statement given")
        if first in ACTS_WHILE_PARSED:
            raise SQLRefused(f"refused: {first} is not a read-only query; ad-hoc SQL may only be "
                             "SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW or SUMMARIZE")
        # Parsed with placeholders as the driver will see them: `:since` is no syntax of either engine.
        statements = self._statements(self._marked(sql))  # a typo ends here, as a syntax error
        if first not in READ_ONLY_KEYWORDS:
            raise SQLRefused(f"refused: {first or 'this'} is not a read-only query; ad-hoc SQL may only be "
                             "SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW or SUMMARIZE")
        if len(statements) > 1:
            raise SQLRefused(f"refused: {len(statements)} statements given; ad-hoc SQL runs one query at a time")
        if not statements or statements[0][0] not in ("SELECT", "EXPLAIN"):
            kind = statements[0][0] if statements else "this"
            raise SQLRefused(f"refused: {kind} is not a read-only query; ad-hoc SQL may only be "
                             "SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW or SUMMARIZE")
        if first == "EXPLAIN":
            # EXPLAIN ANALYZE runs its statement, so what follows EXPLAIN must pass the same check.
            inner = re.sub(r"^\s*EXPLAIN\s+(ANALY[SZ]E\s+)?", "", strip_leading(text), flags=re.I)
            self.check_read_only(inner)
        return text
