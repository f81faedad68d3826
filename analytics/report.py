"""Scheduled anomaly reports: run the detector queries over a window and its baseline, decide, render.

    import analytics
    from analytics import report
    with analytics.connect(data="demo") as session:
        r = report.run(session, since="24h", baseline="14d", config="config.toml")
        r.findings, r.stats, r.to_json()        # r in a notebook renders as HTML

One aggregate query (detect_activity) reads the journal once for the window and the baseline;
narrow window-only queries fetch the row-level evidence (unencrypted uploads, encryption changes,
GuardDuty results, sample keys). The detectors (analytics.detectors) decide in Python. With a state
(analytics.state) the window starts at the last watermark minus an overlap, already-reported
events are dropped, and findings reported before are marked "new": false.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from . import detectors as _detectors
from .detectors import DETECTORS, SEVERITIES, Allowlist, Finding, Inputs, severity_rank
from .errors import BadInput
from .params import parse_duration, parse_timestamp, utc_naive
from .state import State, event_id
from .values import display, jsonable

SCHEMA_VERSION = 1
FORMATS = ("json", "markdown", "html")
_EXTENSIONS = {"json": ".json", "markdown": ".md", "html": ".html"}
_SAMPLED_FINDINGS = 20  # delete findings that get sample keys (one small query each)


# --- configuration -------------------------------------------------------------------------------

@dataclass
class Config:
    """The `[report]` table of the config file. Durations are timedeltas."""

    baseline: timedelta = timedelta(days=14)
    overlap: timedelta = timedelta(hours=1)
    fail_on: str = "high"
    renotify_after: timedelta = timedelta(hours=24)
    state_retention: timedelta = timedelta(days=30)
    allowlist: Allowlist = field(default_factory=Allowlist)
    encryption_rules: list[dict[str, Any]] = field(default_factory=list)
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    notify: dict[str, Any] = field(default_factory=dict)

    def settings(self, name: str) -> dict[str, Any]:
        return {**DETECTORS[name].defaults, **self.detectors.get(name, {})}


_TOP_KEYS = {"baseline", "overlap", "fail_on", "renotify_after", "state_retention", "allowlist",
             "encryption_rules", "detectors", "notify"}
_NOTIFY_KEYS = {"sns_topic_arn", "webhook_url", "min_severity", "timeout", "region"}
_ENCRYPTION_TYPES = ("SSE-S3", "SSE-KMS", "DSSE-KMS", "SSE-C")


def load_config(path: str | os.PathLike | None = None, table: dict[str, Any] | None = None,
                required: bool = True) -> Config:
    """The report settings from the `[report]` table of a TOML file (or an already-parsed table).

    Any unknown key, wrong type or unknown detector is a BadInput naming the key (exit 2).
    """
    where = str(path) if path is not None else "config"
    if table is None:
        if path is None:
            return Config()
        target = Path(path).expanduser()
        if not target.is_file():
            if required:
                raise BadInput(f"config file not found: {target}")
            return Config()
        try:
            document = tomllib.loads(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise BadInput(f"cannot read config file {target}: {' '.join(str(exc).split())}") from None
        table = document.get("report", {})
    return parse_config(table, where)


def parse_config(table: Any, where: str = "config") -> Config:
    def bad(message: str) -> BadInput:
        return BadInput(f"{where}: [report] {message}")

    if not isinstance(table, dict):
        raise bad("must be a table")
    _unknown(table, _TOP_KEYS, "", bad)
    config = Config()
    for name in ("baseline", "overlap", "renotify_after", "state_retention"):
        if name in table:
            setattr(config, name, _duration(table[name], name, bad))
    if "fail_on" in table:
        config.fail_on = _severity(table["fail_on"], "fail_on", bad)
    allow = table.get("allowlist", {})
    if not isinstance(allow, dict):
        raise bad("allowlist must be a table with cidrs and accounts")
    _unknown(allow, {"cidrs", "accounts"}, "allowlist.", bad)
    cidrs, accounts = _strings(allow.get("cidrs", []), "allowlist.cidrs", bad), \
        _strings(allow.get("accounts", []), "allowlist.accounts", bad)
    try:
        config.allowlist = Allowlist.parse(cidrs, accounts)
    except ValueError as exc:
        raise bad(f"allowlist.cidrs: {exc}") from None
    rules = table.get("encryption_rules", [])
    if not isinstance(rules, list):
        raise bad("encryption_rules must be an array of tables ([[report.encryption_rules]])")
    for i, rule in enumerate(rules):
        label = f"encryption_rules[{i}]"
        if not isinstance(rule, dict):
            raise bad(f"{label} must be a table")
        _unknown(rule, {"bucket", "prefix", "require"}, label + ".", bad)
        if not isinstance(rule.get("prefix"), str) or not rule["prefix"]:
            raise bad(f"{label}.prefix is required (a key prefix such as ssekms-only/)")
        if "bucket" in rule and not isinstance(rule["bucket"], str):
            raise bad(f"{label}.bucket must be a bucket name")
        require = _strings(rule.get("require", []), label + ".require", bad)
        if not require or any(r not in _ENCRYPTION_TYPES for r in require):
            raise bad(f"{label}.require must list encryption types from {', '.join(_ENCRYPTION_TYPES)}")
        config.encryption_rules.append({"bucket": rule.get("bucket"), "prefix": rule["prefix"], "require": require})
    dets = table.get("detectors", {})
    if not isinstance(dets, dict):
        raise bad("detectors must be a table of [report.detectors.NAME] tables")
    for name, values in dets.items():
        if name not in DETECTORS:
            raise bad(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})")
        if not isinstance(values, dict):
            raise bad(f"detectors.{name} must be a table")
        defaults = DETECTORS[name].defaults
        _unknown(values, set(defaults) | {"severity"}, f"detectors.{name}.", bad)
        checked: dict[str, Any] = {}
        for key, value in values.items():
            default = defaults.get(key)
            if key == "severity" or key.endswith("_severity"):
                checked[key] = _severity(value, f"detectors.{name}.{key}", bad)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise bad(f"detectors.{name}.{key} must be true or false")
                checked[key] = value
            elif isinstance(default, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise bad(f"detectors.{name}.{key} must be a number >= 0")
                checked[key] = value
            else:
                checked[key] = value
        config.detectors[name] = checked
    notify = table.get("notify", {})
    if not isinstance(notify, dict):
        raise bad("notify must be a table")
    _unknown(notify, _NOTIFY_KEYS, "notify.", bad)
    if "min_severity" in notify:
        _severity(notify["min_severity"], "notify.min_severity", bad)
    config.notify = dict(notify)
    return config


def _unknown(table: dict, known: set[str], prefix: str, bad) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise bad(f"unknown key {prefix}{unknown[0]!r} (known: {', '.join(sorted(known))})")


def _duration(value: Any, name: str, bad) -> timedelta:
    delta = parse_duration(value) if isinstance(value, str) else None
    if delta is None:
        raise bad(f"{name} must be a duration such as 1h, 14d or 2w (got {value!r})")
    return delta


def _severity(value: Any, name: str, bad) -> str:
    if value not in SEVERITIES:
        raise bad(f"{name} must be one of {', '.join(SEVERITIES)} (got {value!r})")
    return value


def _strings(value: Any, name: str, bad) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{name} must be a list of strings")
    return value


# --- the report -----------------------------------------------------------------------------------

@dataclass
class Report:
    """The outcome of one run: window, findings (worst first), statistics, and what to remember."""

    generated_at: datetime
    since: datetime
    until: datetime
    baseline_since: datetime
    observed_since: datetime
    findings: list[Finding]
    stats: dict[str, Any]
    config: Config
    charts: dict[str, Any] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    state: State | None = None
    _sightings: tuple = ((), ())

    # --- decisions --------------------------------------------------------------------------------
    def at_or_above(self, severity: str, new_only: bool = True) -> list[Finding]:
        rank = severity_rank(severity)
        return [f for f in self.findings if severity_rank(f.severity) >= rank and (f.new or not new_only)]

    def exit_code(self, fail_on: str | None = None) -> int:
        """0: no new finding at or above `fail_on`; 1: some; 3: a notification failed (the worse news)."""
        if any(not n.get("ok") for n in self.notifications):
            return 3
        return 1 if self.at_or_above(fail_on or self.config.fail_on) else 0

    # --- outputs ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": jsonable(self.generated_at),
            "window": {"since": jsonable(self.since), "until": jsonable(self.until)},
            "baseline": {"since": jsonable(self.baseline_since), "until": jsonable(self.since),
                         "observed_since": jsonable(self.observed_since),
                         "hours": round((self.since - self.observed_since).total_seconds() / 3600, 2)},
            "findings": [f.to_dict() for f in self.findings],
            "stats": jsonable(self.stats),
            "notifications": jsonable(self.notifications),
        }

    def to_json(self) -> str:
        return render_json(self)

    def _repr_html_(self) -> str:
        return render_html(self)

    def render(self, fmt: str) -> str:
        return {"json": render_json, "markdown": render_markdown, "html": render_html}[fmt](self)

    # --- state ---------------------------------------------------------------------------------------
    def commit(self, state: State | None = None) -> State | None:
        """Record this run in the state (watermark, sightings, reported findings and events) and save it."""
        state = state or self.state
        if state is None:
            return None
        ips, requesters = self._sightings
        state.see(dict(ips), dict(requesters))
        for f in self.findings:
            previous = state.reported.get(f.fingerprint, {})
            last = max(filter(None, [f.last_seen, _parse(previous.get("last_seen"))]), default=None)
            state.reported[f.fingerprint] = {
                "detector": f.detector, "bucket": f.bucket, "severity": f.severity, "title": f.title,
                "first_reported": previous.get("first_reported", jsonable(self.generated_at)),
                "last_seen": jsonable(last)}
            state.remember_events(((e, f.last_seen or self.until) for e in f.events))
        state.watermark = max(filter(None, [state.watermark, self.until]))
        state.runs += 1
        state.prune(keep_events_after=self.until - self.config.overlap - timedelta(days=1),
                    keep_reported_after=self.until - self.config.state_retention)
        if state.path is not None:
            state.save()
        return state


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def resolve_window(now: datetime, since: Any = None, until: Any = None, state: State | None = None,
                   overlap: timedelta = timedelta(hours=1)) -> tuple[datetime, datetime]:
    """[since, until): until defaults to now; since to the state's watermark minus the overlap, else 24h."""
    def stamp(value: Any, reference: datetime, name: str) -> datetime:
        if isinstance(value, datetime):
            return utc_naive(value)
        try:
            return parse_timestamp(str(value), reference)
        except ValueError as exc:
            raise BadInput(f"--{name}: {exc} (got {str(value)[:60]!r})") from None

    end = stamp(until, now, "until") if until is not None else now
    if since is not None:
        start = stamp(since, end, "since")
    elif state is not None and state.watermark is not None:
        start = min(state.watermark - overlap, end)
    else:
        start = end - timedelta(hours=24)
    if start >= end:
        raise BadInput(f"the report window is empty: since {start.isoformat()} is not before until {end.isoformat()}")
    return start, end


