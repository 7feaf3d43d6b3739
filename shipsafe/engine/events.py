"""Events out: the engine emits, the store persists, subscribers (renderers, audit) follow."""

from __future__ import annotations

from typing import Any

from shipsafe.clock import Clock
from shipsafe.engine.context import Subscriber
from shipsafe.records import Event, EventType, Reason
from shipsafe.store.base import StateStore


class EventBus:
    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        actor: str,
        subscribers: list[Subscriber],
    ) -> None:
        self.store = store
        self.clock = clock
        self.actor = actor
        self.subscribers = subscribers

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
            subscriber(stored)
        return stored
