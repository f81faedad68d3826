"""The `s3meta` command line: argument parsing and output only; the work is done by the API."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import io
import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, NoReturn

from . import api, catalog as _catalog, output, settings
from .errors import EXIT_BAD_INPUT, EXIT_ENGINE, BadInput, S3MetaError, Terminated, signal_text
from .params import parse_assignments, parse_count, parse_span, parse_timestamp, utcnow
from .values import byte_size
from .version import __version__

TABLE_ROWS = 200  # the table format's default cap on a terminal; other formats never truncate
MAX_INT = 2**31 - 1
MAX_DAYS = 3660  # fixtures: ten years of journal
MAX_SQL_BYTES = 1 << 20  # ad-hoc SQL; Athena takes at most 256 KB, and /dev/zero never ends


# --- argument types: one clear line for a bad value, ASCII digits only ---------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage block) and exit 2, like every other error, and
    "did you mean" for a mistyped command."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            close = difflib.get_close_matches(value, list(action.choices), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"commands: {', '.join(action.choices)}"
            where = self.prog.removeprefix("s3meta").strip()  # `fixtures` for `s3meta fixtures generat`
            raise argparse.ArgumentError(None, f"{where + ': ' if where else ''}unknown command {value!r}; {hint}")
        super()._check_value(action, value)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"s3meta: error: {message} (see `{self.prog} --help`)\n")


def _count(low: int, high: int) -> Callable[[str], int]:
    def count(text: str) -> int:
        try:
            return parse_count(text, low, high)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return count


def _moment(text: str) -> str:
    """A window edge (ISO 8601, `now` or a duration), checked as it is parsed so the error names the
    flag; the API resolves it against its own clock."""
    try:
        parse_timestamp(text, utcnow())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _span(text: str) -> str:
    try:
        parse_span(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _web_url(text: str) -> str:
    if not re.match(r"^https?://[^\s/]+", text):
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL (got {text[:60]!r})")
    return text


def _sns_topic(text: str) -> str:
    if not re.match(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$", text):
        raise argparse.ArgumentTypeError(f"expected an SNS topic ARN such as "
                                         f"arn:aws:sns:us-east-1:111122223333:findings (got {text[:60]!r})")
    return text


# --- shared option bundles ------------------------------------------------------------------------

def _engine_options(parser: argparse.ArgumentParser) -> None:
    # Each flag is built from the setting's one declaration (analytics.settings). Defaults are None:
    # analytics.connect() resolves what was not given, from the environment and the config profile.
    # --config and --profile may also follow the command (`s3meta report --config F` is `s3meta
    # --config F report`); see _chosen().
    group = settings.add_arguments(parser)
    group.add_argument("--config", dest="config_after", metavar="FILE",
                       help="config file: [profiles.*] and [report] (the same as --config before the command)")
    group.add_argument("--profile", dest="profile_after", metavar="NAME",
                       help="named profile of the config file (the same as --profile before the command)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--format", choices=output.FORMATS,
                       help="output format (default: table on a terminal, csv otherwise)")
    group.add_argument("--output", "-o", type=_nonempty, metavar="FILE",
                       help="write to FILE (atomically) instead of stdout")
    group.add_argument("--max-rows", type=_count(0, MAX_INT), metavar="N",
                       help=f"table format: show at most N rows (default {TABLE_ROWS}; 0 for all)")
    group.add_argument("--stats", action="store_true", help="print rows and timing on stderr")
    group.add_argument("--no-pager", action="store_true",
                       help="table format on a terminal: print instead of paging (default pager: $S3META_PAGER, "
                            "$PAGER or less; S3META_PAGER= turns it off)")


def _param_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--param", action="append", metavar="NAME=VALUE", default=[],
                        help="a query parameter; repeat for several (e.g. -p since=24h -p bucket=my-bucket)")


def _chosen(args: argparse.Namespace, name: str) -> str | None:
    """--config or --profile, given before the command, after it, or both times alike."""
    before, after = getattr(args, name, None), getattr(args, name + "_after", None)
    if before and after and before != after and not (
            name == "config" and Path(before).expanduser().resolve() == Path(after).expanduser().resolve()):
        raise BadInput(f"--{name} given twice, {before!r} before the command and {after!r} after it: "
                       "give it once (one config file holds both [profiles.*] and [report])")
    return after or before


def _session(args: argparse.Namespace, config: settings.ConfigFile | None = None) -> api.Session:
    """A session from what the user typed: analytics.connect() resolves everything else, once."""
    given = {name: getattr(args, name, None) for name in settings.SETTINGS}
    session = api.connect(**given, config=config or _chosen(args, "config"), profile=_chosen(args, "profile"),
                          progress=_progress if sys.stderr.isatty() else None)
    for note in session.engine.notes:  # what the engine chose on the user's behalf (which report, say)
        print(f"s3meta: {note}", file=sys.stderr)
    return session


def _progress(state: str, elapsed: float, done: str | None) -> None:
    """One line on the terminal, redrawn in place: `s3meta: query running 12.5 s, 1.20 GB scanned`."""
    shown = f", {done}" if done else ""
    print(f"\r\033[Ks3meta: query {state.lower()} {elapsed:.1f} s{shown}", end="", file=sys.stderr, flush=True)
    if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
        print(file=sys.stderr)


def _terminal_width() -> int | None:
    """The width output to stdout must fit: $COLUMNS, else the terminal's; None for a pipe or a file."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return shutil.get_terminal_size().columns
    return None


