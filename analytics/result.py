"""A query's result: Arrow data plus what produced it, shown compactly in notebooks."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .values import display

if TYPE_CHECKING:  # pandas is imported only when a DataFrame is asked for
    import pandas as pd

HTML_ROWS = 20
REPR_ROWS = 20


@dataclass
class Result:
    """Rows as an Arrow table, with the query, bound parameters, statement and run statistics."""

    table: pa.Table
    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    query: str | None = None  # the catalog name; None for ad-hoc SQL

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
        return self.table.column_names

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        """A text table fitted to the terminal, as IPython's terminal and the REPL show a result."""
        import shutil

        from .output import text_table

        label = self.query or "sql"
        width = shutil.get_terminal_size((100, 24)).columns
        table = text_table(self.table, REPR_ROWS, width, more=".df() or .arrow() for all")
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
