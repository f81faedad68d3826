"""SQL as text: where placeholders, strings and comments are, and what a statement starts with.

Shared by the catalog (which finds a query's `:name` placeholders) and the engines (which render
them in their own style and check ad-hoc SQL), so that neither imports the other. Nothing here
parses SQL: the engines' own parsers do that.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator

# What ad-hoc SQL may start with: queries only. Checked on the text after comments and opening
# parentheses, in addition to each engine's own parser, because parsers class some commands
# (DuckDB's PRAGMA, for one) as SELECTs.
READ_ONLY_KEYWORDS = frozenset(
    {"SELECT", "WITH", "VALUES", "EXPLAIN", "DESCRIBE", "SHOW", "SUMMARIZE", "FROM", "TABLE"})
# Commands a parser acts on while parsing them (DuckDB's IMPORT DATABASE reads the files it names),
# refused before any parser sees them.
ACTS_WHILE_PARSED = frozenset({"IMPORT"})
_FIRST_WORD = re.compile(r"[A-Za-z_]+")

# `:name` not preceded by ':' (a `::` cast) or an identifier character (`a:b` map keys in some SQL).
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


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


def placeholders(sql: str) -> list[str]:
    """Placeholder names in order of appearance (repeats kept)."""
    return [m.group(1) for kind, text in segments(sql) if kind == "code" for m in _PLACEHOLDER.finditer(text)]


def substitute(sql: str, replace: Callable[[str], str]) -> str:
    """The SQL with each placeholder replaced by `replace(name)`; strings and comments untouched."""
    out = []
    for kind, text in segments(sql):
        out.append(_PLACEHOLDER.sub(lambda m: replace(m.group(1)), text) if kind == "code" else text)
    return "".join(out)


def strip_leading(sql: str) -> str:
    """The SQL without leading white space, comments and opening parentheses."""
    previous = None
    while previous != sql:
        previous = sql
        sql = sql.lstrip().lstrip("(")
        if sql.startswith("--"):
            sql = sql.split("\n", 1)[1] if "\n" in sql else ""
        elif sql.startswith("/*"):
            end = sql.find("*/")
            sql = sql[end + 2:] if end >= 0 else ""
    return sql


def leading_keyword(sql: str) -> str:
    """The statement's first word, upper-cased, after comments and parentheses ('' if none)."""
    match = _FIRST_WORD.match(strip_leading(sql))
    return match.group(0).upper() if match else ""


__all__ = ["ACTS_WHILE_PARSED", "READ_ONLY_KEYWORDS", "leading_keyword", "placeholders", "segments",
           "strip_leading", "substitute"]