def run(session, since: Any = None, until: Any = None, baseline: Any = None,
        config: Config | str | os.PathLike | None = None, state: State | str | os.PathLike | None = None) -> Report:
    """Run every detector over [since, until) against the baseline [since - baseline, since).

    `since`/`until` take the query parameter forms (ISO 8601, `now`, a duration such as 24h);
    `baseline` a duration (default: the config's, 14d). `config` is a Config or a TOML file with a
    [report] table. `state` is a State or a state file path: it supplies the default `since`, the
    first-seen sets and what was reported before; call `Report.commit()` to record this run in it.
    """
    if not isinstance(config, Config):
        config = load_config(config) if config is not None else Config()
    if state is not None and not isinstance(state, State):
        state = State.load(state)
    now = session.clock()
    start, end = resolve_window(now, since, until, state, config.overlap)
    span = config.baseline
    if baseline is not None:
        span = baseline if isinstance(baseline, timedelta) else parse_duration(str(baseline))
        if span is None:
            raise BadInput(f"--baseline: expected a duration such as 7d or 14d (got {str(baseline)[:60]!r})")
    baseline_since = start - span
    results: list[Any] = []

    def query(name: str, **values: Any):
        result = session.run(name, values)
        results.append(result)
        return result

    activity = query("detect_activity", baseline_since=baseline_since, since=start, until=end)
    activity_rows = activity.arrow().to_pylist()
    seen = state.events if state is not None else {}

    def fresh(rows):
        return [r for r in rows if event_id(r["bucket"], r["key"], r["sequence_number"]) not in seen]

    rows = lambda result: result.arrow().to_pylist(maps_as_pydicts="strict")  # noqa: E731
    enabled = {name for name in DETECTORS if config.settings(name)["enabled"]}
    inputs = Inputs(since=start, until=end, baseline_since=baseline_since, activity=activity_rows,
                    known_ips=dict(state.first_seen_ips) if state else {},
                    known_requesters=dict(state.first_seen_requesters) if state else {})
    if {"unencrypted_upload", "encryption_rule"} & enabled:
        inputs.unencrypted = fresh(rows(query("detect_unencrypted_uploads", since=start, until=end)))
    if "encryption_rule" in enabled:
        inferred = _detectors.encryption.inferred_rules(
            activity_rows, config.encryption_rules, int(config.settings("encryption_rule")["infer_min_uploads"]))
        for rule in [*config.encryption_rules, *inferred]:
            found = query("detect_unencrypted_uploads", since=start, until=end, bucket=rule["bucket"],
                          prefix=rule["prefix"], allowed=",".join(rule["require"]))
            inputs.rule_violations.append((rule, fresh(rows(found))))
    if "encryption_downgrade" in enabled:
        inputs.encryption_changes = fresh(rows(query("detect_encryption_changes", lookback_since=baseline_since,
                                                     since=start, until=end)))
    if "malware" in enabled:
        inputs.malware = fresh(rows(query("detect_malware", since=start, until=end)))

    findings = _detectors.run_all(inputs, config.detectors, config.allowlist, config.encryption_rules)
    for f in [f for f in findings if f.sample][:_SAMPLED_FINDINGS]:
        params = {k: v for k, v in f.sample.items() if v is not None}
        params["until"] = params["until"] + timedelta(microseconds=1)
        sample = query("detect_delete_samples", **params).arrow().to_pylist()
        f.evidence["sample_keys"] = [r["key"] for r in sample[:10]]
    if state is not None:
        for f in findings:
            previous = state.reported.get(f.fingerprint)
            last = _parse(previous.get("last_seen")) if previous else None
            # Reported before, and still the same incident (not quiet for renotify_after since).
            f.new = not (previous and (last is None or f.first_seen is None
                                       or f.first_seen - last <= config.renotify_after))

    pairs = [r for r in activity_rows if r["grain"] == "pair"]
    ips: dict[str, datetime] = {}
    requesters: dict[str, datetime] = {}
    for r in pairs:
        for column, into in (("source_ip_address", ips), ("requester", requesters)):
            value = r[column]
            if value is not None and (value not in into or r["first_seen"] < into[value]):
                into[value] = r["first_seen"]

    stats = _stats(session, results, activity_rows, findings)
    report = Report(generated_at=now, since=start, until=end, baseline_since=baseline_since,
                    observed_since=inputs.observed_start(), findings=findings, stats=stats, config=config,
                    charts=_charts(activity_rows, start, end, findings), state=state,
                    _sightings=(tuple(ips.items()), tuple(requesters.items())))
    return report


