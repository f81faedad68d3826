"""Anomaly detectors: small decisions in Python over the results of the report's catalog queries.

A detector is a function `detect(inputs, settings) -> list[Finding]`, registered with its default
settings and, when it needs row-level facts, the catalog query that fetches them:

    @register("malware", "GuardDuty results ...", evidence="detect_malware", severity="critical")
    def malware(inputs, options):
        for row in inputs.rows("malware"): ...

Every detector reads the aggregate activity rows (`inputs.activity`, one scan of the journal for
window and baseline); the report runs each declared evidence query over the window and hands the
rows over in `inputs.evidence`. Detectors know nothing of engines or SQL text. The report's config
file overrides the defaults per detector (see README, "Scheduled reports").

A finding that rests on the baseline (an actor never seen, more than the usual, a rule inferred
from history) says so with `novelty=True`. While the baseline actually observed is shorter than
`min_baseline` (`inputs.learning`: the journal has just been enabled), such findings are held at
info, so only absolute rules (configured encryption rules, malware, unencrypted uploads,
downgrades) can page; detectors that are nothing but novelty report nothing then.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Callable, Iterable

SEVERITIES = ("info", "low", "medium", "high", "critical")
LIFECYCLE = "s3.amazonaws.com"  # the requester of S3 Lifecycle actions (AWS journal schema)
HOUR = timedelta(hours=1)
LEARNING_SEVERITY = "info"  # the most a novelty finding can be while the report is learning


def severity_rank(name: str) -> int:
    """info 0 < low 1 < medium 2 < high 3 < critical 4; ValueError for anything else."""
    try:
        return SEVERITIES.index(name)
    except ValueError:
        raise ValueError(f"unknown severity {name!r} (expected one of: {', '.join(SEVERITIES)})") from None


@dataclass
class Finding:
    """One anomaly: what, how bad, where, the facts behind it, and what to do about it.

    `subject` holds the key facts that identify the finding across runs (prefix, actor, object);
    with the detector and bucket it makes the fingerprint. `events` are the (bucket, key,
    sequence_number) of row-level evidence, for deduplication across overlapping runs. `last_seen`
    is the time of the newest activity behind the finding.
    """

    detector: str
    severity: str
    title: str
    bucket: str | None
    evidence: dict[str, Any]
    runbook: str
    subject: tuple = ()
    events: tuple = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: dict[str, Any] | None = None  # detect_delete_samples parameters the report runs for sample keys
    new: bool = True
    fingerprint: str = field(default="")
    novelty: bool = False  # rests on the baseline: held at LEARNING_SEVERITY while the report is learning

    def __post_init__(self) -> None:
        severity_rank(self.severity)
        if not self.fingerprint:
            self.fingerprint = fingerprint(self.detector, self.bucket, self.subject, self.events)

    def to_dict(self) -> dict[str, Any]:
        from ..values import jsonable
        return {"detector": self.detector, "severity": self.severity, "title": self.title,
                "bucket": self.bucket, "evidence": jsonable(self.evidence), "runbook": self.runbook,
                "fingerprint": self.fingerprint, "new": self.new}


def fingerprint(detector: str, bucket: str | None, subject: Iterable[Any], events: Iterable[Any] = ()) -> str:
    """A stable hash of the detector, the bucket and the key facts (and row-level events, if any)."""
    text = json.dumps([detector, bucket, [str(s) for s in subject], sorted("/".join(map(str, e)) for e in events)],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- what detectors read ------------------------------------------------------------------------------

@dataclass
class Inputs:
    """The query results a report hands to its detectors.

    `activity` rows come from detect_activity (dicts; `grain` says which grouping). `evidence` holds
    the rows of each detector's evidence query over the window. `known_ips` and `known_requesters` are first-seen
    sets from the report state (value: first sighting), so a baseline survives journal expiry.
    """

    since: datetime
    until: datetime
    baseline_since: datetime
    activity: list[dict[str, Any]] = field(default_factory=list)
    # detector name -> one (context, rows) pair per run of its evidence query; the context is what the
    # detector's `runs` gave for that run (None for the usual single run over the window).
    evidence: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = field(default_factory=dict)
    known_ips: dict[str, datetime] = field(default_factory=dict)
    known_requesters: dict[str, datetime] = field(default_factory=dict)
    min_baseline: timedelta = timedelta(0)  # less observed baseline than this: learning

    def rows(self, detector: str) -> list[dict[str, Any]]:
        """Every evidence row fetched for `detector`, over all its runs."""
        return [row for _, rows in self.evidence.get(detector, []) for row in rows]

    # Both views of `activity` are computed once: every detector asks for them, some once per series,
    # and `activity` is not changed after the report builds it.
    @cached_property
    def _grains(self) -> dict[str, list[dict[str, Any]]]:
        grains: dict[str, list[dict[str, Any]]] = {}
        for row in self.activity:
            grains.setdefault(row["grain"], []).append(row)
        return grains

    def grain(self, name: str) -> list[dict[str, Any]]:
        return self._grains.get(name, [])

    @cached_property
    def _observed_start(self) -> datetime:
        firsts = [r["first_seen"] for r in self.activity if r.get("first_seen") is not None]
        start = max(self.baseline_since, min(firsts)) if firsts else self.since
        return min(start.replace(minute=0, second=0, microsecond=0), self.since)

    def observed_start(self) -> datetime:
        """Start of the baseline actually observed: the baseline start, or the journal's first hour if later."""
        return self._observed_start

    @property
    def baseline_hours(self) -> float:
        """How much baseline the journal actually shows, in hours."""
        return (self.since - self._observed_start).total_seconds() / 3600

    @property
    def learning(self) -> bool:
        """Too little baseline for novelty to be evidence (see the module's docstring)."""
        return self.since - self._observed_start < self.min_baseline