# --- commands -----------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    shipped = _catalog.shipped()
    queries = list(shipped) if args.tag is None else shipped.tagged(args.tag)  # an unknown tag: exit 2
    if args.format == "json":
        rows = [{"name": q.name, "title": q.title, "tags": list(q.tags), "group": group,
                 "internal": group == _catalog.INTERNAL_TAG, "params": [p.name for p in q.params]}
                for group, members in _catalog.grouped(queries).items() for q in members]
        print(json.dumps(rows, indent=2))
        return 0
    print(_catalog.listing(queries, _terminal_width()))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    query = _catalog.shipped().get(args.name)
    if args.render:
        with _session(args) as session:
            rendered = session.render(query.name, parse_assignments(args.param))
        print(rendered.sql)
        if rendered.context:
            print(f"-- context ({session.engine.name}): " + json.dumps(rendered.context))
        if rendered.parameters:
            label = "ExecutionParameters" if isinstance(rendered.parameters, list) else "parameters"
            print(f"-- {label} ({session.engine.name}): " + json.dumps(_plain(rendered.parameters), ensure_ascii=False))
        return 0
    print(_catalog.describe(query))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    if args.help:  # `s3meta query NAME --help`: the command's options, then that query's parameters
        query = _catalog.shipped().get(args.name) if args.name else None
        print(args.parser.format_help())
        if query:
            print(_catalog.parameter_help(query))
        return 0
    if not args.name:
        raise BadInput("query: give a query NAME (`s3meta list` shows them; `s3meta query NAME --help` "
                       "its parameters)")
    values = parse_assignments(args.param)
    with _session(args) as session:
        _emit(session.run(args.name, values, stream=True), args)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    text = _sql_text(args)
    values = parse_assignments(args.param)
    with _session(args) as session:
        _emit(session.sql(text, values, stream=True), args)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with _session(args) as session:
        overview = session.info()
        totals = session.totals()
    print(json.dumps(overview.to_dict(), indent=2, ensure_ascii=False) if args.format == "json" else overview.text())
    if any("cost_usd" in s for s in overview.stats):  # Athena bills each of these queries
        print(f"s3meta: info ran {totals['queries']} queries; athena scanned "
              f"{byte_size(totals['data_scanned_bytes'])}, estimated ${totals['cost_usd']:.6f}", file=sys.stderr)
    return 0


