"""Rendering a report: JSON (the machine contract), Markdown (tickets, chat) and standalone HTML.

Both documents for people are triage first: the incidents (related findings grouped, see
analytics.report.incidents), worst first, each with the command to run next; high and critical
ones open, with their evidence as tables; the charts and top lists after them.

HTML is one self-contained page (inline CSS and SVG, nothing fetched, no script) that fits a phone
as well as a laptop, and every value that comes from the data goes through `_e`, which escapes it:
keys, requesters and tags are chosen by whoever writes to the bucket. Markdown escapes data the
same way, except inside code, which Markdown shows literally (commands are fenced, not escaped).
The chart data is computed here from the detectors' aggregate rows.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..detectors import SEVERITIES, severity_rank, top
from ..detectors.wording import duration, plural
from ..values import display, jsonable

if TYPE_CHECKING:
    from .incidents import Incident
    from .run import Report

FORMATS = ("json", "markdown", "html")
_EXTENSIONS = {"json": ".json", "markdown": ".md", "html": ".html"}
_EXPANDED = severity_rank("high")  # incidents and findings at or above this are shown open


# --- chart data -----------------------------------------------------------------------------------

# The charts' series: (name, label, color). S3 Lifecycle's expirations and transitions, and the
# permanent deletes (which carry no requester, so Lifecycle's noncurrent-version expirations land
# there too), are drawn apart from what users and services did: a nightly Lifecycle run is often
# larger than an attack and would flatten it on a shared scale.
ACTORS = (("uploads", "uploads and overwrites", "#4c6ef5"), ("metadata", "tag and metadata changes", "#20c997"),
          ("delete_markers", "delete markers", "#e8590c"))
LIFECYCLE = (("lifecycle_deletes", "Lifecycle expirations", "#868e96"),
             ("lifecycle_changes", "Lifecycle transitions", "#ced4da"),
             ("permanent_deletes", "permanent deletes (no requester recorded)", "#c92a2a"))
_USER_KINDS = {"CREATE": "uploads", "UPDATE_METADATA": "metadata", "DELETE_MARKER": "delete_markers",
               "DELETE": "permanent_deletes"}


def series_of(kind: str, actor_class: str) -> str | None:
    """Which chart series a detect_activity row of this kind and actor class counts in (None: none)."""
    if actor_class == "lifecycle":
        return "lifecycle_deletes" if kind in ("DELETE_MARKER", "DELETE") else "lifecycle_changes"
    return _USER_KINDS.get(kind)


def chart_data(rows, since, until, findings) -> dict[str, Any]:
    start = since.replace(minute=0, second=0, microsecond=0)
    hours = max(1, math.ceil((until - start).total_seconds() / 3600))
    step = max(1, math.ceil(hours / 168))  # at most 168 columns: hourly for a week, coarser beyond
    bins = math.ceil(hours / step)
    series = {name: [0] * bins for name, _, _ in ACTORS + LIFECYCLE}
    prefixes: dict[str, int] = {}
    ips: dict[str, int] = {}
    for r in rows:
        if not r["in_window"]:
            continue
        if r["grain"] == "prefix":
            i = int((r["hour"] - start).total_seconds() // 3600) // step
            name = series_of(r["kind"], r["actor_class"])
            if 0 <= i < bins and name is not None:
                series[name][i] += int(r["events"])
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
            marks.append({"bin": i, "at": f.first_seen, "severity": f.severity, "title": f.title,
                          "fingerprint": f.fingerprint})
    return {"start": start, "step_hours": step, "bins": bins, "series": series, "marks": marks,
            "top_prefixes": top(prefixes, 10), "top_ips": top(ips, 10)}


# --- words shared by the renderers ------------------------------------------------------------------

def _utc(at: Any, seconds: bool = True) -> str:
    """A naive UTC timestamp as people read it: 2026-11-28 10:56:29 (ISO strings are taken as they come)."""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return at
    if not isinstance(at, datetime):
        return display(at)
    return at.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _span(first: datetime | None, last: datetime | None) -> str:
    """ "2026-11-28 10:56:29 to 11:11:25 UTC (15 min)"; the date once when both are on the same day."""
    if first is None or last is None:
        return "time not recorded"
    if first == last:
        return f"at {_utc(first)} UTC"
    end = last.strftime("%H:%M:%S") if first.date() == last.date() else _utc(last)
    return f"{_utc(first)} to {end} UTC ({duration(first, last)})"


def _length(since: datetime, until: datetime) -> str:
    """A window's length: in hours up to two days (a daily report's is "24 h"), else as duration() says."""
    hours = (until - since).total_seconds() / 3600
    return f"{hours:g} h" if hours <= 48 and hours == int(hours) else duration(since, until)


def _counts(report: Report) -> str:
    by = report.stats["by_severity"]
    return ", ".join(f"{by[s]} {s}" for s in reversed(SEVERITIES) if by.get(s)) or "none"


def _summary(report: Report, counts: bool = True) -> str:
    n = len(report.findings)
    incidents = len(report.incidents or [])
    return (f"{plural(n, 'finding')} in {plural(incidents, 'incident')}"
            f"{f' ({_counts(report)})' if counts else ''}; "
            f"{report.stats['new_findings']} new; "
            f"{plural(int(report.stats['window_events']), 'journal record')} in the window")


_HINT = ("Commands run on the engine you give them: add the options this report ran with (--profile, or "
         "--data and the others).")


def _label(name: str) -> str:
    return name.replace("_", " ")


# --- JSON -------------------------------------------------------------------------------------------

def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


# --- Markdown -----------------------------------------------------------------------------------

def _md(value: Any, width: int = 200) -> str:
    # The same escaping as query results in Markdown (analytics.output): keys are user-chosen text.
    return html.escape(display(value, width=width), quote=False).replace("|", "\\|").replace("`", "\\`") \
        .replace("*", "\\*").replace("_", "\\_").replace("[", "\\[").replace("]", "\\]")


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def _md_text(text: str, width: int = 1000) -> str:
    """Prose that may hold `code spans` (runbooks): escaped outside the spans, literal inside them,
    where Markdown shows every character as it is and a backslash would show too."""
    out, at = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_md(text[at:m.start()], width))
        out.append(_code_span(display(m.group(2), width)))
        at = m.end()
    out.append(_md(text[at:], width))
    return "".join(out)


def _fence(text: str, char: str = "`") -> str:
    """A run of `char` longer than any in `text`: what a code span or block needs to hold it whole."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)
    return char * (longest + 1)


