"""Durations as plans write them: `30s`, `5m`, `1h`, `1h30m`, `250ms`."""

from __future__ import annotations

import math
import re

# No duration in a plan or policy may be longer: past it, a pause or a timeout is a mistake
# (or an attack on the driver's arithmetic), whatever the policy allows.
MAX_SECONDS = 30 * 86400.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration; a bare number means seconds. Raises ValueError when malformed,
    negative, not finite, or longer than MAX_SECONDS."""
    if isinstance(text, bool):
        raise ValueError("a duration is a string like 30s, 5m or 1h")
    if isinstance(text, int | float):
        try:
            seconds = float(text)
        except OverflowError:
            seconds = math.inf
        if seconds < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(seconds, text)
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(
            f"invalid duration {_short(text)}: use a number and a unit, like 30s, 5m, 1h"
        )
    return _bounded(total, text)


def _bounded(seconds: float, text: object) -> float:
    if math.isnan(seconds):
        raise ValueError("a duration must be a number of seconds, not NaN")
    if seconds > MAX_SECONDS:
        raise ValueError(
            f"duration {_short(text)} is longer than the limit of {MAX_SECONDS / 86400:g} days"
        )
    return seconds


def _short(text: object) -> str:
    try:
        shown = repr(text)
    except ValueError:  # an integer past Python's 4,300-digit limit
        return "(a number too long to show)"
    return shown if len(shown) <= 40 else shown[:37] + "..."


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s}s" if s else f"{m}m"
    h, m = divmod(m, 60)
    return f"{h}h{m}m" if m else f"{h}h"
