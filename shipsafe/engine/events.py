"""Events out: the engine emits, the store persists, subscribers (renderers, audit) follow."""

from __future__ import annotations

from typing import Any

from shipsafe.clock import Clock
from shipsafe.engine.context import Subscriber
from shipsafe.errors import ShipsafeError
from shipsafe.records import Event, EventType, Reason
from shipsafe.store.base import HistoryStore


class EventBus:
    def __init__(
        self,
        store: HistoryStore,
        clock: Clock,
        actor: str,
        subscribers: list[Subscriber],
    ) -> None:
        self.store = store
        self.clock = clock
        self.actor = actor
        self.subscribers = subscribers
        # what subscribers (the audit log) could not take: the event itself is in the store
        # already; the engine decides (roll back when going forward, carry on when rolling
        # back: a damaged audit log must never make a rollback impossible)
        self.failures: list[str] = []

    def emit(
        self,
        rollout_id: str,
        type: EventType,
        reason: Reason | None = None,
        message: str = "",
        data: dict[str, Any] | None = None,
    ) -> Event:
        event = Event(
            rollout_id=rollout_id,
            type=type,
            time=self.clock.now(),
            reason=reason,
            message=message,
            actor=self.actor,
            data=data or {},
        )
        stored = self.store.append_event(event)
        for subscriber in self.subscribers:
            try:
                subscriber(stored)
            except (ShipsafeError, OSError) as exc:
                self.failures.append(str(exc))
        return stored

    def take_failures(self) -> list[str]:
        failures, self.failures = self.failures, []
        return failures