def scheduled(open_session: Callable[[], Any], config: Config, *, state_path: str | os.PathLike | None = None,
              since: Any = None, until: Any = None, baseline: Any = None, fail_on: str | None = None,
              sns_topic_arn: str | None = None, webhook_url: str | None = None,
              write: Callable[[Report], None] | None = None) -> Report:
    """One unattended run: lock the state, run the detectors, notify, write the outputs, advance the state.

    The state advances last, and only when every notification went out: a crash, or a failed
    notification, makes the next run read this window again rather than lose it. `open_session`
    is called once the lock is held; `write` receives the report before the state advances.
    """
    from .notify import notify
    from .state import lock

    with contextlib.ExitStack() as stack:
        state = None
        if state_path:
            stack.enter_context(lock(state_path))
            state = State.load(state_path)
        with open_session() as session:
            report = run(session, since=since, until=until, baseline=baseline, config=config, state=state)
        channels = config.notify
        notify(report, sns_topic_arn=sns_topic_arn or channels.get("sns_topic_arn"),
               webhook_url=webhook_url or channels.get("webhook_url"),
               min_severity=channels.get("min_severity", fail_on or config.fail_on),
               timeout=float(channels.get("timeout", 10)), region=channels.get("region"))
        if write is not None:
            write(report)
        if state is not None and all(n.get("ok") for n in report.notifications):
            report.commit(state)
    return report


