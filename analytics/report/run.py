"""One report run: the window, the detector queries, the detectors' findings, and the state.

One aggregate query (detect_activity) reads the journal once for the window and the baseline;
each detector that needs row-level facts declares its evidence query (analytics.detectors.register),
which runs over the window only. With a state (analytics.report.state) the window starts at the
last watermark minus an overlap, already-reported events are dropped, and findings reported before
are marked "new": false.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from .. import detectors as _detectors
from ..catalog import Query
from ..detectors import DETECTORS, SEVERITIES, Finding, Inputs, severity_rank
from ..errors import BadInput
from ..params import parse_duration, parse_timestamp, utc_naive
from ..values import jsonable
from .config import Config, load_config
from .render import RENDERERS, chart_data
from .rules import findings as rule_findings
from .state import State, event_id

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

    def render(self, fmt: str) -> str:
        return RENDERERS[fmt](self)

    def to_json(self) -> str:
        return self.render("json")

    def _repr_html_(self) -> str:
        return self.render("html")

    # --- state ---------------------------------------------------------------------------------------
    def commit(self, state: State | None = None) -> State | None:
        """Record this run in the state (watermark, sightings, reported findings and events) and save it."""
        state = state or self.state
        if state is None:
            return None
        state.record(self)
        if state.path is not None:
            state.save()
        return state


def resolve_window(now: datetime, since: Any = None, until: Any = None, state: State | None = None,
                   overlap: timedelta = timedelta(hours=1)) -> tuple[datetime, datetime]:
    """[since, until): until defaults to now; since to the state's watermark minus the overlap, else 24h."""
    def stamp(value: Any, reference: datetime, name: str) -> datetime:
        if isinstance(value, datetime):
            return utc_naive(value)
        try:
            return parse_timestamp(str(value), reference)
        except ValueError as exc:
            raise BadInput(f"{name}: {exc} (got {str(value)[:60]!r})") from exc

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
            raise BadInput(f"baseline: expected a duration such as 7d or 14d (got {str(baseline)[:60]!r})")
    window = {"baseline_since": start - span, "since": start, "until": end}
    results: list[Any] = []

    def query(name: str | Query, values: dict[str, Any]) -> list[dict[str, Any]]:
        result = session.run(name, values)
        results.append(result)
        return result.arrow().to_pylist(maps_as_pydicts="strict")

    activity = query("detect_activity", window)
    seen = state.events if state is not None else {}
    inputs = Inputs(since=start, until=end, baseline_since=window["baseline_since"], activity=activity,
                    known_ips=dict(state.first_seen_ips) if state else {},
                    known_requesters=dict(state.first_seen_requesters) if state else {})
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

    return Report(generated_at=now, since=start, until=end, baseline_since=window["baseline_since"],
                  observed_since=inputs.observed_start(), findings=findings,
                  stats=_stats(session, results, activity, findings), config=config,
                  charts=chart_data(activity, start, end, findings), state=state,
                  sightings=(tuple(ips.items()), tuple(requesters.items())))


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


__all__ = ["Report", "run", "resolve_window", "scheduled", "SCHEMA_VERSION"]
