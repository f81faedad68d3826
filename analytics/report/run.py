"""One report run: the window, the detector queries, the detectors' findings, and the state.

One aggregate query (detect_activity) reads the journal once for the window and the baseline;
each detector that needs row-level facts declares its evidence query (analytics.detectors.register),
which runs over the window only. With a state (analytics.report.state) the window starts at the
last watermark minus an overlap (reaching back at most `max_catch_up`), already-reported events
are dropped, and findings reported before are marked "new": false.

"In the window" has one meaning everywhere: since <= record_timestamp < until. While the baseline
actually observed is shorter than `min_baseline` the report is learning: novelty is not evidence,
so findings that rest on the baseline are held at info (see analytics.detectors.run_all).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, NamedTuple

from .. import detectors as _detectors
from ..catalog import Query
from ..detectors import DETECTORS, SEVERITIES, Finding, Inputs, severity_rank
from ..errors import BadInput
from ..params import parse_span, parse_timestamp, utc_naive
from ..values import jsonable
from .config import Config, load_config
from .incidents import Incident, group
from .render import RENDERERS, chart_data
from .rules import findings as rule_findings
from .state import State, event_id, lock

SCHEMA_VERSION = 1
_SAMPLED_FINDINGS = 20  # delete findings that get sample keys (one small query each)


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
    # First sightings in this run (value -> first time), for the state's first-seen sets.
    sightings: tuple = ((), ())
    min_baseline: timedelta = timedelta(0)  # below this much observed baseline, the report is learning
    skipped_since: datetime | None = None  # the catch-up cap left [skipped_since, since) unreported
    notes: list[str] = field(default_factory=list)  # what a reader must know about this run, one line each
    # Related findings grouped (analytics.report.incidents); computed from `findings` when not given.
    incidents: list[Incident] | None = None

    def __post_init__(self) -> None:
        if self.incidents is None:
            self.incidents = group(self.findings)

    @property
    def baseline_hours(self) -> float:
        return round((self.since - self.observed_since).total_seconds() / 3600, 2)

    @property
    def learning(self) -> bool:
        return self.since - self.observed_since < self.min_baseline

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
        of = {id(f): i for i in self.incidents or [] for f in i.findings}
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": jsonable(self.generated_at),
            "window": {"since": jsonable(self.since), "until": jsonable(self.until)},
            "baseline": {"since": jsonable(self.baseline_since), "until": jsonable(self.since),
                         "observed_since": jsonable(self.observed_since), "hours": self.baseline_hours,
                         "learning": self.learning,
                         "min_hours": round(self.min_baseline.total_seconds() / 3600, 2)},
            "skipped": {"since": jsonable(self.skipped_since), "until": jsonable(self.since)}
            if self.skipped_since else None,
            "notes": list(self.notes),
            "findings": [self._finding_dict(f, of.get(id(f))) for f in self.findings],
            "incidents": [i.to_dict() for i in self.incidents or []],
            "stats": jsonable(self.stats),
            "notifications": jsonable(self.notifications),
        }

    @staticmethod
    def _finding_dict(f: Finding, incident: Incident | None) -> dict[str, Any]:
        # Added to the finding's own fields: when it was seen, and the incident it belongs to.
        return {**f.to_dict(), "first_seen": jsonable(f.first_seen), "last_seen": jsonable(f.last_seen),
                "incident": incident.id if incident else None}

    def render(self, fmt: str) -> str:
        return RENDERERS[fmt](self)

    def to_json(self) -> str:
        return self.render("json")

    def _repr_html_(self) -> str:
        return self.render("html")

    # --- state ---------------------------------------------------------------------------------------
    def commit(self, state: State | None = None) -> State | None:
        """Record this run in the state (watermark, sightings, reported findings and events) and save it.

        Saving takes the state's lock (unless this process holds it already, as `scheduled` does)
        and refuses, with StateChanged, to overwrite a state another run saved after this one read it.
        """
        state = state or self.state
        if state is None:
            return None
        with state.updating() if state.path is not None else contextlib.nullcontext():
            state.record(self)
        return state


class Window(NamedTuple):
    """A report window [since, until), and where the catch-up cap made it start later than asked."""

    since: datetime
    until: datetime
    skipped_since: datetime | None = None  # [skipped_since, since) is not reported


def resolve_window(now: datetime, since: Any = None, until: Any = None, state: State | None = None,
                   config: Config | None = None) -> Window:
    """[since, until): until defaults to now; since to the state's watermark minus the overlap, else 24h.

    `until` may lie at most `clock_skew` after now: a report cannot cover the future, and a state
    would keep a future watermark. A state whose watermark lies after now is a one-line error
    naming the file and the fix. From a watermark older than `max_catch_up` the window starts at
    until - max_catch_up, and `skipped_since` says what is left out.
    """
    config = config or Config()

    def stamp(value: Any, reference: datetime, name: str) -> datetime:
        if isinstance(value, datetime):
            return utc_naive(value)
        try:
            return parse_timestamp(str(value), reference)
        except ValueError as exc:
            raise BadInput(f"{name}: {exc} (got {str(value)[:60]!r})") from exc

    latest = now + config.clock_skew
    end = stamp(until, now, "until") if until is not None else now
    if end > latest:
        raise BadInput(f"until {end.isoformat()} is after now ({now.isoformat(timespec='seconds')} UTC): a report "
                       f"cannot cover the future (clock_skew allows {_hours(config.clock_skew)})")
    skipped = None
    if since is not None:
        start = stamp(since, end, "since")
    elif state is not None and state.watermark is not None:
        mark = state.watermark.isoformat()
        if state.watermark > latest:
            raise BadInput(f"state file {state.path}: its watermark {mark} is after now "
                           f"({now.isoformat(timespec='seconds')} UTC), so every window would be empty (a run was "
                           "given a future --until, or a clock was wrong): run once with --since, such as "
                           "--since 24h, to reset it")
        start = state.watermark - config.overlap
        if start >= end:
            raise BadInput(f"state file {state.path}: its watermark {mark} minus the overlap is not before --until "
                           f"{end.isoformat()}: that window was reported already (give --since to report it again)")
        if start < end - config.max_catch_up:
            skipped, start = start, end - config.max_catch_up
    else:
        start = end - timedelta(hours=24)
    if start >= end:
        raise BadInput(f"the report window is empty: since {start.isoformat()} is not before until {end.isoformat()}")
    return Window(start, end, skipped)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h" if hours >= 1 else f"{delta.total_seconds() / 60:g} min"


def run(session, since: Any = None, until: Any = None, baseline: Any = None,
        config: Config | str | os.PathLike | None = None, state: State | str | os.PathLike | None = None) -> Report:
    """Run every detector over [since, until) against the baseline [since - baseline, since).

    `since`/`until` take the query parameter forms (ISO 8601, `now`, a duration such as 24h);
    `baseline` a duration (default: the config's, 14d). `config` is a Config or a TOML file with a
    [report] table. `state` is a State or a state file path: it supplies the default `since`, the
    first-seen sets and what was reported before; call `Report.commit()` to record this run in it.
    A state given as a path is read under its lock, held while the run lasts: a run while a
    scheduled one holds it is StateLocked (exit 3), and `commit()` takes the lock again to save.
    """
    if not isinstance(config, Config):
        config = load_config(config) if config is not None else Config()
    with contextlib.ExitStack() as stack:
        if state is not None and not isinstance(state, State):
            stack.enter_context(lock(state))
            state = State.load(state)
        return _run(session, since, until, baseline, config, state)


def _run(session, since: Any, until: Any, baseline: Any, config: Config, state: State | None) -> Report:
    now = session.clock()
    start, end, skipped = resolve_window(now, since, until, state, config)
    try:
        span = config.baseline if baseline is None else parse_span(baseline)
    except ValueError as exc:
        raise BadInput(f"baseline: {exc}") from None
    window = {"baseline_since": start - span, "since": start, "until": end}
    results: list[Any] = []

    def query(name: str | Query, values: dict[str, Any]) -> list[dict[str, Any]]:
        result = session.run(name, values)
        results.append(result)
        return result.arrow().to_pylist(maps_as_pydicts="strict")

    activity = query("detect_activity", window)
    seen = state.events if state is not None else {}
    # A baseline asked to be shorter than min_baseline can never cover it: the shorter one is the bar.
    inputs = Inputs(since=start, until=end, baseline_since=window["baseline_since"], activity=activity,
                    known_ips=dict(state.first_seen_ips) if state else {},
                    known_requesters=dict(state.first_seen_requesters) if state else {},
                    min_baseline=min(config.min_baseline, span))
    _fetch_evidence(session, query, inputs, config, window, seen)

    findings = _detectors.worst_first(
        _detectors.run_all(inputs, config.detectors, config.allowlist, config.encryption_rules)
        + rule_findings(config.rules, query, window))
    for f in [f for f in findings if f.sample][:_SAMPLED_FINDINGS]:
        params = {k: v for k, v in f.sample.items() if v is not None}
        params["until"] = params["until"] + timedelta(microseconds=1)
        f.evidence["sample_keys"] = [r["key"] for r in query("detect_delete_samples", params)[:10]]
    if state is not None:
        for f in findings:
            f.new = state.is_new(f, config.renotify_after)

    ips: dict[str, datetime] = {}
    requesters: dict[str, datetime] = {}
    for r in inputs.grain("pair"):
        for column, into in (("source_ip_address", ips), ("requester", requesters)):
            value = r[column]
            if value is not None and (value not in into or r["first_seen"] < into[value]):
                into[value] = r["first_seen"]

    report = Report(generated_at=now, since=start, until=end, baseline_since=window["baseline_since"],
                    observed_since=inputs.observed_start(), findings=findings,
                    stats=_stats(session, results, activity, findings), config=config,
                    charts=chart_data(activity, start, end, findings), state=state,
                    sightings=(tuple(ips.items()), tuple(requesters.items())),
                    min_baseline=inputs.min_baseline, skipped_since=skipped)
    if skipped is not None:
        report.notes.append(
            f"catch-up capped: the state's watermark is {(skipped + config.overlap).isoformat()}, older than "
            f"max_catch_up ({_hours(config.max_catch_up)}); {skipped.isoformat()} to {start.isoformat()} is not "
            f"reported (run s3meta report --since {skipped.isoformat()} --until {start.isoformat()} to cover it)")
    if report.learning:
        report.notes.append(
            f"learning: the baseline covers {report.baseline_hours:g} h, less than min_baseline "
            f"({_hours(report.min_baseline)}): new requesters and IPs are not reported, and findings that "
            "compare with the baseline are held at info; only absolute rules can page")
    return report


def _fetch_evidence(session, query, inputs: Inputs, config: Config, window: dict[str, Any],
                    seen: dict[str, Any]) -> None:
    """Run each enabled detector's evidence query over the window (once per planned run) into `inputs`.

    A query's parameters named like the window's (since, until, baseline_since) take the window's
    values; a detector's `runs` adds its own per run. Identical runs are fetched once. Events the
    state has already reported are dropped, so overlapping scheduled runs report each event once.
    """
    fetched: dict[tuple, list[dict[str, Any]]] = {}
    for name, detector in DETECTORS.items():
        chosen = _detectors.options(detector, config.detectors, config.allowlist, config.encryption_rules)
        if detector.evidence is None or not chosen["enabled"]:
            continue
        declared = {p.name for p in session.query(detector.evidence).params}
        standard = {k: v for k, v in window.items() if k in declared}
        planned = detector.runs(inputs, chosen) if detector.runs else [(None, {})]
        runs = []
        for context, extra in planned:
            values = {**standard, **extra}
            key = (detector.evidence, tuple(sorted((k, str(v)) for k, v in values.items())))
            if key not in fetched:
                fetched[key] = [r for r in query(detector.evidence, values)
                                if event_id(r["bucket"], r["key"], r["sequence_number"]) not in seen]
            runs.append((context, fetched[key]))
        inputs.evidence[name] = runs


def scheduled(open_session: Callable[[], Any], config: Config, *, state_path: str | os.PathLike | None = None,
              since: Any = None, until: Any = None, baseline: Any = None, fail_on: str | None = None,
              sns_topic_arn: str | None = None, webhook_url: str | None = None,
              write: Callable[[Report], None] | None = None) -> Report:
    """One unattended run: lock the state, run the detectors, notify, write the outputs, advance the state.

    The state advances last, and only when every notification went out: a crash, or a failed
    notification, makes the next run read this window again rather than lose it. `open_session`
    is called once the lock is held; `write` receives the report before the state advances.
    """
    from .notify import check_url, notify

    if webhook_url:
        try:
            check_url(webhook_url)
        except ValueError as exc:
            raise BadInput(f"--webhook: {exc}") from None
    with contextlib.ExitStack() as stack:
        state = stack.enter_context(State.locked(state_path)) if state_path else None
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


__all__ = ["Report", "Window", "run", "resolve_window", "scheduled", "SCHEMA_VERSION"]
