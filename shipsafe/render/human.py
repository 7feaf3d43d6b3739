"""Live progress for humans: an incident timeline, one line per change of state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from shipsafe.records import Event, EventType
from shipsafe.render.live import LiveStatus, Summary
from shipsafe.render.stamps import Stamps

_STYLE: dict[EventType, tuple[str, str]] = {
    EventType.ROLLOUT_CREATED: ("bold", "▶"),
    EventType.LOCK_TAKEN_OVER: ("yellow", "⚠"),
    EventType.PREFLIGHT_PASSED: ("green", "✓"),
    EventType.PREFLIGHT_FAILED: ("bold red", "✗"),
    EventType.SNAPSHOT_TAKEN: ("cyan", "◆"),
    EventType.SNAPSHOT_VERIFIED: ("cyan", "◆"),
    EventType.PHASE_CHANGED: ("magenta", "→"),
    EventType.STEP_STARTED: ("bold blue", "●"),
    EventType.STEP_COMPLETED: ("blue", "✓"),
    EventType.WEIGHT_SET: ("", "⇄"),
    EventType.WEIGHT_VERIFIED: ("green", "✓"),
    EventType.MEASUREMENT: ("dim", "·"),
    EventType.ANALYSIS_COMPLETED: ("", "≡"),
    EventType.BREAKER_TRIPPED: ("bold red", "⚡"),
    EventType.PROVIDER_ERROR: ("yellow", "!"),
    EventType.COMMAND_RECEIVED: ("yellow", "⌘"),
    EventType.COMMAND_APPLIED: ("yellow", "⌘"),
    EventType.APPROVAL_ACCEPTED: ("green", "✓"),
    EventType.APPROVAL_REFUSED: ("bold red", "✗"),
    EventType.RECONCILED: ("yellow", "↺"),
    EventType.ROLLBACK_STARTED: ("bold red", "↩"),
    EventType.ROLLBACK_FINISHED: ("bold yellow", "↩"),
    EventType.ROLLBACK_FAILED: ("bold white on red", "✗"),
    EventType.ROLLOUT_FINISHED: ("bold", "■"),
    EventType.NOTICE: ("yellow", "i"),
}

# noisy or redundant for a person watching
_QUIET = {EventType.WEIGHT_INTENT, EventType.LOCK_ACQUIRED, EventType.LOCK_RELEASED}


def _breakers_failed(event: Event) -> bool:
    return (
        event.type == EventType.ANALYSIS_COMPLETED
        and event.data.get("run") == "breakers"
        and event.data.get("phase") in ("failed", "error")
    )


class SteadyConsole(Console):
    """rich's Console exits the process (SystemExit 1) when its reader goes away; a rollout
    being rendered must go on, so stop printing instead."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        silence_stdout()


