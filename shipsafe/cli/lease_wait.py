"""What a command says while it waits for another process's driver: whom it waits for, and a
countdown to the moment that driver's lease runs out (a dead driver is taken over then)."""

from __future__ import annotations

import math
from typing import Any


class LeaseWait:
    """`on_wait` for submit_command. At a terminal: one line, updated in place. In a log or a
    pipe: the first line, then one every 5 s (every second in the last 10). JSON: one
    `{"kind": "waiting", ...}` line when the wait starts."""

    def __init__(self, session: Any, rollout_id: str, kind: str) -> None:
        self.s = session
        self.rollout_id = rollout_id
        self.kind = kind
        self.last_shown: int | None = None
        self.status: Any = None

    def text(self, holder: str, lease_left: float, wait_left: float) -> str:
        lease = max(math.ceil(lease_left), 0)
        return (
            f"waiting for {holder}, which drives {self.rollout_id}, to act on {self.kind}: its "
            f"lease runs out in {lease}s (a dead driver is taken over then; giving up in "
            f"{max(math.ceil(wait_left), 0)}s)"
        )

    def __call__(self, holder: str, lease_left: float, wait_left: float) -> None:
        lease = max(math.ceil(lease_left), 0)
        if lease == self.last_shown:
            return
        first = self.last_shown is None
        self.last_shown = lease
        if self.s.settings.json:
            if first:
                self.s.renderer.write({
                    "kind": "waiting", "rollout_id": self.rollout_id, "command": self.kind,
                    "holder": holder, "lease_seconds_left": round(lease_left, 1),
                    "wait_seconds_left": round(wait_left, 1),
                })
            return
        text = self.text(holder, lease_left, wait_left)
        console = self.s.renderer.console
        if console.is_terminal and not console.is_dumb_terminal:
            if self.status is None:
                self.status = console.status(text)
                self.status.start()
            else:
                self.status.update(text)
            return
        if first or lease <= 10 or lease % 5 == 0:
            self.s.say(text, "yellow")

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
