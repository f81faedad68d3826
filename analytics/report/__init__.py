"""Scheduled anomaly reports: detectors over a window and its baseline, state between runs, outputs.

    import analytics
    from analytics import report
    with analytics.connect(data="demo") as session:
        r = report.run(session, since="24h", baseline="14d", config="config.toml")
        r.findings, r.stats, r.to_json()        # r in a notebook renders as HTML

The package holds one job per module: `config` (the [report] table of the config file), `run`
(a run: window, queries, detectors, findings), `rules` (the user's detections as SQL files),
`incidents` (related findings grouped, and the commands to run next), `render` (JSON, Markdown,
HTML), `state` (what one run leaves the next, and the lock) and `notify` (SNS and webhooks).
"""

from __future__ import annotations

from .config import Config, load_config, parse_config
from .render import FORMATS, output_paths, render_html, render_json, render_markdown
from .rules import Rule
from .rules import load as load_rules
from .run import Report, Window, resolve_window, run, scheduled
from .state import State, StateChanged, StateLocked, lock

__all__ = ["Config", "FORMATS", "Report", "Rule", "State", "StateChanged", "StateLocked", "Window", "load_config",
           "load_rules", "lock",
           "output_paths", "parse_config", "render_html", "render_json", "render_markdown", "resolve_window", "run",
           "scheduled"]
