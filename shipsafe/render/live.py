"""The live lines under the event lines, for a person at a terminal: where the rollout is,
how long a pause has left, the canary's weight - and one summary line per check, updated in
place. In a log (no terminal) the same lines are printed every few seconds instead."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.text import Text

from shipsafe.durations import format_duration
from shipsafe.records import Event, EventType
from shipsafe.render.checks import CheckBoard


class Summary:
    """What the live lines say; re-rendered by rich a few times a second (countdowns)."""

    def __init__(self) -> None:
        self.rollout = ""
        self.step = ""
        self.until: datetime | None = None
        self.weight: int | None = None
        self.phase = "starting"
        self.finished = False
        self.checks = CheckBoard()

    def update(self, event: Event) -> str | None:
        """Fold an event in; for a measurement, return the line to print if its check
        changed state (see CheckBoard.update)."""
        data = event.data
        self.rollout = event.rollout_id
        if event.type == EventType.STEP_STARTED:
            self.step = event.message.split(": ", 1)[-1] if event.message else ""
            self.step = f"{data.get('step')}/{data.get('of', '?')} {self.step}"
            until = data.get("until")
            self.until = datetime.fromisoformat(until) if until else None
        elif event.type == EventType.WEIGHT_VERIFIED:
            self.weight = data.get("weight")
        elif event.type == EventType.ROLLBACK_FINISHED:
            self.weight = 0  # traffic is back on the snapshot, and the router said so
        elif event.type == EventType.PHASE_CHANGED:
            self.phase = str(data.get("to", self.phase))
        elif event.type in (EventType.ROLLOUT_FINISHED, EventType.PREFLIGHT_FAILED):
            self.finished = True
        elif event.type == EventType.MEASUREMENT:
            return self.checks.update(event)
        return None

    def text(self, now: datetime | None = None) -> Text:
        now = now or datetime.now(UTC)
        out = Text()
        if self.rollout:
            out.append(f"{self.rollout}  ", style="dim")
        out.append(self.phase, style="bold magenta")
        if self.step:
            out.append(f"  step {self.step}")
        if self.until is not None and self.until > now:
            left = math.ceil((self.until - now).total_seconds())
            out.append(f" ({format_duration(left)} left)", "cyan")
        if self.weight is not None:
            out.append(f"  canary {self.weight}%", style="bold")
        return out

    def lines(self, now: datetime | None = None) -> list[Text]:
        return [self.text(now), *self.checks.lines()]

    def __rich__(self) -> Group:
        return Group(*self.lines())


class LiveStatus:
    """Owns the live lines; stops them when the rollout finishes or the renderer closes."""

    def __init__(self, console: Console, summary: Summary) -> None:
        from rich.live import Live

        self.summary = summary
        # refreshed from the driving thread only (every event, and between ticks): no
        # refresh thread racing the event lines that are printed above the live ones
        self._live: Any = Live(
            summary, console=console, auto_refresh=False, transient=True,
            redirect_stdout=False, redirect_stderr=False,
        )
        self._running = False

    def update(self, event: Event) -> None:
        if event.type in (EventType.ROLLOUT_FINISHED, EventType.PREFLIGHT_FAILED):
            self.stop()
        elif not self._running and event.type == EventType.ROLLOUT_CREATED:
            self._live.start()
            self._running = True
        else:
            self.refresh()

    def refresh(self) -> None:
        if self._running:
            self._live.refresh()

    def stop(self) -> None:
        if self._running:
            self._live.stop()
            self._running = False
