"""How findings say counts and durations: "1 unencrypted upload", "1000 deletes in 15 min".

Titles are read at 3 a.m. on a phone: a count agrees with its noun, and a burst is described by
the time its records actually span (first to last), not by the width of the detector's sliding
window. The report's renderers use the same words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """`n` and the noun that agrees with it: plural(1, "upload") is "1 upload", plural(3, "upload") "3 uploads"."""
    return f"{n} {singular if n == 1 else plural_form or singular + 's'}"


def duration(first: datetime | None, last: datetime | None) -> str:
    """The time from `first` to `last` in the largest units that fit, rounded: "40 s", "15 min", "2 h 47 min".

    "under a second" when both are (nearly) the same instant; "" when either is unknown.
    """
    if first is None or last is None:
        return ""
    return seconds_text((last - first).total_seconds())


def seconds_text(seconds: float) -> str:
    """A number of seconds as duration() words it."""
    total = round(abs(seconds))
    if total < 1:
        return "under a second"
    if total < 60:
        return f"{total} s"
    minutes = round(total / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(round(total / 3600), 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def burst(count: int, noun: str, first: datetime | None, last: datetime | None,
          plural_form: str | None = None) -> str:
    """ "1000 deletes in 15 min": a count and the real time its records span."""
    span = duration(first, last)
    return plural(count, noun, plural_form) + (f" in {span}" if span else "")


def burst_count(rows: Iterable[dict[str, Any]], spike: Any) -> int:
    """The window's records in a spike's flagged hours: the count that goes with its first and last
    sighting (a spike's `peak` counts one sliding span only, which may not hold all of them)."""
    hours = set(spike.flagged_hours)
    return sum(int(r["events"]) for r in rows if r["in_window"] and r["hour"] in hours) or spike.peak


__all__ = ["burst", "burst_count", "duration", "plural", "seconds_text"]
