"""The one status line under the event lines, for a person at a terminal: where the rollout
is, how long a pause has left, the canary's weight and the breakers' last readings."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from shipsafe.durations import format_duration
from shipsafe.records import Event, EventType


class Summary:
    """What the status line says; re-rendered by rich a few times a second (countdowns)."""

    def __init__(self) -> None:
        self.step = ""
        self.until: datetime | None = None
        self.weight: int | None = None
        self.phase = "starting"
        self.readings: dict[str, tuple[float | None, str]] = {}

    def update(self, event: Event) -> None:
        data = event.data
        if event.type == EventType.STEP_STARTED:
            self.step = event.message.split(": ", 1)[-1] if event.message else ""
            self.step = f"{data.get('step')}/{data.get('of', '?')} {self.step}"
            until = data.get("until")
            self.until = datetime.fromisoformat(until) if until else None
        elif event.type in (EventType.WEIGHT_VERIFIED,):
            self.weight = data.get("weight")
        elif event.type == EventType.PHASE_CHANGED:
            self.phase = str(data.get("to", self.phase))
        elif event.type == EventType.MEASUREMENT:
            self.readings[str(data.get("metric"))] = (data.get("value"), str(data.get("phase")))

    def text(self, now: datetime | None = None) -> Text:
        now = now or datetime.now(UTC)
        out = Text()
        out.append(self.phase, style="bold magenta")
        if self.step:
            out.append(f"  step {self.step}")
        if self.until is not None and self.until > now:
            left = math.ceil((self.until - now).total_seconds())
            out.append(f" ({format_duration(left)} left)", "cyan")
        if self.weight is not None:
            out.append(f"  canary {self.weight}%", style="bold")
        for metric, (value, phase) in sorted(self.readings.items()):
            shown = "no data" if value is None else f"{value:.4g}"
            mark, style = ("✓", "green") if phase == "successful" else ("✗", "red")
            out.append(f"  {metric} {shown} ")
            out.append(mark, style=style)
        return out

    def __rich__(self) -> Text:
        return self.text()


class LiveStatus:
    """Owns the live line; stops it when the rollout finishes or the renderer closes."""

    def __init__(self, console: Console) -> None:
        self.summary = Summary()
        self._status: Any = console.status(self.summary, spinner="dots")
        self._running = False

    def update(self, event: Event) -> None:
        self.summary.update(event)
        if event.type == EventType.ROLLOUT_FINISHED or event.type == EventType.PREFLIGHT_FAILED:
            self.stop()
        elif not self._running and event.type == EventType.ROLLOUT_CREATED:
            self._status.start()
            self._running = True

    def stop(self) -> None:
        if self._running:
            self._status.stop()
            self._running = False