def _sql_text(args: argparse.Namespace) -> str:
    """The statement: the argument, else -f FILE, else stdin; read up to a cap, as UTF-8."""
    if args.statement is not None and args.statement != "-" and not args.file:
        return args.statement
    try:
        if args.file:
            source = f"SQL file {args.file}"
            with open(args.file, "rb") as fh:
                data = fh.read(MAX_SQL_BYTES + 1)
        elif sys.stdin is not None and not sys.stdin.isatty():  # None: started with stdin closed
            source = "the SQL on stdin"
            data = sys.stdin.buffer.read(MAX_SQL_BYTES + 1)
        else:
            raise BadInput("no SQL given: pass it as an argument, with -f FILE, or on stdin")
    except OSError as exc:
        raise BadInput(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(data) > MAX_SQL_BYTES:
        raise BadInput(f"{source} is longer than {MAX_SQL_BYTES >> 20} MB; ad-hoc SQL is one statement")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{source} is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})") from None


def cmd_restore_plan(args: argparse.Namespace) -> int:
    from . import restore

    with _session(args) as session:
        plan = restore.plan(session, since=args.since, until=args.until, requester=args.requester,
                            ip=args.ip, bucket=args.buckets)
    json_path, sh_path = plan.write(args.output)
    print(f"s3meta: {plan.message()}", file=sys.stderr)
    print(f"s3meta: wrote {json_path} and {sh_path}: review the plan, then run the script", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Scheduled anomaly report: findings as json/markdown/html, state, notifications, exit by severity."""
    from . import report as _report
    from .files import remove_leftovers

    formats = list(dict.fromkeys(args.report_format or ["json"]))
    if args.state and os.path.exists(args.state) and not os.path.isfile(args.state):
        raise BadInput(f"--state {args.state}: not a regular file (the state is a JSON file s3meta writes)")
    if len(formats) > 1 and not args.output:
        raise BadInput("several --format values need --output FILE (each format gets its own extension)")
    # One document, read once, gives both the engine profile and the [report] table.
    document = settings.read(_chosen(args, "config"))
    config = _report.load_config(document)
    if args.rules:  # the flag replaces the config file's rule folders
        config = dataclasses.replace(config, rules=_report.load_rules(args.rules))
    fail_on = args.fail_on or config.fail_on
    targets = _report.output_paths(args.output, formats)

    def write(result) -> None:
        for fmt, target in targets.items():
            if target and args.state:  # under the state's lock: no other scheduled run writes these
                remove_leftovers(target)
            with _destination(target, False) as out:
                out.write(result.render(fmt))

    result = _report.scheduled(lambda: _session(args, document), config, state_path=args.state, since=args.since,
                               until=args.until, baseline=args.baseline, fail_on=fail_on,
                               sns_topic_arn=args.sns_topic, webhook_url=args.webhook, write=write)
    for note in result.notes:
        print(f"s3meta: {note}", file=sys.stderr)
    failed = [x for x in result.notifications if not x.get("ok")]
    for x in failed:
        print(f"s3meta: notification via {x['channel']} failed: {x.get('error')}", file=sys.stderr)
    if failed and args.state:
        print("s3meta: state not advanced, so the next run retries the notification", file=sys.stderr)
    stats = result.stats
    cost = f", athena scanned {byte_size(stats.get('data_scanned_bytes'))}, estimated ${stats['cost_usd']:.6f}" \
        if "cost_usd" in stats else ""
    print(f"s3meta: report {result.since.isoformat()} to {result.until.isoformat()}: {stats['findings']} findings "
          f"({stats['new_findings']} new, {len(result.at_or_above(fail_on))} new at or above {fail_on}); "
          f"{stats['queries']} queries in {stats['elapsed_seconds']:.2f} s{cost}", file=sys.stderr)
    return result.exit_code(fail_on)


def cmd_fixtures_generate(args: argparse.Namespace) -> int:
    from . import fixtures
    from .params import parse_timestamp, utcnow

    end = None
    if args.end:
        try:
            end = parse_timestamp(args.end, utcnow())
        except ValueError as exc:
            raise BadInput(f"--end: {exc}") from None
    manifest = fixtures.generate(args.out, rows=args.rows, seed=args.seed, days=args.days, end=end,
                                 incidents=not args.no_incidents, annotation_share=args.annotation_share,
                                 annotation_rows=args.annotation_rows, scenarios=args.scenario)
    print(f"s3meta: wrote {manifest['rows']} journal rows ({manifest['annotation_events']} annotation events), "
          f"{manifest['inventory_rows']} inventory rows and {manifest['annotation_table_rows']} annotations "
          f"({manifest['start']} to {manifest['end']}) to {args.out}", file=sys.stderr)
    return 0


def _scenario_names() -> list[str]:
    from .scenarios import SCENARIOS
    return list(SCENARIOS)


def cmd_fixtures_incidents(args: argparse.Namespace) -> int:
    from . import demo

    print(demo.guide(args.data))
    return 0


def cmd_ddl(args: argparse.Namespace) -> int:
    from . import inventory_report

    print(inventory_report.athena_ddl(args.location, args.ddl_format, args.table, args.view), end="")
    return 0


# --- output -------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    from .values import jsonable
    return jsonable(value)


@contextmanager
def _destination(path: str | None, binary: bool) -> Iterator[IO]:
    if path:
        from .files import atomic_write
        try:
            with atomic_write(path, binary=binary) as fh:
                yield fh
        except OSError as exc:
            raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    try:
        if binary:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
            return
        # UTF-8 whatever the locale: keys are UTF-8 and must round-trip.
        stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
        try:
            yield stream
            stream.flush()
        finally:
            stream.detach()
    except BrokenPipeError:
        raise  # the reader went away: main() ends quietly
    except OSError as exc:  # a full disk or /dev/full behind `>`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        raise BadInput(f"cannot write the output to stdout: {exc.strerror or exc}") from None


def _emit(result, args: argparse.Namespace) -> None:
    """Write a streamed result batch by batch (the table format reads only the rows it shows)."""
    fmt = args.format or ("table" if sys.stdout.isatty() and not args.output else "csv")
    if fmt in output.BINARY_FORMATS and not args.output and sys.stdout.isatty():
        raise BadInput(f"{fmt} output is binary: pass --output FILE or pipe it")
    max_rows = width = None
    if fmt == "table":
        max_rows = TABLE_ROWS if args.max_rows is None else (args.max_rows or None)
        width = None if args.output else _terminal_width()
    # A table on a terminal goes through a pager, as the AWS CLI's output does; never when stdout is
    # a pipe or a file (cron, `| grep`), and not with --no-pager or an empty $S3META_PAGER.
    command = output.pager() if width and sys.stdout.isatty() and not args.no_pager else None
    if command:
        text = output.text_table(output.head(result.batches(), max_rows), width)
        if not output.page(text, command):  # no such pager: print it
            with _destination(None, binary=True) as out:
                out.write(text.encode("utf-8"))
    else:
        with _destination(args.output, binary=True) as out:
            output.write(result.batches(), fmt, out, max_rows=max_rows, width=width)
    stats = result.stats
    n = stats.get("rows", 0)
    rows = f"{n} row{'s' if n != 1 else ''}"
    if "elapsed_seconds" not in stats:  # a table that stopped reading knows a lower bound only
        rows = f"at least {rows}"
    if "cost_usd" in stats:  # a remote engine's run always reports what it scanned and cost
        print(f"s3meta: {rows}; athena scanned {byte_size(stats.get('data_scanned_bytes'))}, "
              f"engine {(stats.get('engine_ms') or 0) / 1000:.1f} s, estimated ${stats['cost_usd']:.6f} "
              f"(query {stats.get('query_execution_id')})", file=sys.stderr)
    elif args.stats or sys.stderr.isatty():
        elapsed = f" in {stats['elapsed_seconds']:.3f} s" if "elapsed_seconds" in stats else ""
        print(f"s3meta: {rows}{elapsed} ({stats.get('engine', '?')})", file=sys.stderr)


# --- the parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="s3meta",
        description="Query Amazon S3 Metadata journal and inventory tables with a tested SQL catalog.",
        epilog="Exit codes: 0 success, 1 findings at or above --fail-on (report), 2 bad input, "
               "3 engine failure, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).")
    parser.add_argument("--version", action="version", version=f"s3meta {__version__}")
    parser.add_argument("--profile", help="named profile of the config file (default: $S3META_PROFILE)")
    parser.add_argument("--config", metavar="FILE",
                        help="config file (default: $S3META_CONFIG or ~/.config/s3meta/config.toml)")
    # Not required: `s3meta` alone prints this help.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list the catalog's queries by group",
                       description="List the catalog's queries, grouped by their first tag; the report's "
                                   "internal detect_* queries come last, apart.")
    p.add_argument("--tag", help="only queries with this tag (e.g. workshop); a tag no query has exits 2")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="show a query: description, parameters, SQL",
                       description="Show a query's description, parameters and SQL.")
    p.add_argument("name")
    p.add_argument("--render", action="store_true",
                   help="print the statement exactly as the engine will run it, with its bound values")
    _param_options(p)
    _engine_options(p)
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("query", help="run a catalog query", add_help=False,
                       description="Run a catalog query. `s3meta query NAME --help` also lists NAME's "
                                   "parameters, with their types and defaults.")
    p.add_argument("-h", "--help", action="store_true", help="show this help (and NAME's parameters) and exit")
    p.add_argument("name", nargs="?", help="the query (`s3meta list` shows them)")
    _param_options(p)
    _engine_options(p)
    _output_options(p)
    p.set_defaults(handler=cmd_query, parser=p)

    p = sub.add_parser("info", help="what the data holds: tables, time range, buckets, records by type",
                       description="Print the tables present, the journal's first and last record (UTC), "
                                   "rows per bucket and table, and journal records by type, to pick a window. "
                                   "On Athena this runs one query per table present, plus one to list them.")
    p.add_argument("--format", choices=("text", "json"), default="text")
    _engine_options(p)
    p.set_defaults(handler=cmd_info)

    p = sub.add_parser("sql", help="run one ad-hoc read-only SQL statement",
                       description="Run one read-only statement (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, "
                                   "SHOW, SUMMARIZE). Anything else is refused with exit 2. `:name` "
                                   "placeholders are bound by the driver from -p name=VALUE, typed as the "
                                   "catalog types that name (since, until: timestamps; bucket, ip, ...), "
                                   "else as text; -p name:TYPE=VALUE names the type (e.g. n:integer=5).")
    p.add_argument("statement", nargs="?", help="the SQL ('-' or nothing: read stdin)")
    p.add_argument("-f", "--file", type=_nonempty, help="read the SQL from FILE")
    _param_options(p)
    _engine_options(p)
    _output_options(p)
    p.set_defaults(handler=cmd_sql)

    p = sub.add_parser(
        "restore-plan", help="plan the removal of an actor's delete markers (runs nothing)",
        description="For the delete markers a requester and/or source IP placed in [since, until), find the "
                    "versions they hide and write PREFIX.json (the plan, for review) and PREFIX.sh (one "
                    "`aws s3api delete-object` per marker). Nothing is run against S3. --bucket also limits "
                    "the plan to that bucket.")
    p.add_argument("--since", default="24h", type=_moment,
                   help="start of the window, inclusive: ISO 8601 or a duration (default 24h)")
    p.add_argument("--until", default="now", type=_moment, help="end of the window, exclusive (default now)")
    p.add_argument("--requester", help="only markers placed by this account ID or principal")
    p.add_argument("--ip", help="only markers placed from this source IP address")
    p.add_argument("--output", required=True, type=_nonempty, metavar="PREFIX", help="write PREFIX.json and PREFIX.sh")
    _engine_options(p)
    p.set_defaults(handler=cmd_restore_plan)

    p = sub.add_parser(
        "report", help="scheduled anomaly report over a window and its baseline",
        description="Run the anomaly detectors over [--since, --until) against the baseline "
                    "[since - --baseline, since) and write the findings as json, markdown or html. "
                    "Exit 0: no new finding at or above --fail-on; 1: some; 2: bad input; 3: engine "
                    "failure, a failed notification, or the --state lock held by another run.")
    p.add_argument("--since", type=_moment, help="start of the window: ISO 8601 or a duration before --until "
                                   "(default: the state's watermark minus the overlap, else 24h)")
    p.add_argument("--until", type=_moment, help="end of the window, exclusive (default: now)")
    p.add_argument("--baseline", type=_span, metavar="DURATION", help="baseline length before --since (default 14d)")
    p.add_argument("--format", dest="report_format", action="append", choices=("json", "markdown", "html"),
                   help="output format; repeat for several (default json)")
    p.add_argument("--output", "-o", type=_nonempty, metavar="FILE",
                   help="write to FILE atomically; with several formats, FILE's stem plus .json/.md/.html")
    p.add_argument("--fail-on", choices=("info", "low", "medium", "high", "critical"),
                   help="exit 1 when a new finding is at or above this severity (default high)")
    p.add_argument("--rules", action="append", type=_nonempty, metavar="DIR",
                   help="a folder of detection rules (NAME.sql); repeat for several (default: the config's "
                        "[report] rules)")
    p.add_argument("--state", type=_nonempty, metavar="FILE",
                   help="JSON state for scheduled runs: watermark, first-seen sets, reported findings")
    p.add_argument("--sns-topic", type=_sns_topic, metavar="ARN", help="publish new findings to this SNS topic")
    p.add_argument("--webhook", type=_web_url, metavar="URL", help="POST new findings as JSON to this URL")
    _engine_options(p)
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("fixtures", help="synthetic S3 Metadata data",
                       description="Synthetic journal, inventory and annotation data in the exact AWS schema.")
    fsub = p.add_subparsers(dest="fixtures_command", metavar="COMMAND", required=True)
    g = fsub.add_parser("generate", help="generate a data set",
                        description="Write DIR/journal/*.parquet, DIR/inventory/*.parquet, "
                                    "DIR/annotation/*.parquet and DIR/manifest.json.")
    g.add_argument("--out", required=True, type=_nonempty, metavar="DIR")
    g.add_argument("--rows", type=_count(100, MAX_INT), default=100_000,
                   help="journal rows, approximately (default 100000)")
    g.add_argument("--seed", type=_count(0, 2**63 - 1), default=7, help="random seed (default 7)")
    g.add_argument("--days", type=_count(1, MAX_DAYS), default=14,
                   help=f"days of journal (default 14, at most {MAX_DAYS})")
    g.add_argument("--end", metavar="TIMESTAMP", help="end of the journal, ISO 8601 (default: this hour)")
    g.add_argument("--no-incidents", action="store_true", help="plant no incidents")
    g.add_argument("--annotation-share", type=float, default=0.08, metavar="SHARE",
                   help="share of journal rows that are annotation events, 0 to 0.5 (default 0.08)")
    g.add_argument("--annotation-rows", choices=("full", "sparse"), default="full",
                   help="object columns on annotation rows: the version's (full) or NULL (sparse)")
    g.add_argument("--scenario", action="append", default=[], metavar="NAME",
                   help="plant an attack or a benign twin (repeatable): " + ", ".join(_scenario_names()))
    g.set_defaults(handler=cmd_fixtures_generate)
    g = fsub.add_parser("incidents", help="the planted incidents, their window, and the commands that show them",
                        description="Print a generated data set's planted incidents (from DIR/manifest.json), the "
                                    "window that holds them, and the s3meta report, restore-plan and notebook "
                                    "commands that show them.")
    g.add_argument("data", metavar="DIR")
    g.set_defaults(handler=cmd_fixtures_incidents)

    p = sub.add_parser("ddl", help="print Athena DDL for other data sources",
                       description="Print Athena DDL, to run in the Athena console or with `aws athena`.")
    dsub = p.add_subparsers(dest="ddl_command", metavar="COMMAND", required=True)
    d = dsub.add_parser(
        "inventory-report", help="a classic S3 Inventory report table, with partition projection",
        description="CREATE EXTERNAL TABLE over a classic S3 Inventory report (partition projection on dt), "
                    "and a view of its newest run that the catalog's inventory-report queries read.")
    d.add_argument("--location", required=True, metavar="S3URI",
                   help="the inventory configuration's folder, s3://DEST/PREFIX/SOURCE-BUCKET/CONFIG-ID/ "
                        "(or its hive/)")
    d.add_argument("--format", dest="ddl_format", choices=("parquet", "orc", "csv"), default="parquet",
                   help="the report's file format (default parquet)")
    d.add_argument("--table", default="s3_inventory_report", help="table name (default s3_inventory_report)")
    d.add_argument("--view", default="inventory_report",
                   help="name of the view of the newest run (default inventory_report, what the queries read)")
    d.set_defaults(handler=cmd_ddl)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `s3meta` alone: what it can do
        parser.print_help()
        return 0
    try:
        with _termination_unwinds():
            return args.handler(args)
    except S3MetaError as exc:
        if os.environ.get("S3META_DEBUG"):  # the chain down to the driver's own error, for a bug report
            traceback.print_exception(exc)
        _fail(str(exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:  # outside a query: nothing to stop but what `finally` blocks undo
        signum = getattr(exc, "signum", signal.SIGINT)
        _fail(signal_text(signum))
        return 128 + signum
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours. Point stdout at devnull so the
        # interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:
        _fail("out of memory (a smaller window, fewer rows, or a machine with more memory)")
        return EXIT_ENGINE
    except Exception as exc:  # a bug: still one line, and a code a scheduler can act on
        if os.environ.get("S3META_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set S3META_DEBUG=1 for a traceback)")
        return EXIT_ENGINE


@contextmanager
def _termination_unwinds() -> Iterator[None]:
    """SIGTERM (systemd stop, `timeout`, kill) and SIGHUP (a closed terminal) unwind like Ctrl-C.

    By default they end the process on the spot: an Athena query runs on, billed, and temp files
    stay. Raised as errors.Terminated in the main thread, they stop the running query (DuckDB
    interrupted, Athena's StopQueryExecution), run every `finally` and exit 128 + the signal.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    previous = {signum: signal.signal(signum, terminate) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _quiet_libraries() -> None:
    """stderr carries our narration and one-line errors only: library log records and Python
    warnings (sqlglot, botocore, pyarrow, ...) are dropped, unless S3META_DEBUG asks for them."""
    if os.environ.get("S3META_DEBUG"):
        return
    logging.captureWarnings(True)  # warnings become records of the py.warnings logger...
    root = logging.getLogger()
    if not root.handlers:  # ...and a handler on the root keeps logging's last resort from printing any record
        root.addHandler(logging.NullHandler())


def _fail(message: str) -> None:
    line = " ".join(message.split()) if "\n" in message else message
    print(f"s3meta: error: {line}", file=sys.stderr)


__all__ = ["main", "build_parser", "EXIT_BAD_INPUT"]
