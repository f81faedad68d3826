"""The demo data's planted incidents: the window that holds them, and the commands that show them.

`make demo` ends with `s3meta fixtures incidents demo`, so a new user's first answer is a finding,
not a guess at which week to look at. Read from the generator's manifest.json, never from the data.
"""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import DataError

# Where each kind of planted incident starts and ends, among its manifest fields.
_STARTS = ("since", "uploaded")
_ENDS = ("until", "scan_timestamp")


def incidents(data: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The manifest's planted incidents, by kind; DataError when the folder holds no generated data."""
    path = Path(data) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"no generated data at {data}: cannot read {path} ({getattr(exc, 'strerror', None) or exc})"
                        ) from None
    return dict(manifest.get("incidents") or {})


def window(planted: dict[str, dict[str, Any]]) -> tuple[datetime, datetime]:
    """Whole hours holding every planted incident: [first start's hour, last end's next hour)."""
    starts = [datetime.fromisoformat(i[f]) for i in planted.values() for f in _STARTS if i.get(f)]
    ends = [datetime.fromisoformat(i[f]) for i in planted.values() for f in _ENDS if i.get(f)]
    if not starts or not ends:
        raise DataError("the manifest lists no planted incident (data generated with --no-incidents?)")
    hour = timedelta(hours=1)
    return min(starts).replace(minute=0, second=0, microsecond=0), \
        max(ends).replace(minute=0, second=0, microsecond=0) + hour


def guide(data: str | os.PathLike) -> str:
    """What `s3meta fixtures incidents DIR` prints: each incident, the window, and the commands."""
    planted = incidents(data)
    since, until = window(planted)
    folder = shlex.quote(os.fspath(data))
    lines = [f"Planted incidents in {data} (UTC):"]
    for kind, i in sorted(planted.items(), key=lambda kv: min(kv[1].get(f) or "~" for f in _STARTS)):
        start = i.get("since") or i.get("uploaded")
        end = i.get("until") or i.get("scan_timestamp")
        who = i.get("actor") or i.get("requester")
        detail = ", ".join(filter(None, [f"{i['count']} records" if i.get("count") else None,
                                         f"by {who}" if who else None, f"from {i['ip']}" if i.get("ip") else None,
                                         f"under {i['prefix']}" if i.get("prefix") else None]))
        lines.append(f"  {kind:<22} {start} to {end}  {i.get('bucket', '')}: {detail}")
    lines += ["", f"They fall in {since.isoformat()} to {until.isoformat()}. See them:",
              f"  s3meta report --data {folder} --since {since.isoformat()} --until {until.isoformat()} "
              "--format html --output report.html"]
    mass = planted.get("mass_delete")
    if mass:
        lines.append(f"  s3meta restore-plan --data {folder} --requester {mass['actor']} --ip {mass['ip']} "
                     f"--since {mass['since']} --until {_after(mass['until'])} --output incident")
    lines += ["  notebooks (Jupyter is not in the runtime install):",
              "    .venv/bin/pip install jupyterlab matplotlib",
              f"    S3META_DATA={folder} .venv/bin/jupyter lab notebooks/02_investigate_incident.ipynb"]
    return "\n".join(lines)


def _after(timestamp: str) -> str:
    """The second after `timestamp`: windows are half-open, and the last record must fall inside."""
    return (datetime.fromisoformat(timestamp) + timedelta(seconds=1)).isoformat()


__all__ = ["guide", "incidents", "window"]
