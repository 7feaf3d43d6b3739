"""The canary's weight as `status` shows it: read live from the router the rollout's snapshot
names when it answers (within a few seconds), else the last weight the rollout recorded -
and which of the two it is, with the time of a recorded one."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipsafe.records import Event, EventType, Snapshot

LIVE_READ_SECONDS = 3.0


@dataclass
class CanaryReading:
    weight: int | None
    source: str  # "live" | "recorded" | "none"
    at: datetime | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "source": self.source,
            "at": self.at.isoformat() if self.at else None,
            "note": self.note,
        }


def recorded(events: list[Event]) -> CanaryReading:
    """The last weight the router confirmed; 0 once a rollback restored the snapshot (a
    rollout starts from a canary at 0%, and the restore is read back and compared)."""
    last: CanaryReading = CanaryReading(None, "none")
    for e in events:
        if e.type == EventType.WEIGHT_VERIFIED and isinstance(e.data.get("weight"), int):
            last = CanaryReading(int(e.data["weight"]), "recorded", e.time)
        elif e.type == EventType.ROLLBACK_FINISHED:
            last = CanaryReading(0, "recorded", e.time, "restored to the snapshot")
    return last


def read(
    providers: Any, snapshot: Snapshot | None, events: list[Event], now: datetime
) -> CanaryReading:
    fallback = recorded(events)
    if snapshot is None:
        return fallback
    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            router = providers.router(snapshot.router, snapshot.config)
            answer["weight"] = int(router.get_weight())
        except Exception as exc:  # any failure means: show what was recorded, say why
            answer["error"] = f"{type(exc).__name__}: {exc}"

    worker = threading.Thread(target=ask, daemon=True)  # a hung router must not hang status
    worker.start()
    worker.join(LIVE_READ_SECONDS)
    if "weight" in answer:
        return CanaryReading(answer["weight"], "live", now, f"read from {snapshot.router} now")
    why = answer.get("error") or f"no answer in {LIVE_READ_SECONDS:.0f}s"
    fallback.note = (fallback.note + "; " if fallback.note else "") + (
        f"{snapshot.router} did not answer: {why}"
    )
    return fallback
