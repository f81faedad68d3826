"""Rendering a report: JSON (the machine contract), Markdown (tickets, chat) and standalone HTML.

HTML is one self-contained page (inline CSS and SVG, nothing fetched) and every value that comes
from the data goes through `_e`, which escapes it: keys, requesters and tags are chosen by whoever
writes to the bucket. The chart data is computed here from the detectors' aggregate rows.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..detectors import SEVERITIES, severity_rank, top
from ..values import display, jsonable

if TYPE_CHECKING:
    from .run import Report

FORMATS = ("json", "markdown", "html")
_EXTENSIONS = {"json": ".json", "markdown": ".md", "html": ".html"}


# --- chart data -----------------------------------------------------------------------------------

KINDS = ("CREATE", "UPDATE_METADATA", "DELETE_MARKER", "DELETE")


def chart_data(rows, since, until, findings) -> dict[str, Any]:
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
            "top_prefixes": top(prefixes, 10), "top_ips": top(ips, 10)}


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
    for note in d["notes"]:
        out.write(f"> **{_md(note, 1000)}**\n\n")
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
.note{background:#fff3bf;padding:6px 10px;border-radius:4px}
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
    parts.extend(f"<p class=\"note\">{_e(note)}</p>" for note in d["notes"])
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


RENDERERS = {"json": render_json, "markdown": render_markdown, "html": render_html}

__all__ = ["FORMATS", "RENDERERS", "chart_data", "output_paths", "render_html", "render_json",
           "render_markdown"]
