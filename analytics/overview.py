"""What a data set holds: its tables, the journal's time range, buckets and records by type.

`s3meta info` and `Session.info()` print it so a user can pick a window before the first query.
The statements are plain SQL that Athena and DuckDB both run, and they go through the engine seam
like any other query (on Athena each is a billed query: one per table present, and one for the list
of tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .engines.base import Engine
from .values import jsonable

# One statement per table; the journal's gives the time range and the records by type at once.
STATEMENTS = {
    "journal": "SELECT bucket, record_type, count(*) AS records, min(record_timestamp) AS first_record, "
               "max(record_timestamp) AS last_record FROM journal GROUP BY bucket, record_type",
    "inventory": "SELECT bucket, count(*) AS records FROM inventory GROUP BY bucket",
    "annotation": "SELECT bucket, count(*) AS records FROM annotation GROUP BY bucket",
}


@dataclass
class Overview:
    """Tables present; first and last journal record (naive UTC); rows per table and bucket."""

    engine: str
    tables: tuple[str, ...]
    first_record: datetime | None = None
    last_record: datetime | None = None
    record_types: dict[str, int] = field(default_factory=dict)  # journal records by record_type
    buckets: dict[str, dict[str, int]] = field(default_factory=dict)  # bucket -> table -> rows
    stats: list[dict[str, Any]] = field(default_factory=list)  # one per statement run

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"engine": self.engine, "tables": list(self.tables), "first_record": self.first_record,
                         "last_record": self.last_record, "record_types": self.record_types,
                         "buckets": self.buckets})

    def text(self) -> str:
        lines = [f"engine:  {self.engine}", f"tables:  {', '.join(self.tables) or 'none'}"]
        if self.first_record is not None:
            lines.append(f"journal: {self.first_record.isoformat()} to {self.last_record.isoformat()} "  # type: ignore[union-attr]
                         "(UTC; first and last record)")
            total = sum(self.record_types.values())
            lines.append(f"records: {total:,} in the journal: " + ", ".join(
                f"{kind} {n:,}" for kind, n in sorted(self.record_types.items(), key=lambda kv: -kv[1])))
        elif "journal" in self.tables:
            lines.append("journal: empty")
        if self.buckets:
            shown = [t for t in STATEMENTS if t in self.tables]
            width = max(len(b) for b in [*self.buckets, "bucket"])
            lines.append("rows by bucket:")
            lines.append(f"  {'bucket'.ljust(width)}" + "".join(f"{t:>12}" for t in shown))
            for bucket, counts in sorted(self.buckets.items()):
                lines.append(f"  {bucket.ljust(width)}" + "".join(f"{counts.get(t, 0):>12,}" for t in shown))
        if self.first_record is not None and self.last_record is not None:
            since = self.first_record.replace(microsecond=0)
            until = self.last_record.replace(microsecond=0) + timedelta(seconds=1)
            lines.append(f"the whole journal: -p since={since.isoformat()} -p until={until.isoformat()}")
        return "\n".join(lines)

    def __repr__(self) -> str:  # what a notebook or the REPL shows
        return self.text()


def collect(engine: Engine) -> Overview:
    """Run the overview's statements on `engine`, for the tables it has."""
    stats: list[dict[str, Any]] = []
    tables = engine.tables_present(stats)
    overview = Overview(engine.name, tables, stats=stats)
    for table, sql in STATEMENTS.items():
        if table not in tables:
            continue
        execution = engine.execute(sql)
        overview.stats.append(execution.stats)
        for row in execution.table.to_pylist():
            bucket = row["bucket"] if row["bucket"] is not None else "(no bucket)"
            counts = overview.buckets.setdefault(bucket, {})
            counts[table] = counts.get(table, 0) + row["records"]
            if table == "journal":
                kind = row["record_type"] or "(none)"
                overview.record_types[kind] = overview.record_types.get(kind, 0) + row["records"]
                overview.first_record = _earliest(overview.first_record, row["first_record"])
                overview.last_record = _latest(overview.last_record, row["last_record"])
    return overview


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


__all__ = ["Overview", "STATEMENTS", "collect"]