def _stats(session, results, activity_rows, findings) -> dict[str, Any]:
    by_severity = {s: 0 for s in SEVERITIES}
    for f in findings:
        by_severity[f.severity] += 1
    window = sum(int(r["events"]) for r in activity_rows if r["grain"] == "prefix" and r["in_window"])
    base = sum(int(r["events"]) for r in activity_rows if r["grain"] == "prefix" and not r["in_window"])
    stats: dict[str, Any] = {
        "engine": session.engine.name,
        "queries": len(results),
        "elapsed_seconds": round(sum(r.stats.get("elapsed_seconds") or 0 for r in results), 3),
        "window_events": window, "baseline_events": base,
        "findings": len(findings), "new_findings": sum(1 for f in findings if f.new),
        "by_severity": by_severity,
    }
    if any("data_scanned_bytes" in r.stats or "cost_usd" in r.stats for r in results):
        stats["data_scanned_bytes"] = sum(r.stats.get("data_scanned_bytes") or 0 for r in results)
        stats["cost_usd"] = sum(r.stats.get("cost_usd") or 0.0 for r in results)
    return stats


# --- chart data -----------------------------------------------------------------------------------

KINDS = ("CREATE", "UPDATE_METADATA", "DELETE_MARKER", "DELETE")


def _charts(rows, since, until, findings) -> dict[str, Any]:
    start = since.replace(minute=0, second=0, microsecond=0)
    hours = max(1, math.ceil((until - start).total_seconds() / 3600))
    step = max(1, math.ceil(hours / 168))  # at most 168 columns: hourly for a week, coarser beyond
    bins = math.ceil(hours / step)
    series = {k: [0] * bins for k in KINDS}
    prefixes: dict[str, int] = {}
    ips: dict[str, int] = {}
    for r in rows:
        if not r["in_window"]:
            continue
        if r["grain"] == "prefix":
            i = int((r["hour"] - start).total_seconds() // 3600) // step
            if 0 <= i < bins and r["kind"] in series:
                series[r["kind"]][i] += int(r["events"])
            label = f"{r['bucket']}/{r['top_level_prefix']}"
            prefixes[label] = prefixes.get(label, 0) + int(r["events"])
        elif r["grain"] == "pair" and r["source_ip_address"] is not None:
            ips[r["source_ip_address"]] = ips.get(r["source_ip_address"], 0) + int(r["events"])
    marks = []
    for f in findings:
        if f.first_seen is None or severity_rank(f.severity) < severity_rank("medium"):
            continue
        i = int((f.first_seen - start).total_seconds() // 3600) // step
        if 0 <= i < bins:
            marks.append({"bin": i, "severity": f.severity, "title": f.title})
    return {"start": start, "step_hours": step, "bins": bins, "series": series, "marks": marks,
            "top_prefixes": _detectors.top(prefixes, 10), "top_ips": _detectors.top(ips, 10)}


# --- renderers ------------------------------------------------------------------------------------

def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _md(value: Any, width: int = 200) -> str:
    # The same escaping as query results in Markdown (analytics.output): keys are user-chosen text.
    return html.escape(display(value, width=width), quote=False).replace("|", "\\|").replace("`", "\\`") \
        .replace("*", "\\*").replace("_", "\\_").replace("[", "\\[").replace("]", "\\]")


def render_markdown(report: Report) -> str:
    d = report.to_dict()
    out = io.StringIO()
    out.write("# S3 Metadata anomaly report\n\n")
    out.write(f"Window {_md(d['window']['since'])} to {_md(d['window']['until'])} (UTC); baseline from "
              f"{_md(d['baseline']['since'])} (observed from {_md(d['baseline']['observed_since'])}).\n\n")
    counts = ", ".join(f"{n} {s}" for s, n in reversed(list(report.stats["by_severity"].items())) if n)
    out.write(f"**{len(report.findings)} findings** ({counts or 'none'}); {report.stats['new_findings']} new. "
              f"{report.stats['window_events']} journal records in the window.\n\n")
    if report.findings:
        out.write("| severity | detector | bucket | title | new |\n| --- | --- | --- | --- | --- |\n")
        for f in report.findings:
            out.write(f"| {_md(f.severity)} | {_md(f.detector)} | {_md(f.bucket)} | {_md(f.title)} | "
                      f"{'yes' if f.new else 'no'} |\n")
        out.write("\n")
    for i, f in enumerate(d["findings"], 1):
        out.write(f"## {i}. {_md(f['title'])}\n\n")
        out.write(f"- severity: **{_md(f['severity'])}**, detector: {_md(f['detector'])}, bucket: "
                  f"{_md(f['bucket'])}, new: {'yes' if f['new'] else 'no'}, fingerprint: {_md(f['fingerprint'])}\n")
        for key, value in f["evidence"].items():
            out.write(f"- {_md(key)}: {_md(_compact(value), 400)}\n")
        out.write(f"- runbook: {_md(f['runbook'], 1000)}\n\n")
    if report.notifications:
        out.write("## Notifications\n\n")
        for n in report.notifications:
            out.write(f"- {_md(n.get('channel'))}: {'ok' if n.get('ok') else 'FAILED ' + _md(n.get('error'))}\n")
        out.write("\n")
    stats = {k: v for k, v in report.stats.items() if k != "by_severity"}
    out.write("Stats: " + ", ".join(f"{_md(k)} {_md(v)}" for k, v in stats.items()) + "\n")
    return out.getvalue()


def _compact(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(jsonable(value), ensure_ascii=False)
    return value


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2430;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#5a6472}table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border-bottom:1px solid #e3e7ed;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f5f7fa;font-weight:600}.sev{font-weight:700;text-transform:uppercase;font-size:12px}
.critical{color:#fff;background:#8b0000}.high{color:#fff;background:#d9480f}.medium{background:#ffd43b}
.low{background:#d0ebff}.info{background:#e9ecef}.sev span{padding:2px 6px;border-radius:3px}
details{margin:6px 0;border:1px solid #e3e7ed;border-radius:4px;padding:6px 10px}
summary{cursor:pointer}code,pre{font:12px ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;
word-break:break-all}.charts{display:flex;flex-wrap:wrap;gap:18px}.legend span{margin-right:12px}
"""
_COLORS = {"CREATE": "#4c6ef5", "UPDATE_METADATA": "#20c997", "DELETE_MARKER": "#f76707", "DELETE": "#c92a2a"}
_MARK_COLORS = {"critical": "#8b0000", "high": "#d9480f", "medium": "#f59f00"}


def _e(value: Any) -> str:
    """Every data value goes through here: html.escape with quotes, and control characters shown."""
    return html.escape(display(value, width=10_000), quote=True)


def render_html(report: Report) -> str:
    """A standalone page: inline CSS and SVG only, every data value escaped."""
    d = report.to_dict()
    parts = ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<title>S3 Metadata anomaly report</title>",
             f"<style>{_CSS}</style></head><body>",
             "<h1>S3 Metadata anomaly report</h1>",
             f"<p class=\"meta\">Window {_e(d['window']['since'])} to {_e(d['window']['until'])} UTC; "
             f"baseline from {_e(d['baseline']['since'])} (observed from {_e(d['baseline']['observed_since'])}); "
             f"generated {_e(d['generated_at'])}.</p>"]
    sev = report.stats["by_severity"]
    parts.append("<p>" + " ".join(f"<span class=\"sev {s}\"><span>{_e(sev[s])} {_e(s)}</span></span>"
                                  for s in reversed(SEVERITIES)) +
                 f" &middot; {_e(report.stats['new_findings'])} new &middot; "
                 f"{_e(report.stats['window_events'])} records in the window</p>")
    parts.append("<h2>Activity</h2><div class=\"charts\">")
    parts.append(_svg_activity(report.charts))
    parts.append(_svg_bars("Top prefixes (window)", report.charts["top_prefixes"]))
    parts.append(_svg_bars("Top source IPs (window)", report.charts["top_ips"]))
    parts.append("</div>")
    parts.append("<h2>Findings</h2>")
    if not report.findings:
        parts.append("<p>No findings.</p>")
    else:
        parts.append("<table><tr><th>severity</th><th>detector</th><th>bucket</th><th>title</th><th>new</th></tr>")
        for f in d["findings"]:
            parts.append(f"<tr><td class=\"sev {_e(f['severity'])}\"><span>{_e(f['severity'])}</span></td>"
                         f"<td>{_e(f['detector'])}</td><td>{_e(f['bucket'])}</td><td>{_e(f['title'])}</td>"
                         f"<td>{'yes' if f['new'] else 'no'}</td></tr>")
        parts.append("</table>")
        for f in d["findings"]:
            rows = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(_compact(v))}</code></td></tr>"
                           for k, v in f["evidence"].items())
            parts.append(f"<details><summary><span class=\"sev {_e(f['severity'])}\"><span>{_e(f['severity'])}"
                         f"</span></span> {_e(f['title'])}</summary><table>"
                         f"<tr><th>bucket</th><td>{_e(f['bucket'])}</td></tr>{rows}"
                         f"<tr><th>runbook</th><td>{_e(f['runbook'])}</td></tr>"
                         f"<tr><th>fingerprint</th><td><code>{_e(f['fingerprint'])}</code></td></tr></table></details>")
    if report.notifications:
        parts.append("<h2>Notifications</h2><ul>" + "".join(
            f"<li>{_e(n.get('channel'))}: {'ok' if n.get('ok') else 'FAILED: ' + _e(n.get('error'))}</li>"
            for n in report.notifications) + "</ul>")
    stats = {k: v for k, v in d["stats"].items() if k != "by_severity"}
    parts.append("<h2>Run</h2><table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                                 for k, v in stats.items()) + "</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _svg_activity(c: dict[str, Any]) -> str:
    width, height, pad = 640, 220, 36
    bins = c["bins"]
    totals = [sum(c["series"][k][i] for k in KINDS) for i in range(bins)]
    top_value = max(totals + [1])
    bw = (width - pad - 8) / bins
    out = [f"<figure><figcaption>Records per {_e(c['step_hours'])} h by record type, anomalies marked"
           f"</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" "
           f"role=\"img\" aria-label=\"activity\">",
           f"<line x1=\"{pad}\" y1=\"{height - 20}\" x2=\"{width - 8}\" y2=\"{height - 20}\" stroke=\"#adb5bd\"/>",
           f"<text x=\"2\" y=\"14\" font-size=\"10\">{_e(top_value)}</text>",
           f"<text x=\"2\" y=\"{height - 22}\" font-size=\"10\">0</text>"]
    plot = height - 40
    for i in range(bins):
        y = height - 20
        for kind in KINDS:
            n = c["series"][kind][i]
            if not n:
                continue
            h = n / top_value * plot
            y -= h
            out.append(f"<rect x=\"{pad + i * bw:.1f}\" y=\"{y:.1f}\" width=\"{max(bw - 1, 0.5):.1f}\" "
                       f"height=\"{h:.1f}\" fill=\"{_COLORS[kind]}\"><title>{_e(kind)}: {_e(n)}</title></rect>")
    for m in c["marks"]:
        x = pad + (m["bin"] + 0.5) * bw
        color = _MARK_COLORS.get(m["severity"], "#f59f00")
        out.append(f"<path d=\"M{x - 5:.1f},4 L{x + 5:.1f},4 L{x:.1f},13 Z\" fill=\"{color}\">"
                   f"<title>{_e(m['severity'])}: {_e(m['title'])}</title></path>"
                   f"<line x1=\"{x:.1f}\" y1=\"13\" x2=\"{x:.1f}\" y2=\"{height - 20}\" stroke=\"{color}\" "
                   f"stroke-dasharray=\"3,3\"/>")
    out.append(f"<text x=\"{pad}\" y=\"{height - 5}\" font-size=\"10\">{_e(c['start'])}</text></svg>")
    out.append("<div class=\"legend\">" + "".join(
        f"<span><svg width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" fill=\"{_COLORS[k]}\"/></svg> "
        f"{_e(k)}</span>" for k in KINDS) + "</div></figure>")
    return "".join(out)


def _svg_bars(title: str, values: dict[str, int]) -> str:
    width, row = 420, 18
    height = max(row * len(values) + 8, 30)
    top_value = max(list(values.values()) + [1])
    out = [f"<figure><figcaption>{_e(title)}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" "
           f"width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{_e(title)}\">"]
    for i, (label, n) in enumerate(values.items()):
        w = n / top_value * 180
        y = 4 + i * row
        out.append(f"<text x=\"0\" y=\"{y + 12}\" font-size=\"11\">{_e(display(label, 34))}</text>"
                   f"<rect x=\"200\" y=\"{y}\" width=\"{w:.1f}\" height=\"{row - 4}\" fill=\"#4c6ef5\">"
                   f"<title>{_e(label)}: {_e(n)}</title></rect>"
                   f"<text x=\"{204 + w:.1f}\" y=\"{y + 12}\" font-size=\"11\">{_e(n)}</text>")
    if not values:
        out.append("<text x=\"0\" y=\"18\" font-size=\"11\">no activity</text>")
    out.append("</svg></figure>")
    return "".join(out)


def output_paths(output: str | None, formats: list[str]) -> dict[str, str | None]:
    """Where each format goes: one format to --output (or stdout); several to --output's stem + extension."""
    if not output:
        return {fmt: None for fmt in formats}
    if len(formats) == 1:
        return {formats[0]: output}
    base = Path(output)
    stem = base.with_suffix("") if base.suffix in _EXTENSIONS.values() else base
    return {fmt: str(stem) + _EXTENSIONS[fmt] for fmt in formats}


__all__ = ["Config", "Report", "run", "load_config", "parse_config", "render_json", "render_markdown",
           "render_html", "resolve_window", "FORMATS"]
