"""User detections as SQL files: a catalog query, plus the finding the report makes of each row.

A rule file is a catalog query file (analytics.catalog) with four more header directives:

    -- Deletes under a legal-hold prefix.
    --
    -- @severity critical
    -- @title {deletes} deletes under {prefix} by {requester} from {source_ip_address}
    -- @runbook Confirm the legal hold still applies; restore with s3meta restore-plan.
    -- @fingerprint bucket, prefix, requester, source_ip_address
    -- @param since timestamp = 24h: start of the window
    -- @param until timestamp = now: end of the window
    SELECT ... FROM journal WHERE record_timestamp >= :since AND record_timestamp < :until ...

Rules take only `since` and `until` (bound to the report's window) and `bucket` (bound to its
default: NULL, every bucket, unless the file names one). `@title` is a template over the row's
columns (`{column}`); `@fingerprint` names the columns that identify a finding, so rows that share
them are one finding and a finding seen again is not new (the report state). Everything is checked
when the rules load, before any query runs: the header, the severity, the parameters, and every
column `@title` and `@fingerprint` name, against the result columns read from the SQL itself
(sqlglot, with the journal and inventory schemas for `SELECT *`). A rule must be one SELECT.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import catalog as _catalog
from .. import sqltext
from ..catalog import Query
from ..detectors import SEVERITIES, Finding
from ..errors import CatalogError, S3MetaError
from ..values import display

DIRECTIVES = ("severity", "title", "runbook", "fingerprint")
PARAMETERS = {"since": "timestamp", "until": "timestamp", "bucket": "bucket"}
# Columns a finding's times are read from, in order; a row with none of them is dated at the window's end.
TIME_COLUMNS = (("first_seen", "last_seen"), ("record_timestamp", "record_timestamp"))
_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
_TITLE_WIDTH = 200  # characters of one column value in a title


@dataclass(frozen=True)
class Rule:
    """One loaded rule: its query, and how a result row becomes a finding."""

    query: Query
    severity: str
    title: str  # template: {column} fields only
    runbook: str
    fingerprint: tuple[str, ...]
    columns: tuple[str, ...]  # the query's result columns, lower-case

    @property
    def name(self) -> str:
        return self.query.name

    @property
    def detector(self) -> str:
        """The name findings carry: `rule:` and the file's stem, never a built-in detector's name."""
        return f"rule:{self.name}"

    def title_of(self, row: dict[str, Any]) -> str:
        # Values are made one line (control characters escaped) here; HTML and Markdown escape them
        # where they are rendered.
        return _FORMATTER.vformat(self.title, (), {k: display(v, _TITLE_WIDTH) for k, v in row.items()})


_FORMATTER = string.Formatter()


def load(folders: str | os.PathLike | Iterable[str | os.PathLike]) -> tuple[Rule, ...]:
    """Every NAME.sql in the folders, checked; CatalogError (exit 2) names the file and what is wrong."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    rules: dict[str, Rule] = {}
    for folder in map(Path, folders):
        folder = folder.expanduser()
        if not folder.is_dir():
            raise CatalogError(f"rules folder not found: {folder}")
        files = sorted(folder.glob("*.sql"))
        if not files:
            raise CatalogError(f"no rule files (*.sql) in {folder}")
        for path in files:
            rule = parse(path)
            if rule.name in rules:
                raise CatalogError(f"{path}: a rule named {rule.name!r} is already loaded from "
                                   f"{rules[rule.name].query.path}")
            rules[rule.name] = rule
    return tuple(rules.values())


def parse(path: Path) -> Rule:
    """One rule file as a Rule; CatalogError naming the file on any fault."""
    try:
        query = _catalog.parse(path, directives=DIRECTIVES)
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read rule file {path}: {getattr(exc, 'strerror', None) or exc}") from exc

    def bad(message: str) -> CatalogError:
        return CatalogError(f"{path.name}: {message}")

    found = dict(query.directives)
    missing = [d for d in DIRECTIVES if not found.get(d)]
    if missing:
        raise bad(f"a rule needs @{missing[0]} (it has {', '.join('@' + d for d in found) or 'none of them'}; "
                  f"needed: {', '.join('@' + d for d in DIRECTIVES)})")
    severity = found["severity"].strip()
    if severity not in SEVERITIES:
        raise bad(f"@severity must be one of {', '.join(SEVERITIES)} (got {severity!r})")
    for p in query.params:
        if p.name not in PARAMETERS:
            raise bad(f"rules take only since, until and bucket (got parameter {p.name!r})")
        if p.type != PARAMETERS[p.name]:
            raise bad(f"parameter {p.name!r} must have type {PARAMETERS[p.name]} (got {p.type})")
        if p.name == "bucket" and p.required:
            raise bad("parameter 'bucket' needs a default: '= null' for every bucket, or a bucket name")
    columns = result_columns(query.sql, bad)
    title = found["title"].strip()
    fingerprint = tuple(c.strip().lower() for c in found["fingerprint"].split(","))
    _check_columns("@title", _title_fields(title, bad), columns, bad)
    if not all(fingerprint):
        raise bad(f"@fingerprint must list column names separated by commas (got {found['fingerprint']!r})")
    _check_columns("@fingerprint", fingerprint, columns, bad)
    return Rule(query, severity, title, found["runbook"].strip(), fingerprint, columns)


