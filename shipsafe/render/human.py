"""Live progress for humans: one line an event as it happens, coloured with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from shipsafe.records import Event, EventType
from shipsafe.render.live import LiveStatus

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


class SteadyConsole(Console):
    """rich's Console exits the process (SystemExit 1) when its reader goes away; a rollout
    being rendered must go on, so stop printing instead."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        silence_stdout()


class HumanRenderer:
    def __init__(self, console: Console | None = None, verbose: bool = False) -> None:
        # soft_wrap: a line is one line in CI logs and pipes, whatever the width
        self.console = console or SteadyConsole(highlight=False, soft_wrap=True)
        self.verbose = verbose
        self._last_text = ""
        self.closed = False
        self.live: LiveStatus | None = None
        if self.console.is_terminal and not self.console.is_dumb_terminal:
            self.live = LiveStatus(self.console)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()

    def __call__(self, event: Event) -> None:
        if self.live is not None and not self.closed:
            self.live.update(event)
        if event.type in _QUIET and not self.verbose:
            return
        if event.type == EventType.MEASUREMENT:
            style = "dim" if event.data.get("phase") == "successful" else "yellow"
            self._line(event, style, "·", _measurement(event.data))
            return
        style, icon = _STYLE.get(event.type, ("", "·"))
        text = event.message or event.type.value
        if text == self._last_text and not self.verbose:
            # one cause shows up in several events (tripped, phase change, rollback started,
            # finished): say it once, then only what changed
            if event.type != EventType.PHASE_CHANGED:
                return
            text = f"{event.data.get('from')} -> {event.data.get('to')}"
        else:
            self._last_text = text
        self._line(event, style, icon, text)

    def _line(self, event: Event, style: str, icon: str, text: str) -> None:
        stamp = event.time.astimezone().strftime("%H:%M:%S")
        body = escape(text)
        self._print(
            f"[dim]{stamp}[/dim] {icon} [{style}]{body}[/{style}]"
            if style
            else f"[dim]{stamp}[/dim] {icon} {body}"
        )

    def print(self, text: str, style: str = "") -> None:
        self._print(f"[{style}]{escape(text)}[/{style}]" if style else escape(text))

    def _print(self, markup: str) -> None:
        if self.closed:
            return
        try:
            self.console.print(markup)
        except BrokenPipeError:
            # the reader went away (`| head`): the rollout must not stop for that
            self.closed = True
            silence_stdout()


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