@dataclass
class Allowlist:
    """CIDRs (IPv4 and IPv6) and requesters (account IDs or principals) that never count as new."""

    cidrs: tuple = ()
    accounts: frozenset = frozenset()

    @classmethod
    def parse(cls, cidrs: Iterable[str] = (), accounts: Iterable[str] = ()) -> "Allowlist":
        return cls(tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs), frozenset(accounts))

    def ip(self, value: str | None) -> bool:
        if not value:
            return False
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return False
        return any(address.version == net.version and address in net for net in self.cidrs)

    def requester(self, value: str | None) -> bool:
        return value is not None and value in self.accounts


# --- the registry --------------------------------------------------------------------------------------

# A detector's plan for its evidence query: one (context, parameters) pair per run; the parameters
# are added to the window's (since, until, baseline_since). Most detectors need one run and no plan.
Runs = Callable[[Inputs, dict[str, Any]], list[tuple[Any, dict[str, Any]]]]


@dataclass(frozen=True)
class Detector:
    name: str
    detect: Callable[[Inputs, dict[str, Any]], list[Finding]]
    defaults: dict[str, Any]
    description: str
    evidence: str | None = None  # the catalog query whose rows it reads (Inputs.rows(name))
    runs: Runs | None = None


DETECTORS: dict[str, Detector] = {}


def register(name: str, description: str, *, evidence: str | None = None, runs: Runs | None = None,
             **defaults: Any):
    """Decorator: add a detector, the evidence query it reads, and its default settings.

    Every detector takes `enabled` and `severity`; the other defaults are its thresholds, which the
    config file may override. `runs` plans several runs of the evidence query (one per encryption
    rule, say); without it the query runs once over the window.
    """
    def wrap(fn):
        DETECTORS[name] = Detector(name, fn, {"enabled": True, **defaults}, description, evidence, runs)
        return fn
    return wrap


