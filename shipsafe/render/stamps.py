"""One clock for every time shipsafe prints: local time with its UTC offset, or UTC (`--utc`);
the date only when it is not today."""

from __future__ import annotations

from datetime import UTC, date, datetime


class Stamps:
    def __init__(self, utc: bool = False, today: date | None = None) -> None:
        self.utc = utc
        self._today = today

    def zone(self, when: datetime) -> datetime:
        return when.astimezone(UTC) if self.utc else when.astimezone()

    def today(self) -> date:
        if self._today is not None:
            return self._today
        return self.zone(datetime.now(UTC)).date()

    def __call__(self, when: datetime) -> str:
        """`16:41:02+01:00`, `16:41:02Z` with --utc; `2026-11-30 16:41:02+01:00` another day."""
        local = self.zone(when)
        day = "" if local.date() == self.today() else f"{local:%Y-%m-%d} "
        return f"{day}{local:%H:%M:%S}{'Z' if self.utc else offset(local)}"


def offset(when: datetime) -> str:
    """`+01:00`: the offset of a zone-aware time."""
    delta = when.utcoffset()
    if delta is None:
        return "Z"
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
