"""The query catalog: queries/*.sql, one query per file, named by the file stem.

A file opens with a comment header, then plain SQL that runs as-is on Athena (Trino) and DuckDB:

    -- Title: one line that says what the query answers.
    --
    -- Free description, as many lines as needed.
    --
    -- @tags workshop, deletes
    -- @param since timestamp = 24h: start of the window (inclusive)
    -- @param bucket bucket = null: only this bucket (all when omitted)
    -- @param key key: required, since it has no default
    SELECT ... FROM journal WHERE record_timestamp >= :since ...

Parameters are `:name` placeholders, found outside strings, quoted identifiers and comments (the
way datasette finds canned-query parameters, analytics.sqltext). The catalog refuses a file whose
declared and used parameters differ. Engines render placeholders in their own style; values never
enter the text. Files built on this format (the report's rules) may accept more `@directive`s.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Collection, Iterator

from .errors import CatalogError
from .params import TYPES, Param
# The lexer lives in sqltext, which the engines share; these names stay importable from here.
from .sqltext import placeholders, segments, substitute  # noqa: F401

_PARAM_LINE = re.compile(r"^@param\s+(\w+)\s+(\w+)\s*(?:=\s*(\S+))?\s*(?::\s*(.*))?$")
_TAGS_LINE = re.compile(r"^@tags\s+(.*)$")
_DIRECTIVE = re.compile(r"^@(\w+)(?:\s+(.*))?$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Query:
    """One catalog entry: its header and SQL text."""

    name: str
    title: str
    description: str
    params: tuple[Param, ...]
    sql: str
    path: Path
    tags: tuple[str, ...] = field(default=())
    directives: tuple[tuple[str, str], ...] = field(default=())  # those the caller of parse() accepted


    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def default_dir() -> Path:
    """Where the catalog lives: inside the installed package, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "queries", here.parent / "queries"):
        if candidate.is_dir() and any(candidate.glob("*.sql")):
            return candidate
    raise CatalogError(f"no query catalog found (looked in {here / 'queries'} and {here.parent / 'queries'})")


# --- loading ------------------------------------------------------------------------------------

def parse(path: Path, text: str | None = None, directives: Collection[str] = ()) -> Query:
    """One query file as a Query; CatalogError names the file and the line at fault.

    `directives` names further `@name value` header lines the caller accepts (each at most once),
    returned in `Query.directives`; any other directive is refused.
    """
    name = path.stem
    if not _NAME.match(name):
        raise CatalogError(f"{path.name}: a query file name must be lower_snake_case")
    text = path.read_text(encoding="utf-8") if text is None else text
    header: list[str] = []
    lines = text.splitlines()
    body_start = len(lines)
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("--"):
            header.append(stripped[2:].strip())
        elif stripped:
            body_start = number
            break
    sql = "\n".join(lines[body_start:]).strip().rstrip(";").rstrip()
    if not sql:
        raise CatalogError(f"{path.name}: no SQL after the header")

    prose: list[str] = []
    params: list[Param] = []
    tags: tuple[str, ...] = ()
    extra: dict[str, str] = {}
    for line in header:
        if line.startswith("@param"):
            m = _PARAM_LINE.match(line)
            if not m:
                raise CatalogError(f"{path.name}: malformed parameter line {line!r}; "
                                   "expected '@param NAME TYPE [= DEFAULT]: description'")
            pname, ptype, default, desc = m.groups()
            if ptype not in TYPES:
                raise CatalogError(f"{path.name}: parameter {pname!r} has unknown type {ptype!r} "
                                   f"(known: {', '.join(TYPES)})")
            if any(p.name == pname for p in params):
                raise CatalogError(f"{path.name}: parameter {pname!r} declared twice")
            params.append(Param(pname, ptype, default, (desc or "").strip()))
        elif m := _TAGS_LINE.match(line):
            tags = tuple(t.strip() for t in m.group(1).split(",") if t.strip())
        elif (m := _DIRECTIVE.match(line)) and m.group(1) in directives:
            if m.group(1) in extra:
                raise CatalogError(f"{path.name}: @{m.group(1)} given twice")
            extra[m.group(1)] = (m.group(2) or "").strip()
        elif line.startswith("@"):
            raise CatalogError(f"{path.name}: unknown header directive {line.split()[0]!r}")
        else:
            prose.append(line)
    while prose and not prose[0]:
        prose.pop(0)
    if not prose:
        raise CatalogError(f"{path.name}: the header needs a title line")
    title = prose[0]
    description = "\n".join(prose[1:]).strip()

    used = placeholders(sql)
    declared = {p.name for p in params}
    if set(used) != declared:
        undeclared = sorted(set(used) - declared)
        unused = sorted(declared - set(used))
        detail = "; ".join(filter(None, [
            undeclared and f"used but not declared: {', '.join(undeclared)}",
            unused and f"declared but not used: {', '.join(unused)}",
        ]))
        raise CatalogError(f"{path.name}: parameters differ between header and SQL ({detail})")
    return Query(name, title, description, tuple(params), sql, path, tags, tuple(extra.items()))