def options(detector: Detector, settings: dict[str, dict[str, Any]], allowlist: "Allowlist | None" = None,
            encryption_rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A detector's settings: its defaults, the config's overrides, and the shared allowlist and rules."""
    return {**detector.defaults, **settings.get(detector.name, {}),
            "_allowlist": allowlist or Allowlist(), "_rules": encryption_rules or []}


def run_all(inputs: Inputs, settings: dict[str, dict[str, Any]], allowlist: Allowlist | None = None,
            encryption_rules: list[dict[str, Any]] | None = None) -> list[Finding]:
    """Every enabled detector over `inputs`, findings ordered by severity (worst first), then detector."""
    findings: list[Finding] = []
    for name, detector in DETECTORS.items():
        chosen = options(detector, settings, allowlist, encryption_rules)
        if not chosen["enabled"]:
            continue
        found = detector.detect(inputs, chosen)
        override = settings.get(name, {}).get("severity")
        for f in found:
            if override:
                f.severity = override
            if f.novelty and inputs.learning and severity_rank(f.severity) > severity_rank(LEARNING_SEVERITY):
                f.evidence["learning"] = (f"{f.severity} once the baseline covers {_hours(inputs.min_baseline)} "
                                          f"(it covers {round(inputs.baseline_hours, 1):g} h)")
                f.severity = LEARNING_SEVERITY
        findings.extend(found)
    return worst_first(findings)


def worst_first(findings: Iterable[Finding]) -> list[Finding]:
    """Findings ordered by severity (worst first), then detector, bucket and title."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.detector, f.bucket or "", f.title))


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


# --- robust statistics shared by the spike detectors ---------------------------------------------------

def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return 0.0
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def mad(values: list[float], centre: float) -> float:
    """Median absolute deviation, scaled by 1.4826 to estimate a standard deviation under normality."""
    return 1.4826 * median([abs(v - centre) for v in values])


@dataclass
class Spike:
    """A window's peak against its baseline: the numbers a spike finding shows as evidence."""

    peak: int
    peak_hour: datetime
    window_total: int
    threshold: float
    baseline_median: float
    baseline_mad: float
    baseline_peak: int
    baseline_hours: int
    flagged_hours: list[datetime]
    first_seen: datetime | None
    last_seen: datetime | None

    def evidence(self) -> dict[str, Any]:
        return {"count": self.window_total, "peak": self.peak, "peak_hour": self.peak_hour,
                "threshold": round(self.threshold, 2), "baseline": {
                    "median_per_span": self.baseline_median, "mad": round(self.baseline_mad, 2),
                    "peak_per_span": self.baseline_peak, "hours": self.baseline_hours},
                "first_seen": self.first_seen, "last_seen": self.last_seen}


def spike(rows: list[dict[str, Any]], inputs: Inputs, options: dict[str, Any]) -> Spike | None:
    """Whether the rows of one series (hourly counts, window and baseline) hold a spike.

    Counts are summed over a sliding span of `span_hours` hours (default 2, so a burst that straddles
    an hour boundary is not split). A window span is a spike when its count is at least
    `min_count`, above median + `mad_factor` x MAD of the baseline spans (hours without activity count
    as 0), and above `peak_factor` x the busiest baseline span.

    "In the window" means what it means everywhere in the report: record_timestamp >= since. The
    aggregate query splits the hour that straddles `since` by in_window, so a window span counts
    only the window's own records: what an earlier window already held (its burst included) never
    counts again, however the hours fall. Baseline spans are the whole hours before `since`.
    """
    span = max(int(options.get("span_hours", 2)), 1)
    window: dict[datetime, list] = {}  # hour -> [events, first_seen, last_seen], window records only
    base: dict[datetime, int] = {}
    for r in rows:
        hour = r["hour"]
        if r["in_window"]:
            w = window.setdefault(hour, [0, r["first_seen"], r["last_seen"]])
            w[0] += int(r["events"])
            w[1], w[2] = min(w[1], r["first_seen"]), max(w[2], r["last_seen"])
        else:
            base[hour] = base.get(hour, 0) + int(r["events"])
    if not window:
        return None
    # Baseline: every span of whole hours from the observed start that ends at or before since.
    start = inputs.observed_start()
    whole = max(int((inputs.since - start) // HOUR), 0)
    running = [0]
    for i in range(whole):
        running.append(running[-1] + base.get(start + i * HOUR, 0))
    baseline = [float(running[i + 1] - running[i + 1 - span]) for i in range(span - 1, whole)]
    centre = median(baseline)
    spread = mad(baseline, centre)
    base_peak = int(max(baseline, default=0))
    threshold = max(float(options["min_count"]), centre + float(options["mad_factor"]) * spread,
                    float(options["peak_factor"]) * base_peak)

    def total(last: datetime) -> int:  # the window's records in the span that ends with hour `last`
        return sum(window[h][0] for h in (last - i * HOUR for i in range(span)) if h in window)

    candidates = sorted({h + i * HOUR for h in window for i in range(span)})
    flagged = [(n, last) for n, last in ((total(last), last) for last in candidates) if n >= threshold and n > 0]
    if not flagged:
        return None
    peak, last = max(flagged, key=lambda t: (t[0], -t[1].timestamp()))
    hours = sorted({last - i * HOUR for _, last in flagged for i in range(span)} & window.keys())
    return Spike(peak=peak, peak_hour=min(h for h in hours if h > last - span * HOUR),
                 window_total=sum(w[0] for w in window.values()),
                 threshold=threshold, baseline_median=centre, baseline_mad=spread, baseline_peak=base_peak,
                 baseline_hours=len(baseline), flagged_hours=hours,
                 first_seen=min(window[h][1] for h in hours), last_seen=max(window[h][2] for h in hours))


def window_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("in_window")]


def top(counts: dict[Any, int], n: int = 5) -> dict[Any, int]:
    """The n largest entries, largest first (ties by name), as an ordered dict."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n])


# Detector modules register themselves on import.
# (annotation, not annotations: that name is taken here by `from __future__ import annotations`.)
from . import actors, annotation, deletes, encryption, freshness, malware  # noqa: E402,F401
from . import daily, rewrites, tampering  # noqa: E402,F401

__all__ = ["SEVERITIES", "Finding", "Inputs", "Allowlist", "DETECTORS", "Detector", "options", "register", "run_all",
           "severity_rank", "fingerprint", "spike", "worst_first"]
