"""Notebook support: the %s3meta / %%s3meta IPython magic, and helpers the shipped notebooks use.

    %load_ext analytics
    %s3meta connect --data demo                 # or athena options; default: $S3META_* and the profile
    %s3meta query recent_deletes since=24h bucket=acme-prod-data -o deletes
    %s3meta recent_deletes since=24h            # `query` may be left out
    %s3meta info                                # tables, time range, buckets, records by type
    %%s3meta -o top
    SELECT requester, count(*) AS n FROM journal WHERE bucket = :b GROUP BY ALL ORDER BY n DESC
    %s3meta sql -o n SELECT count(*) FROM journal WHERE bucket = '{b}'   # options first; b bound

In SQL (`%s3meta sql` and `%%s3meta` cells), `:name`, `{name}` and a whole `'{name}'` string take
the notebook variable `name` as a value bound by the driver, never pasted into the SQL text.

Every result is also stored in the variable `_s3meta`; `-o NAME` (or `--out NAME`) stores it under
NAME too. The session opened by `connect` (or on first use, from the environment) is reused by
later cells until another connect, a different --data, or `%s3meta close`. IPython is imported only
by load_ipython_extension, so this module's helpers work without it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from . import api, settings
from .errors import BadInput, S3MetaError
from .params import parse_assignments
from .sqltext import placeholders, segments

RESULT_VARIABLE = "_s3meta"
_MAGICS: dict[int, "Magic"] = {}  # per IPython shell, so `%reload_ext` can close the old session
_COMMANDS = ("connect", "query", "sql", "info", "list", "show", "restore-plan", "close", "help")


# --- helpers for notebooks ----------------------------------------------------------------------

def data_folder(data: str | os.PathLike) -> Path:
    """The data folder, also when a notebook runs from notebooks/: a relative path that does not
    exist here is looked up in the parent folders (so "demo" finds the repo's demo/)."""
    path = Path(data).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve()
    for parent in Path.cwd().resolve().parents[:3]:
        if (parent / path).exists():
            return parent / path
    return path  # missing: the engine says so, naming the path as given


def manifest(data: str | os.PathLike) -> dict[str, Any] | None:
    """The generator's manifest.json of a data folder, or None for real data."""
    path = data_folder(data) / "manifest.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def data_end(data: str | os.PathLike | None) -> datetime:
    """Where "now" is for a data set: the generator's end of journal, else the real now (naive UTC)."""
    from .params import utcnow
    found = manifest(data) if data is not None else None
    return datetime.fromisoformat(found["end"]) if found else utcnow().replace(microsecond=0)


def window(data: str | os.PathLike | None, span: str = "7d") -> dict[str, str]:
    """Query parameters for the last `span` of the data: `session.run(name, **window(data))`."""
    return {"since": span, "until": data_end(data).isoformat()}


# --- SQL with values from the namespace, bound ------------------------------------------------------

_SQL_LINE = re.compile(r"^\s*sql(\s+|$)")
_BRACED = re.compile(r"\{([A-Za-z_]\w*)\}")


def bind_namespace(sql: str, namespace: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Ad-hoc SQL whose `{var}` and `:var` name notebook variables, as a statement with `:var`
    placeholders and the values to bind: a value never enters the SQL text.

    `{var}` in code and a string literal that is exactly `'{var}'` both become `:var` (so
    `WHERE bucket = '{b}'` compares with b's value, quotes and all). A `{var}` inside a longer
    string literal is refused: concatenate instead (`'logs/' || :var`).
    """
    def braced(match: re.Match[str]) -> str:
        if match.group(1) not in namespace:
            raise BadInput(f"sql: {{{match.group(1)}}} names no variable of the notebook")
        return ":" + match.group(1)

    out = []
    for kind, text in segments(sql):
        if kind == "code":
            text = _BRACED.sub(braced, text)
        elif kind == "string" and (whole := _BRACED.fullmatch(text[1:-1])) and whole.group(1) in namespace:
            text = ":" + whole.group(1)
        elif kind == "string" and any(m.group(1) in namespace for m in _BRACED.finditer(text)):
            name = next(m.group(1) for m in _BRACED.finditer(text) if m.group(1) in namespace)
            raise BadInput(f"sql: {{{name}}} inside the string {text[:40]}: values are bound, never pasted "
                           f"into SQL; concatenate instead, e.g. 'logs/' || :{name}")
        out.append(text)
    statement = "".join(out)
    missing = [n for n in dict.fromkeys(placeholders(statement)) if n not in namespace]
    if missing:
        raise BadInput(f"sql: :{missing[0]} names no variable of the notebook")
    return statement, {n: namespace[n] for n in dict.fromkeys(placeholders(statement))}


def _leading_options(text: str, parser: argparse.ArgumentParser) -> tuple[list[str], str]:
    """The options that open `text` (`-o name --data DIR`), split as a shell would, and the rest
    exactly as typed. Every option of the sql command takes one value."""
    options: list[str] = []
    rest = text
    while True:
        rest = rest.lstrip()
        lexer = shlex.shlex(rest, posix=True)
        lexer.whitespace_split = True
        try:
            token = lexer.get_token()
        except ValueError as exc:
            raise BadInput(f"cannot split the line: {exc}") from None
        if not token or token.split("=", 1)[0] not in parser._option_string_actions:
            return options, rest
        options.append(token)
        rest = rest[lexer.instream.tell():]
        if "=" in token or token in ("-h", "--help"):
            continue
        rest = rest.lstrip()
        lexer = shlex.shlex(rest, posix=True)
        lexer.whitespace_split = True
        value = lexer.get_token()
        if value is None:
            return options, ""  # argparse names the missing value
        options.append(value)
        rest = rest[lexer.instream.tell():]


# --- the magic ------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise BadInput(f"{self.prog.partition(' ')[2] or 'cell'}: {message}")


def _common(p: argparse.ArgumentParser, out: bool = True) -> None:
    # The engine options are built from the settings' one declaration, as the CLI's flags are.
    group = settings.add_arguments(p)
    group.add_argument("--config", metavar="FILE", help="config file (default: $S3META_CONFIG or "
                                                          "~/.config/s3meta/config.toml)")
    group.add_argument("--profile", metavar="NAME", help="named profile of the config file")
    if out:
        p.add_argument("-o", "--out", metavar="NAME",
                       help=f"also store the result in NAME (it is always in {RESULT_VARIABLE})")


def _cell_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="s3meta", description="Run the cell as one read-only SQL statement.")
    _common(parser)
    return parser


def _command_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one %s3meta command (options may come before or after the NAME=VALUE pairs)."""
    p = _Parser(prog=f"s3meta {command}")  # no "%" here: argparse formats prog with %
    if command == "connect":
        p.add_argument("engine_name", nargs="?", choices=("duckdb", "athena"), metavar="ENGINE")
        _common(p, out=False)
    elif command == "query":
        p.add_argument("name")
        p.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
        _common(p)
    elif command == "sql":  # the statement follows the options; Magic takes it verbatim
        _common(p)
    elif command == "restore-plan":
        p.add_argument("assignments", nargs="*", metavar="NAME=VALUE",
                       help="since, until, requester, ip, bucket")
        p.add_argument("--output", metavar="PREFIX", help="also write PREFIX.json and PREFIX.sh")
        _common(p)
    elif command == "info":
        _common(p)
    elif command == "list":
        p.add_argument("--tag")
    elif command == "show":
        p.add_argument("name")
    return p


class Magic:
    """The state behind %s3meta: one session, reused; results stored into `namespace`."""

    def __init__(self, namespace: dict[str, Any] | None = None, expand: Callable[[str], str] | None = None):
        self.namespace = namespace if namespace is not None else {}
        self.expand = expand or (lambda line: line)  # IPython's `{var}` expansion, for lines that are not SQL
        self.session: api.Session | None = None
        self._connection: dict[str, Any] | None = None

    # --- entry point -----------------------------------------------------------------------------
    def __call__(self, line: str, cell: str | None = None) -> Any:
        """IPython calls this for `%s3meta line` (cell None) and `%%s3meta line` + cell.

        IPython leaves the line as typed (no `{var}` expansion): SQL is taken verbatim, its
        `{var}` and `:name` bound from the namespace; other lines are expanded by `expand`.
        """
        statement = _SQL_LINE.match(line) if cell is None else None
        if statement:  # `%s3meta sql [OPTIONS] STATEMENT`: the statement exactly as typed, quotes kept
            options, text = _leading_options(line[statement.end():], _command_parser("sql"))
            return self._sql(_command_parser("sql").parse_args(options), text)
        line = self.expand(line)
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            raise BadInput(f"cannot split the line: {exc}") from None
        if cell is not None:
            return self._cell(tokens, cell)
        if not tokens:
            return self.help()
        if tokens[0] not in _COMMANDS and not tokens[0].startswith("-") and "=" not in tokens[0]:
            tokens.insert(0, "query")  # `%s3meta recent_deletes since=24h`
        command = tokens[0]
        if command not in _COMMANDS:
            raise BadInput(f"unknown command {command!r} (commands: {', '.join(_COMMANDS)}, or a query name)")
        args = _command_parser(command).parse_intermixed_args(tokens[1:])
        handler = getattr(self, "_" + command.replace("-", "_"))
        return handler(args)

    def help(self) -> None:
        print(__doc__.split("\n\n")[1].rstrip() + "\n\nCommands: " + ", ".join(_COMMANDS))

    # --- commands --------------------------------------------------------------------------------
    def _connect(self, args: argparse.Namespace) -> None:
        options = self._options(args)
        if args.engine_name:
            options["engine"] = args.engine_name
        self._open(options)
        engine = self.session.engine  # type: ignore[union-attr]
        where = f" over {options['data']}" if options.get("data") else ""
        print(f"s3meta: connected to {engine.name}{where}")

    def _query(self, args: argparse.Namespace) -> Any:
        session = self._ensure(args)
        return self._store(session.run(args.name, parse_assignments(args.assignments)), args.out)

    def _sql(self, args: argparse.Namespace, text: str) -> Any:
        if not text.strip():
            raise BadInput("sql: no statement given")
        statement, values = bind_namespace(text, self.namespace)
        session = self._ensure(args)
        return self._store(session.sql(statement, values), args.out)

    def _cell(self, tokens: list[str], cell: str) -> Any:
        return self._sql(_cell_parser().parse_intermixed_args(tokens), cell)

    def _info(self, args: argparse.Namespace) -> Any:
        return self._store(self._ensure(args).info(), args.out)  # shown by its repr, a text

    def _restore_plan(self, args: argparse.Namespace) -> Any:
        from . import restore

        values = parse_assignments(args.assignments)
        unknown = sorted(set(values) - {"since", "until", "requester", "ip", "bucket"})
        if unknown:
            raise BadInput(f"restore-plan: unknown parameter {unknown[0]!r} "
                           "(it takes since, until, requester, ip, bucket)")
        plan = restore.plan(self._ensure(args), **values)
        if args.output:
            json_path, sh_path = plan.write(args.output)
            print(f"s3meta: wrote {json_path} and {sh_path}: review the plan, then run the script")
        return self._store(plan, args.out)

    def _list(self, args: argparse.Namespace) -> None:
        from . import catalog
        queries = catalog.shipped().tagged(args.tag) if args.tag else list(catalog.shipped())
        print(catalog.listing(queries))

    def _show(self, args: argparse.Namespace) -> None:
        from . import catalog
        print(catalog.describe(catalog.shipped().get(args.name)))

    def _close(self, args: argparse.Namespace | None = None) -> None:
        if self.session is not None:
            self.session.close()
        self.session, self._connection = None, None

    def _help(self, args: argparse.Namespace) -> None:
        self.help()

    # --- the session ------------------------------------------------------------------------------
    @staticmethod
    def _options(args: argparse.Namespace) -> dict[str, Any]:
        options = {name: getattr(args, name, None) for name in settings.SETTINGS}
        options = {k: v for k, v in options.items() if v is not None and v != []}
        if options.get("data") is not None:
            options["data"] = str(data_folder(options["data"]))
        for name in ("profile", "config"):
            if getattr(args, name, None):
                options[name] = getattr(args, name)
        return options

    def _open(self, options: dict[str, Any]) -> api.Session:
        self._close()
        rest = dict(options)
        engine = rest.pop("engine", None)
        self.session = api.connect(engine, **rest)
        self._connection = options
        return self.session

    def _ensure(self, args: argparse.Namespace) -> api.Session:
        """The current session; a new one if this line names other connection options."""
        options = self._options(args)
        if self.session is None or (options and options != self._connection):
            return self._open(options)
        return self.session

    def _store(self, result: Any, name: str | None) -> Any:
        self.namespace[RESULT_VARIABLE] = result
        if name:
            if not name.isidentifier():
                raise BadInput(f"-o needs a Python variable name (got {name!r})")
            self.namespace[name] = result
        return result


def load_ipython_extension(ipython: Any) -> None:
    """Register %s3meta and %%s3meta on `ipython` (called by `%load_ext analytics`)."""
    from IPython.core.error import UsageError

    unload_ipython_extension(ipython)  # `%reload_ext analytics`: close the previous session
    def expand(_s3meta_line_: str, _s3meta_expand_: Any = ipython.var_expand) -> str:
        # var_expand also reads the calling frame's locals: these two names are all it finds here.
        return _s3meta_expand_(_s3meta_line_)

    magic = _MAGICS[id(ipython)] = Magic(ipython.user_ns, expand)

    def s3meta(line: str, cell: str | None = None) -> Any:
        try:
            return magic(line, cell)
        except S3MetaError as exc:
            # One line, as the CLI prints it: a usage error shows no traceback, and still fails the cell.
            raise UsageError(f"s3meta: {' '.join(str(exc).split())}") from None
        except SystemExit:  # argparse's -h/--help printed its text
            return None

    s3meta.__doc__ = __doc__
    # IPython would paste `{var}` values into the line before we see it: into SQL, that is pasting
    # values (and `'{b}'` loses its meaning). Magic expands lines that are not SQL itself.
    s3meta._ipython_magic_no_var_expand = True  # type: ignore[attr-defined]
    ipython.register_magic_function(s3meta, "line_cell", "s3meta")


def unload_ipython_extension(ipython: Any) -> None:
    magic = _MAGICS.pop(id(ipython), None)
    if magic is not None:
        magic._close()


__all__ = ["Magic", "data_end", "data_folder", "load_ipython_extension", "manifest", "window"]