def _title_fields(template: str, bad: Callable[[str], CatalogError]) -> list[str]:
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise bad(f"@title is not a valid template ({exc}); write {{column}} for a value, {{{{ for a brace") from exc
    fields = []
    for _, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        if spec or conversion or not _COLUMN.match(field_name):
            raise bad(f"@title fields are plain column names such as {{key}} (got {{{field_name}"
                      f"{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}})")
        fields.append(field_name)
    return fields


def _check_columns(directive: str, names: Iterable[str], columns: tuple[str, ...],
                   bad: Callable[[str], CatalogError]) -> None:
    for name in names:
        if name not in columns:
            raise bad(f"{directive} names column {name!r}, which the query does not return "
                      f"(columns: {', '.join(columns)})")


def result_columns(sql: str, bad: Callable[[str], CatalogError]) -> tuple[str, ...]:
    """The names of the columns `sql` returns, read from the SQL (Athena's dialect, which the catalog's
    queries are written in); a `*` is expanded from the journal and inventory schemas."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify

    text = sqltext.substitute(sql, lambda name: "?")
    try:
        trees = [t for t in sqlglot.parse(text, read="athena") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise bad(f"invalid SQL: {str(exc).splitlines()[0]}") from exc
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        raise bad("a rule is one SELECT (or WITH ... SELECT) query")
    tree = trees[0]
    for placeholder in tree.find_all(exp.Placeholder):
        if placeholder.find_ancestor(exp.Where) is None:
            raise bad("a parameter may only appear in a WHERE clause (Athena binds execution parameters there)")
    names = tree.named_selects
    if "*" in names or any(isinstance(s, exp.Star) or s.is_star for s in tree.selects):
        try:
            names = qualify(tree.copy(), schema=_schemas(), dialect="athena", validate_qualify_columns=False,
                            identify=False).named_selects
        except sqlglot.errors.SqlglotError as exc:
            raise bad(f"cannot tell the columns of SELECT *: {str(exc).splitlines()[0]}; name them") from exc
    if not names or "*" in names or "" in names:
        raise bad("name every result column (SELECT * over a table without a known schema, or an unnamed "
                  "expression: add AS name)")
    return tuple(n.lower() for n in names)


def _schemas() -> dict[str, dict[str, str]]:
    from .. import inventory_report, schema

    tables = {**schema.TABLES, "inventory_report": inventory_report.REPORT}
    return {table: {f.name: "VARCHAR" for f in arrow} for table, arrow in tables.items()}


# --- running -------------------------------------------------------------------------------------------

def findings(rules: Iterable[Rule], query: Callable[[Query, dict[str, Any]], list[dict[str, Any]]],
             window: dict[str, datetime]) -> list[Finding]:
    """Each rule over the window; `query(rule.query, values)` runs one and returns its rows as dicts."""
    found: list[Finding] = []
    for rule in rules:
        declared = {p.name for p in rule.query.params}
        values = {k: window[k] for k in ("since", "until") if k in declared}
        try:
            rows = [{k.lower(): v for k, v in row.items()} for row in query(rule.query, values)]
        except S3MetaError as exc:
            # Say which rule failed (a missing table, Athena's reason); the error keeps its class, and so
            # its exit code.
            exc.args = (f"rule {rule.name!r}: {exc}", *exc.args[1:])
            raise
        found.extend(to_findings(rule, rows, window["until"]))
    return found


def to_findings(rule: Rule, rows: list[dict[str, Any]], until: datetime) -> list[Finding]:
    """Rows that share the fingerprint columns are one finding: the first row's facts, and how many rows."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        missing = [c for c in rule.fingerprint if c not in row]
        if missing:  # the engine returned other columns than the SQL reads as: say which
            raise CatalogError(f"rule {rule.name!r}: the query returned no column {missing[0]!r} "
                               f"(columns: {', '.join(row)})")
        groups.setdefault(tuple(row[c] for c in rule.fingerprint), []).append(row)
    out = []
    for subject, group in groups.items():
        first = group[0]
        times = [t for r in group for t in _times(r)]
        evidence = dict(first)
        if len(group) > 1:
            evidence["matching_rows"] = len(group)
        out.append(Finding(rule.detector, rule.severity, rule.title_of(first), _bucket(first), evidence,
                           rule.runbook, subject=subject, first_seen=min(times, default=until),
                           last_seen=max(times, default=until)))
    return out


def _times(row: dict[str, Any]) -> list[datetime]:
    for first, last in TIME_COLUMNS:
        found = [row.get(first), row.get(last)]
        if any(isinstance(t, datetime) for t in found):
            return [t for t in found if isinstance(t, datetime)]
    return []


def _bucket(row: dict[str, Any]) -> str | None:
    value = row.get("bucket")
    return value if isinstance(value, str) else None


def examples_dir() -> Path:
    """The example rules shipped with the toolkit (examples/rules/ in a source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "example_rules", here.parent.parent / "examples" / "rules"):
        if candidate.is_dir() and any(candidate.glob("*.sql")):
            return candidate
    raise CatalogError(f"no example rules found (looked in {here / 'example_rules'})")


__all__ = ["DIRECTIVES", "PARAMETERS", "Rule", "examples_dir", "findings", "load", "parse", "result_columns",
           "to_findings"]