def _code_span(text: str) -> str:
    fence = _fence(text)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_block(text: str) -> str:
    fence = _fence(text) if "```" in text else "```"
    return f"{fence}sh\n{text}\n{fence}\n"


def _md_value(value: Any) -> str:
    if isinstance(value, datetime):
        return _md(_utc(value))
    if isinstance(value, (dict, list)):
        return _md(json.dumps(jsonable(value), ensure_ascii=False), 400)
    return _md(value, 400)


def render_markdown(report: Report) -> str:
    d = report.to_dict()
    out = io.StringIO()
    out.write("# S3 Metadata anomaly report\n\n")
    out.write(f"Window {_md(_utc(report.since))} to {_md(_utc(report.until))} UTC "
              f"({_length(report.since, report.until)}); baseline from "
              f"{_md(_utc(report.baseline_since))} (observed from {_md(_utc(report.observed_since))}).\n\n")
    for note in d["notes"]:
        out.write(f"> **{_md(note, 1000)}**\n\n")
    out.write(f"**{_md(_summary(report))}.**\n\n")
    incidents = report.incidents or []
    if incidents:
        out.write("| # | severity | incident | findings | when (UTC) |\n| --- | --- | --- | --- | --- |\n")
        for i in incidents:
            out.write(f"| {i.number} | {_md(i.severity)} | {_md(i.title)} | {len(i.findings)} | "
                      f"{_md(_utc(i.first_seen)) if i.first_seen else ''} |\n")
        out.write(f"\n{_md(_HINT, 1000)}\n\n")
    for i in incidents:
        out.write(f"## {i.number}. {_md(i.severity.upper())}: {_md(i.title)}\n\n")
        out.write(f"- when: {_md(_span(i.first_seen, i.last_seen))}\n")
        for name, values in (("requesters", i.requesters), ("source IPs", i.source_ips), ("buckets", i.buckets),
                             ("prefixes", i.prefixes)):
            if values:
                out.write(f"- {name}: {', '.join(_md(v) for v in values)}\n")
        out.write(f"- findings: {len(i.findings)}, {'new' if i.new else 'reported before'}; incident id "
                  f"{_md(i.id)}\n\n")
        if i.steps:
            out.write("Next:\n\n")
            for s in i.steps:
                out.write(f"{_md(s.why, 1000)}\n\n{_code_block(s.command)}\n")
        for n, f in enumerate(i.findings, 1):
            out.write(f"### {i.number}.{n} {_md(f.severity)}: {_md(f.title)}\n\n")
            out.write(f"- detector: {_md(f.detector)}, bucket: {_md(f.bucket)}, "
                      f"new: {'yes' if f.new else 'no'}, fingerprint: {_md(f.fingerprint)}\n")
            out.write(f"- when: {_md(_span(f.first_seen, f.last_seen))}\n")
            for key, value in f.evidence.items():
                out.write(f"- {_md(_label(key))}: {_md_value(value)}\n")
            out.write(f"- runbook: {_md_text(f.runbook)}\n\n")
    if report.notifications:
        out.write("## Notifications\n\n")
        for n in report.notifications:
            out.write(f"- {_md(n.get('channel'))}: {'ok' if n.get('ok') else 'FAILED ' + _md(n.get('error'))}\n")
        out.write("\n")
    stats = {k: v for k, v in d["stats"].items() if k != "by_severity"}
    out.write("Stats: " + ", ".join(f"{_md(_label(k))} {_md(v)}" for k, v in stats.items()) + "\n")
    return out.getvalue()


