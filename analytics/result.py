"""A query's result: Arrow data plus what produced it, shown compactly in notebooks."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .values import display

if TYPE_CHECKING:  # pandas is imported only when a DataFrame is asked for
    import pandas as pd

    from .engines.base import Stream

HTML_ROWS = 20
REPR_ROWS = 20


class Result:
    """Rows as Arrow, with the query, bound parameters, statement and run statistics.

    A result holds its rows in memory (`table`), or, from `Session.run(..., stream=True)`, a stream
    of record batches that `batches()` hands on once, so that an answer of any size can be written
    out without being held. `table`, `arrow()`, `df()` and `rows()` read a streamed answer into memory.
    """

    def __init__(self, answer: pa.Table | "Stream", sql: str, params: dict[str, Any] | None = None,
                 stats: dict[str, Any] | None = None, query: str | None = None):
        self._table = answer if isinstance(answer, pa.Table) else None
        self._stream = None if isinstance(answer, pa.Table) else answer
        self.sql = sql
        self.params = params if params is not None else {}
        self.stats = stats if stats is not None else {}
        self.query = query  # the catalog name; None for ad-hoc SQL

    @property
    def table(self) -> pa.Table:
        if self._table is None:
            stream = self._stream
            if stream is None:
                raise RuntimeError("this streamed result was already read by batches()")
            self._table, self._stream = stream.read_all(), None
        return self._table

    @property
    def schema(self) -> pa.Schema:
        return self._table.schema if self._table is not None else self._stream.schema

    def batches(self) -> pa.RecordBatchReader:
        """The rows as a stream of record batches, read once: streamed when not already in memory."""
        if self._table is not None:
            return pa.RecordBatchReader.from_batches(self._table.schema, self._table.to_batches())
        stream, self._stream = self._stream, None
        if stream is None:
            raise RuntimeError("this streamed result was already read by batches()")
        return pa.RecordBatchReader.from_batches(stream.schema, stream)

    def arrow(self) -> pa.Table:
        return self.table

    def df(self) -> "pd.DataFrame":
        # Maps (object_tags, user_metadata) become dicts rather than lists of pairs.
        return self.table.to_pandas(maps_as_pydicts="strict")

    def rows(self) -> list[dict[str, Any]]:
        """Rows as dicts, maps as dicts, NULL as None."""
        from .values import python_rows
        return python_rows(self.table)

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        """A text table fitted to the terminal, as IPython's terminal and the REPL show a result."""
        import shutil

        from .output import head, text_table

        label = self.query or "sql"
        width = shutil.get_terminal_size((100, 24)).columns
        table = text_table(head(self.table, REPR_ROWS), width, more=".df() or .arrow() for all")
        return f"{label}: {self.table.num_rows} rows x {self.table.num_columns} columns\n{table}".rstrip("\n")

    def _repr_html_(self) -> str:
        shown = self.table.slice(0, HTML_ROWS)
        head = "".join(f"<th>{html.escape(name)}</th>" for name in self.table.column_names)
        body = []
        for row in shown.to_pylist(maps_as_pydicts="strict"):
            cells = "".join(f"<td>{html.escape(display(v, width=80))}</td>" for v in row.values())
            body.append(f"<tr>{cells}</tr>")
        n = self.table.num_rows
        caption = f"{n} row{'s' if n != 1 else ''}"
        if n > HTML_ROWS:
            caption += f", showing the first {HTML_ROWS} (use .df() or .arrow() for all)"
        label = html.escape(self.query or "sql")
        return (f"<div class='s3meta-result'><p><b>{label}</b>: {html.escape(caption)}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
