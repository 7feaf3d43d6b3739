"""Signals while a rollout is driven: turned into requests, handled where it is safe.

SIGINT, SIGTERM and SIGHUP (a CI job cancelled) do not raise where they land: the first one
only records a rollback request, which the driver takes between two ticks (never inside a
store transaction, never between an intent and its outcome). A second signal within
SECOND_SIGNAL_SECONDS means "stop now": it raises LeaveNow, except inside a critical section
(a store transaction), where it waits for the section to end. Nothing ever leaves a
transaction open.

The state is per process (signals are), so it lives here as one module-level instance.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from shipsafe.errors import LeaveNow

__all__ = ["HANDLED", "SECOND_SIGNAL_SECONDS", "Interrupts", "LeaveNow"]

SECOND_SIGNAL_SECONDS = 5.0
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupts:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._last_at: float | None = None
        self._request: str | None = None
        self._depth = 0
        self._leave: str | None = None  # a second signal met inside a critical section

    # the handler --------------------------------------------------------------------------
    def on_signal(self, signum: int, frame: Any = None) -> None:
        name = signal.Signals(signum).name
        now = self._monotonic()
        second = self._last_at is not None and now - self._last_at <= SECOND_SIGNAL_SECONDS
        self._last_at = now
        if not second:
            self._request = name
            return
        if self._depth > 0 or threading.current_thread() is not threading.main_thread():
            self._leave = name
            return
        raise LeaveNow(name)

    # the driver's side --------------------------------------------------------------------
    @property
    def requested(self) -> str | None:
        """The signal asking for a rollback, not yet taken."""
        return self._request

    def take_request(self) -> str | None:
        """The signal that asked for a rollback since the last look (None: none did)."""
        request, self._request = self._request, None
        return request

    def leave_if_asked(self) -> None:
        """At a safe point: a second signal that waited for a critical section leaves now."""
        if self._leave is not None and self._depth == 0:
            name, self._leave = self._leave, None
            raise LeaveNow(name)

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A section no second signal may interrupt (a store transaction); it raises LeaveNow
        when the section is over instead. Signals reach the main thread only: another
        thread's section (the lease heartbeat's) neither counts nor raises."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        self.leave_if_asked()

    def reset(self) -> None:
        self._last_at = None
        self._request = None
        self._leave = None


INTERRUPTS = Interrupts()


def critical() -> Any:
    return INTERRUPTS.critical()


@contextmanager
def rollback_on_signal() -> Iterator[Interrupts]:
    """Install the handlers for SIGINT, SIGTERM and SIGHUP (main thread only) for as long as
    a rollout may be driven; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield INTERRUPTS
        return
    INTERRUPTS.reset()
    previous = {sig: signal.signal(sig, INTERRUPTS.on_signal) for sig in HANDLED}
    try:
        yield INTERRUPTS
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