# --- HTML ------------------------------------------------------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;padding:16px 20px;
color:#1d2430;max-width:1100px}
h1{font-size:21px;margin:0 0 4px}h2{font-size:18px;margin:26px 0 8px}
.meta{color:#5a6472;margin:2px 0}.summary{margin:8px 0 4px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border-bottom:1px solid #e3e7ed;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600;color:#3b4552}td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.kv>tbody>tr>th,.kv>tr>th{width:9.5em;overflow-wrap:normal}table.counts{width:auto;min-width:40%;margin:0}
table.counts td{padding:1px 8px 1px 0;border:0}table.kv table.kv{margin:0}
code{font:13px ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere;white-space:pre-wrap}
.badge{display:inline-block;font-weight:700;text-transform:uppercase;font-size:12px;padding:1px 6px;
border-radius:3px;vertical-align:1px}
.critical .badge,.badge.critical{color:#fff;background:#8b0000}.high .badge,.badge.high{color:#fff;background:#d9480f}
.medium .badge,.badge.medium{color:#1d2430;background:#ffd43b}.low .badge,.badge.low{color:#1d2430;background:#d0ebff}
.info .badge,.badge.info{color:#1d2430;background:#e9ecef}
.incident{border:1px solid #dee2e6;border-left:6px solid #adb5bd;border-radius:6px;padding:8px 12px;margin:12px 0}
.incident.critical{border-left-color:#8b0000}.incident.high{border-left-color:#d9480f}
.incident.medium{border-left-color:#f59f00}.incident.low{border-left-color:#74c0fc}
.incident .title{font-size:17px;font-weight:650;margin:2px 0}
div.incident>.title{margin-top:0}
summary{cursor:pointer}summary .title{display:inline}
.next{background:#f1f3f5;border-radius:6px;padding:6px 10px;margin:8px 0}
.next .why{margin:4px 0 2px}.next code{display:block;background:#fff;border:1px solid #dee2e6;
border-radius:4px;padding:6px 8px}.next .w{display:inline-block;max-width:100%}
.hint{color:#5a6472;font-size:13px;margin:4px 0}.note{background:#fff3bf;padding:6px 10px;border-radius:4px}
details.finding{border-top:1px solid #e3e7ed;padding:6px 0}details.finding>summary{font-weight:600}
.detail{color:#5a6472;font-weight:400}
ul.keys{margin:0;padding-left:18px}
.chart{margin:10px 0 18px;max-width:900px}.chart figcaption{font-weight:600;margin-bottom:4px}
.plot{display:flex;height:170px}.yaxis{position:relative;width:44px;flex:none;font-size:11px;color:#5a6472}
.yaxis span{position:absolute;right:5px;transform:translateY(50%)}
.area{position:relative;flex:1;border-left:1px solid #adb5bd;border-bottom:1px solid #adb5bd}
.area svg{position:absolute;inset:0;width:100%;height:100%;overflow:visible}
.mark{position:absolute;font-size:12px;line-height:1;font-weight:700;white-space:nowrap}
.xaxis{position:relative;height:18px;margin-left:44px;font-size:11px;color:#5a6472}
.xaxis span{position:absolute;transform:translateX(-50%);white-space:nowrap;top:2px}
.axis{font-size:12px;color:#5a6472;margin:2px 0 0 44px}
.legend{font-size:13px;margin:4px 0 0 44px}.legend>span{margin-right:12px;white-space:nowrap}
.legend .marks{margin-top:2px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:0}
.sev-critical{color:#8b0000}.sev-high{color:#d9480f}.sev-medium{color:#e67700}
.columns{display:flex;flex-wrap:wrap;gap:8px 28px}.columns>div{flex:1 1 320px;min-width:0}
.bars td.bar{width:38%}.bars .fill{display:block;height:12px;background:#4c6ef5;border-radius:2px}
@media (max-width:600px){body{padding:10px 12px;font-size:14px}.kv>tbody>tr>th,.kv>tr>th{width:6.5em}
.minor{display:none}.incident{padding:6px 8px}.plot{height:140px}}
"""
_MARK_COLORS = {"critical": "#8b0000", "high": "#d9480f", "medium": "#e67700"}
_MARK_WIDTH = 6  # % of a chart's width one mark's label needs; closer marks go on another row
_MARK_ROW = 15  # px per row of marks above a chart


def _e(value: Any) -> str:
    """Every data value goes through here: html.escape with quotes, and control characters shown."""
    return html.escape(display(value, width=10_000), quote=True)


def _h_text(text: str) -> str:
    """Prose with `code spans` (runbooks): escaped, the spans shown as code."""
    out, at = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_e(text[at:m.start()]) + f"<code>{_e(m.group(2))}</code>")
        at = m.end()
    return "".join(out) + _e(text[at:])


def _h_value(value: Any) -> str:
    """An evidence value as something to read: counts as a table, keys as a list, times in UTC."""
    if isinstance(value, datetime):
        return f"{_e(_utc(value))} UTC"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        if not value:
            return "none"
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
            rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td class=\"n\">{_h_value(v)}</td></tr>"
                           for k, v in value.items())
            return f"<table class=\"counts\">{rows}</table>"
        return _kv(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        return "<ul class=\"keys\">" + "".join(f"<li><code>{_e(v)}</code></li>" for v in value) + "</ul>"
    if value is None:
        return "<span class=\"detail\">NULL</span>"
    return _e(value)


def _kv(values: dict[str, Any]) -> str:
    return "<table class=\"kv\">" + "".join(f"<tr><th>{_e(_label(k))}</th><td>{_h_value(v)}</td></tr>"
                                             for k, v in values.items()) + "</table>"


def _finding_html(f, open_: bool) -> str:
    body = _kv({"detector": f.detector, "bucket": f.bucket, **f.evidence})
    return (f"<details class=\"finding {_e(f.severity)}\"{' open' if open_ else ''}><summary>"
            f"<span class=\"badge\">{_e(f.severity)}</span> {_e(f.title)} <span class=\"detail\">"
            f"&middot; {_e(_span(f.first_seen, f.last_seen))}{'' if f.new else ' &middot; reported before'}"
            f"</span></summary>{body}<p><span class=\"detail\">Runbook:</span> {_h_text(f.runbook)}</p>"
            f"<p class=\"hint\">fingerprint <code>{_e(f.fingerprint)}</code></p></details>")


def _incident_html(i: Incident) -> str:
    expanded = severity_rank(i.severity) >= _EXPANDED
    facts = {name: ", ".join(values) for name, values in (
        ("requesters", i.requesters), ("source IPs", i.source_ips), ("buckets", i.buckets),
        ("prefixes", [p or "(keys without a prefix)" for p in i.prefixes])) if values}
    head = (f"<span class=\"badge\">{_e(i.severity)}</span> {i.number}. {_e(i.title)}")
    meta = (f"<p class=\"meta\">{_e(_span(i.first_seen, i.last_seen))} &middot; "
            f"{plural(len(i.findings), 'finding')}{'' if len(i.findings) == 1 else ', related'} &middot; "
            f"{'new' if i.new else 'reported before'}</p>")
    steps = ""
    if i.steps:
        steps = "<div class=\"next\"><div class=\"title\">Next</div>" + "".join(
            f"<p class=\"why\">{_e(s.why)}</p><code>"
            + " ".join(f"<span class=\"w\">{_e(w)}</span>" for w in s.words()) + "</code>" for s in i.steps) + \
            f"<p class=\"hint\">{_e(_HINT)}</p></div>"
    findings = "\n".join(_finding_html(f, expanded and severity_rank(f.severity) >= _EXPANDED) for f in i.findings)
    body = "\n".join([meta + (_kv(facts) if facts else ""), steps, findings])
    if expanded:
        return (f"<div class=\"incident {_e(i.severity)}\" id=\"incident-{i.number}\">"
                f"<p class=\"title\">{head}</p>{body}</div>")
    size = "" if len(i.findings) == 1 else f" <span class=\"detail\">&middot; {len(i.findings)} findings</span>"
    return (f"<details class=\"incident {_e(i.severity)}\" id=\"incident-{i.number}\"><summary>"
            f"<p class=\"title\">{head}{size}</p></summary>{body}</details>")


def render_html(report: Report) -> str:
    """A standalone page: inline CSS and SVG only, every data value escaped, incidents first."""
    d = report.to_dict()
    incidents = report.incidents or []
    worst = incidents[0].severity if incidents else None
    title = f"S3 Metadata report: {_counts(report)}" if worst else "S3 Metadata report: no findings"
    parts = ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
             f"<title>{_e(title)}</title>",
             f"<style>{_CSS}</style></head><body>",
             "<h1>S3 Metadata anomaly report</h1>",
             f"<p class=\"meta\">{_e(_utc(report.since, False))} to {_e(_utc(report.until, False))} UTC "
             f"({_e(_length(report.since, report.until))}) &middot; baseline from "
             f"{_e(_utc(report.baseline_since, False))}, observed from {_e(_utc(report.observed_since, False))}"
             f" &middot; generated {_e(_utc(report.generated_at))} UTC</p>"]
    parts.extend(f"<p class=\"note\">{_e(note)}</p>" for note in d["notes"])
    sev = report.stats["by_severity"]
    parts.append("<p class=\"summary\">" + " ".join(
        f"<span class=\"badge {s}\">{_e(sev[s])} {_e(s)}</span>" for s in reversed(SEVERITIES) if sev.get(s)) +
        f" {_e(_summary(report, counts=False))}</p>")
    if not incidents:
        parts.append("<p>No findings.</p>")
    for i in incidents:
        parts.append(_incident_html(i))
    parts.append("<h2>Activity</h2>")
    numbers = {f.fingerprint: i for i in incidents for f in i.findings}
    parts.append(_chart("Users and services", report.charts, ACTORS, numbers))
    parts.append(_chart("S3 Lifecycle and permanent deletes", report.charts, LIFECYCLE, numbers))
    parts.append("<div class=\"columns\"><div>" + _bars("Top prefixes (window)", report.charts["top_prefixes"]) +
                 "</div><div>" + _bars("Top source IPs (window)", report.charts["top_ips"]) + "</div></div>")
    if report.notifications:
        parts.append("<h2>Notifications</h2><ul>" + "".join(
            f"<li>{_e(n.get('channel'))}: {'ok' if n.get('ok') else 'FAILED: ' + _e(n.get('error'))}</li>"
            for n in report.notifications) + "</ul>")
    stats = {k: v for k, v in d["stats"].items() if k != "by_severity"}
    parts.append("<h2>Run</h2>" + _kv(stats))
    parts.append("</body></html>\n")
    return "\n".join(parts)  # one block a line, so a change shows as a readable diff


# --- charts ----------------------------------------------------------------------------------------

def nice_ceiling(value: float) -> int:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^k) at or above `value`: a y scale's top."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * power >= value:
            return math.ceil(m * power)
    return int(10 * power)


_TICK_HOURS = (1, 2, 3, 6, 12, 24, 48, 72, 168)


def _ticks(start: datetime, hours: int) -> list[tuple[datetime, bool]]:
    """(time, minor) for the x axis: whole hours, at most 8 labels; every other one is minor (hidden on a phone)."""
    every = next((h for h in _TICK_HOURS if hours / h <= 8), _TICK_HOURS[-1])
    at = start
    while (at.hour % every if every < 24 else at.hour):  # on a multiple of `every` hours, or at midnight
        at += timedelta(hours=1)
    out, end = [], start + timedelta(hours=hours)
    while at <= end:
        out.append((at, len(out) % 2 == 1))
        at += timedelta(hours=every)
    return out


def _chart(title: str, c: dict[str, Any], series: tuple, incidents: dict[str, Incident]) -> str:
    bins, step, start = c["bins"], c["step_hours"], c["start"]
    hours = bins * step
    totals = [sum(c["series"][name][i] for name, _, _ in series) for i in range(bins)]
    scale = nice_ceiling(max(totals + [1]))
    per = "hour" if step == 1 else f"{step} h"
    width = 10 * bins  # SVG units: 10 per column, stretched to the page's width
    marks = _marks(c, incidents)
    rows = 1 + max((row for *_, row in marks), default=0)
    out = [f"<figure class=\"chart\"><figcaption>{_e(title)}: records per {_e(per)}</figcaption>"
           f"<div class=\"plot\" style=\"margin-top:{rows * _MARK_ROW + 4}px\"><div class=\"yaxis\">"]
    out += [f"<span style=\"bottom:{100 * v / scale:g}%\">{int(v):,}</span>" for v in (0, scale / 2, scale)
            if v == int(v)]
    out.append(f"</div><div class=\"area\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} 100\" "
               f"preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{_e(title)}\">")
    out.append(f"<line x1=\"0\" y1=\"50\" x2=\"{width}\" y2=\"50\" stroke=\"#e3e7ed\" "
               "vector-effect=\"non-scaling-stroke\"/>")
    for i in range(bins):
        if not totals[i]:
            continue
        at = start + timedelta(hours=i * step)
        # The tooltip names the column's time and every count in it, whichever part the pointer is on.
        tip = "&#10;".join(_e(line) for line in (
            [f"{_utc(at, False)} to {(at + timedelta(hours=step)).strftime('%H:%M')} UTC"] +
            [f"{label}: {c['series'][name][i]:,}" for name, label, _ in series if c["series"][name][i]]))
        y = 100.0
        for name, _, color in series:
            h = c["series"][name][i] / scale * 100
            if h:
                y -= h
                out.append(f"<rect x=\"{i * 10 + 1}\" y=\"{y:.2f}\" width=\"8\" height=\"{h:.2f}\" "
                           f"fill=\"{color}\"><title>{tip}</title></rect>")
    for x, severity, _, _, _ in marks:
        out.append(f"<line x1=\"{x * width / 100:.2f}\" y1=\"0\" x2=\"{x * width / 100:.2f}\" y2=\"100\" "
                   f"stroke=\"{_MARK_COLORS.get(severity, '#e67700')}\" stroke-dasharray=\"3,3\" "
                   "vector-effect=\"non-scaling-stroke\"/>")
    out.append("</svg>")
    # A label is centred on its time, except at the ends, where it would stick out of the chart.
    out += [f"<span class=\"mark sev-{_e(severity)}\" style=\"left:{x:.2f}%;top:-{(row + 1) * _MARK_ROW}px;"
            f"transform:translateX(-{0 if x < 3 else 100 if x > 97 else 50}%)\" title=\"{_e(tip)}\">"
            f"&#9660;{number}</span>"
            for x, severity, number, tip, row in marks]
    out.append("</div></div><div class=\"xaxis\">")
    for at, minor in _ticks(start, hours):
        x = (at - start).total_seconds() / 3600 / hours * 100
        label = at.strftime("%b %d") if at.hour == 0 else at.strftime("%H:%M")
        css = " class=\"minor\"" if minor else ""
        edge = ";transform:translateX(-100%)" if x > 99.9 else ""  # the last label ends at the axis' end
        out.append(f"<span{css} style=\"left:{x:.2f}%{edge}\">{_e(label)}</span>")
    out.append(f"</div><p class=\"axis\">time (UTC), {_e(_utc(start, False))} to "
               f"{_e(_utc(start + timedelta(hours=hours), False))}</p>")
    legend = [f"<span><span class=\"swatch\" style=\"background:{color}\"></span>{_e(label)}</span>"
              for _, label, color in series]
    if marks:
        legend.append("<div class=\"marks\">&#9660;N: where incident N starts, in its severity's colour (" + ", ".join(
            f"<span class=\"sev-{s}\">{s}</span>" for s in ("critical", "high", "medium")) + ")</div>")
    out.append("<div class=\"legend\">" + "".join(legend) + "</div></figure>")
    return "\n".join(out)


def _marks(c: dict[str, Any], incidents: dict[str, Incident]) -> list[tuple[float, str, int, str, int]]:
    """One mark per incident, where its worst marked finding starts: (x in %, severity, number, tooltip, row).

    Marks closer than a label's width go on rows above one another, so their numbers stay readable.
    """
    hours = c["bins"] * c["step_hours"]
    chosen: dict[int, dict[str, Any]] = {}
    for m in c["marks"]:
        incident = incidents.get(m["fingerprint"])
        if incident is None:
            continue
        best = chosen.get(incident.number)
        if best is None or (-severity_rank(m["severity"]), m["at"]) < (-severity_rank(best["severity"]), best["at"]):
            chosen[incident.number] = {**m, "incident": incident}
    placed: list[tuple[float, str, int, str, int]] = []
    for number, m in sorted(chosen.items(), key=lambda kv: kv[1]["at"]):
        incident = m["incident"]
        x = min(max((m["at"] - c["start"]).total_seconds() / 3600 / hours * 100, 0.0), 100.0)
        taken = {row for px, _, _, _, row in placed if abs(px - x) < _MARK_WIDTH}
        row = min(set(range(len(placed) + 1)) - taken)
        placed.append((x, incident.severity, number, f"{number}. {incident.severity} from {_utc(m['at'])} UTC: "
                       f"{incident.title}", row))
    return placed


def _bars(title: str, values: dict[str, int]) -> str:
    if not values:
        return f"<h2>{_e(title)}</h2><p>No activity.</p>"
    most = max(values.values()) or 1
    return (f"<h2>{_e(title)}</h2><table class=\"bars\">" + "".join(
        f"<tr><td><code>{_e(label)}</code></td><td class=\"bar\"><span class=\"fill\" style=\"width:"
        f"{100 * n / most:.1f}%\"></span></td><td class=\"n\">{n:,}</td></tr>" for label, n in values.items()) +
        "</table>")


def output_paths(output: str | None, formats: list[str]) -> dict[str, str | None]:
    """Where each format goes: one format to --output (or stdout); several to --output's stem + extension."""
    if not output:
        return {fmt: None for fmt in formats}
    if len(formats) == 1:
        return {formats[0]: output}
    base = Path(output)
    stem = base.with_suffix("") if base.suffix in _EXTENSIONS.values() else base
    return {fmt: str(stem) + _EXTENSIONS[fmt] for fmt in formats}


RENDERERS = {"json": render_json, "markdown": render_markdown, "html": render_html}

__all__ = ["FORMATS", "RENDERERS", "chart_data", "nice_ceiling", "output_paths", "render_html", "render_json",
           "render_markdown", "series_of"]
