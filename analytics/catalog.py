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
way datasette finds canned-query parameters). The catalog refuses a file whose declared and used
parameters differ. Engines render placeholders in their own style; values never enter the text.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from .errors import CatalogError
from .params import TYPES, Param

_PARAM_LINE = re.compile(r"^@param\s+(\w+)\s+(\w+)\s*(?:=\s*(\S+))?\s*(?::\s*(.*))?$")
_TAGS_LINE = re.compile(r"^@tags\s+(.*)$")
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


# --- placeholders -------------------------------------------------------------------------------

def segments(sql: str) -> Iterator[tuple[str, str]]:
    """Split SQL into ('code' | 'string' | 'ident' | 'comment', text) runs.

    Only 'code' runs can hold placeholders. Handles '' and "" escapes inside quotes, -- line
    comments and /* */ block comments; an unterminated quote or comment runs to the end.
    """
    i, n, start = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in "'\"":
            if i > start:
                yield "code", sql[start:i]
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            yield ("string" if c == "'" else "ident"), sql[i:j + 1]
            i = start = j + 1
        elif sql.startswith("--", i) or sql.startswith("/*", i):
            if i > start:
                yield "code", sql[start:i]
            end = sql.find("\n", i) if c == "-" else sql.find("*/", i + 2)
            j = n if end < 0 else (end if c == "-" else end + 2)
            yield "comment", sql[i:j]
            i = start = j
        else:
            i += 1
    if start < n:
        yield "code", sql[start:]


# `:name` not preceded by ':' (a `::` cast) or an identifier character (`a:b` map keys in some SQL).
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def placeholders(sql: str) -> list[str]:
    """Placeholder names in order of appearance (repeats kept)."""
    return [m.group(1) for kind, text in segments(sql) if kind == "code" for m in _PLACEHOLDER.finditer(text)]


def substitute(sql: str, replace) -> str:
    """The SQL with each placeholder replaced by `replace(name)`; strings and comments untouched."""
    out = []
    for kind, text in segments(sql):
        out.append(_PLACEHOLDER.sub(lambda m: replace(m.group(1)), text) if kind == "code" else text)
    return "".join(out)


# --- loading ------------------------------------------------------------------------------------

def parse(path: Path, text: str | None = None) -> Query:
    """One query file as a Query; CatalogError names the file and the line at fault."""
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
    return Query(name, title, description, tuple(params), sql, path, tags)


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
        return [q for q in self if tag in q.tags]


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