class Catalog:
    """The loaded queries, by name."""

    def __init__(self, queries: dict[str, Query]):
        self._queries = dict(sorted(queries.items()))

    def __iter__(self) -> Iterator[Query]:
        return iter(self._queries.values())

    def __len__(self) -> int:
        return len(self._queries)

    def __contains__(self, name: object) -> bool:
        return name in self._queries

    def names(self) -> list[str]:
        return list(self._queries)

    def get(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._queries, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else "; `s3meta list` shows them all"
            raise CatalogError(f"unknown query {name!r}{hint}") from None

    def tagged(self, tag: str) -> list[Query]:
        """The queries with `tag`; CatalogError (with the closest tag) when no query has it."""
        found = [q for q in self if tag in q.tags]
        if not found:
            close = difflib.get_close_matches(tag, self.tags(), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CatalogError(f"no query is tagged {tag!r}; {hint}(tags: {', '.join(self.tags())})")
        return found

    def tags(self) -> list[str]:
        return sorted({t for q in self for t in q.tags})

    def param_types(self) -> dict[str, str]:
        """Each parameter name the catalog declares, with its type (one type per name across the
        catalog, so that `:since` in ad-hoc SQL is a timestamp as it is in every query)."""
        return {p.name: p.type for q in self for p in q.params}


def describe(query: Query) -> str:
    """A query as `s3meta show` and `%s3meta show` print it: title, description, parameters, tags, SQL."""
    parts = [f"{query.name}: {query.title}"]
    if query.description:
        parts.append(query.description)
    if query.params:
        parts.append("Parameters:\n" + "\n".join(
            f"  {p.name} ({p.type}, {'required' if p.required else 'default ' + p.default}): {p.description}"
            for p in query.params))
    if query.tags:
        parts.append(f"Tags: {', '.join(query.tags)}")
    parts.append(query.sql)
    return "\n\n".join(parts)


# The report's detectors read these: runnable, but shaped for a detector, not for a person.
INTERNAL_TAG = "detector"
# Groups of `s3meta list`: the first-day queries first, the report's internals last.
_GROUP_ORDER = ("workshop", "analyst", "aws", "annotation", "inventory-report", "restore")


def grouped(queries: list[Query]) -> dict[str, list[Query]]:
    """Queries by their first tag, in the order a new user needs them; the report's internal
    queries (tag `detector`) last, under their own heading."""
    groups: dict[str, list[Query]] = {}
    for q in queries:
        tag = INTERNAL_TAG if INTERNAL_TAG in q.tags else (q.tags[0] if q.tags else "other")
        groups.setdefault(tag, []).append(q)
    def rank(tag: str) -> tuple[int, str]:
        if tag == INTERNAL_TAG:
            return (len(_GROUP_ORDER) + 1, tag)
        return (_GROUP_ORDER.index(tag) if tag in _GROUP_ORDER else len(_GROUP_ORDER), tag)
    return {tag: groups[tag] for tag in sorted(groups, key=rank)}


def listing(queries: list[Query], width: int | None = None) -> str:
    """The queries as `s3meta list` and `%s3meta list` print them: by group, a name and title a line;
    with a `width` (a terminal's), titles are cut to fit it."""
    names = max((len(q.name) for q in queries), default=0)

    def fit(text: str) -> str:
        return text if width is None or len(text) <= width else text[: max(width - 1, names + 4)] + "…"

    parts = []
    for tag, members in grouped(queries).items():
        heading = f"{tag} (internal: what `s3meta report` runs)" if tag == INTERNAL_TAG else tag
        parts.append(fit(heading + ":") + "\n" + "\n".join(fit(f"  {q.name.ljust(names)}  {q.title}")
                                                           for q in members))
    return "\n\n".join(parts)


def parameter_help(query: Query) -> str:
    """A query's parameters for `s3meta query NAME --help`: name, type and its form, default."""
    if not query.params:
        return f"{query.name} takes no parameters."
    lines = [f"parameters of {query.name} (pass each as -p NAME=VALUE):"]
    width = max(len(p.name) for p in query.params)
    for p in query.params:
        default = "required" if p.required else ("default: none (all)" if p.optional else f"default: {p.default}")
        lines.append(f"  {p.name.ljust(width)}  {p.type}, {default}; {p.description}".rstrip("; "))
        lines.append(f"  {' ' * width}  ({TYPES[p.type].form})")
    return "\n".join(lines)


def load(directory: str | Path | None = None) -> Catalog:
    """Load every *.sql in `directory` (default: the shipped catalog)."""
    directory = Path(directory) if directory is not None else default_dir()
    if not directory.is_dir():
        raise CatalogError(f"query catalog folder not found: {directory}")
    return Catalog({path.stem: parse(path) for path in sorted(directory.glob("*.sql"))})


@lru_cache(maxsize=1)
def shipped() -> Catalog:
    """The catalog shipped with the toolkit, loaded once per process."""
    return load()