class HumanRenderer:
    """The rollout as an incident timeline: one line per change of state. Measurements are
    folded into one summary line per check (live at a terminal; in a log, printed every
    `progress_seconds` while the rollout runs, so a long pause is never silent); a
    measurement gets a line of its own only when its check changes state."""

    def __init__(
        self,
        console: Console | None = None,
        verbose: bool = False,
        utc: bool = False,
        progress_seconds: float | None = None,
        sink: Callable[[str | Text], None] | None = None,
        final_checks: bool = True,
    ) -> None:
        """`sink`: collect the lines (markup or Text) instead of printing them;
        `final_checks`: print every check's summary line once the rollout has finished."""
        # soft_wrap: a line is one line in CI logs and pipes, whatever the width
        self.console = console or SteadyConsole(highlight=False, soft_wrap=True)
        self.verbose = verbose
        self.stamps = Stamps(utc)
        self.progress_seconds = (
            progress_seconds if progress_seconds is not None else _progress_seconds()
        )
        self._last_text = ""
        self._said: set[str] = set()
        self._last_progress: datetime | None = None
        self.closed = False
        self.summary = Summary()
        self.sink = sink
        self.final_checks = final_checks
        self.live: LiveStatus | None = None
        if sink is None and self.console.is_terminal and not self.console.is_dumb_terminal:
            self.live = LiveStatus(self.console, self.summary)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()

    def __call__(self, event: Event) -> None:
        changed = self.summary.update(event)
        if self.live is not None and not self.closed:
            self.live.update(event)
        if event.type in _QUIET and not self.verbose:
            return
        if event.type == EventType.MEASUREMENT:
            if self.verbose:
                style = "dim" if event.data.get("phase") == "successful" else "yellow"
                self._line(event, style, "·", _measurement(event.data))
            elif changed:
                failing = event.data.get("phase") != "successful"
                self._line(event, "yellow" if failing else "green", "·", changed)
            return
        if _breakers_failed(event) and not self.verbose:
            return  # the breaker_tripped line right after it names the check and its cause
        style, icon = _STYLE.get(event.type, ("", "·"))
        text = event.message or event.type.value
        if text == self._last_text and not self.verbose:
            # one cause shows up in several events (tripped, phase change, rollback started,
            # finished): say it once, then only what changed
            if event.type != EventType.PHASE_CHANGED:
                return
            text = f"{event.data.get('from')} -> {event.data.get('to')}"
        elif (
            event.type == EventType.ROLLOUT_FINISHED and text in self._said and not self.verbose
        ):
            # the cause was said when the rollback began: the end says only how it ended
            text = str(event.data.get("phase", "finished")).replace("_", " ")
        else:
            self._last_text = text
        self._said.add(text)
        self._line(event, style, icon, text)
        if event.type == EventType.ROLLOUT_FINISHED and self.final_checks:
            for line in self.summary.checks.lines():  # the readings, once, at the end
                self._print_text(line)

    def heartbeat(self, now: datetime) -> None:
        """Called between ticks: in a log, print the live lines every `progress_seconds`."""
        if self.live is not None:
            self.live.refresh()  # the countdown of a pause, at a terminal
            return
        if self.closed or self.progress_seconds <= 0:
            return
        if not self.summary.rollout or self.summary.finished:
            return
        if self._last_progress is None:
            self._last_progress = now
            return
        if (now - self._last_progress).total_seconds() < self.progress_seconds:
            return
        self._last_progress = now
        head = self.summary.text(now)
        self._print(f"[dim]{self.stamps(now)}[/dim] … " + escape(head.plain))
        for line in self.summary.checks.lines():
            self._print_text(line)

    def _line(self, event: Event, style: str, icon: str, text: str) -> None:
        stamp = self.stamps(event.time)
        body = escape(text)
        self._print(
            f"[dim]{stamp}[/dim] {icon} [{style}]{body}[/{style}]"
            if style
            else f"[dim]{stamp}[/dim] {icon} {body}"
        )

    def print(self, text: str, style: str = "") -> None:
        self._print(f"[{style}]{escape(text)}[/{style}]" if style else escape(text))

    def _print_text(self, text: Text) -> None:
        self.emit(text)

    def _print(self, markup: str) -> None:
        self.emit(markup)

    def emit(self, renderable: str | Text) -> None:
        """Print one line (rich markup, or a Text)."""
        if self.closed:
            return
        if self.sink is not None:
            self.sink(renderable)
            return
        try:
            self.console.print(renderable)
        except BrokenPipeError:
            # the reader went away (`| head`): the rollout must not stop for that
            self.closed = True
            silence_stdout()


def _progress_seconds() -> float:
    import os

    try:
        return float(os.environ.get("SHIPSAFE_PROGRESS_SECONDS", "30"))
    except ValueError:
        return 30.0


def _measurement(data: dict[str, Any]) -> str:
    value = data.get("value")
    shown = "no data" if value is None else f"{value:.6g}"
    condition = data.get("condition") or ""
    run = str(data.get("run", ""))
    where = "breaker" if run == "breakers" else run
    return f"{data.get('metric')} = {shown}  ({condition}) {data.get('phase')}  [{where}]"


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail either."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
