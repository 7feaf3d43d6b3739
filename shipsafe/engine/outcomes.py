"""What a step executor says after one look at its step (engine/steps.py): typed, and
applied by the rollout in one place (RolloutEngine._advance). Nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shipsafe.records import Phase, Reason


@dataclass(frozen=True)
class StepDone:
    """The step is complete. `verified_weight`: the router read this weight back, so
    evidence at it counts from now (the rollout records that before moving on)."""

    message: str = ""
    verified_weight: int | None = None


@dataclass(frozen=True)
class Waiting:
    """Not yet: look again at `until` (None: when something else wakes the loop)."""

    until: datetime | None = None


@dataclass(frozen=True)
class NeedsHuman:
    """Stop in `phase` (paused, awaiting approval) until a human acts."""

    phase: Phase
    reason: Reason
    message: str


@dataclass(frozen=True)
class Failed:
    """The step failed: roll back, for `reason`."""

    reason: Reason
    message: str


StepOutcome = StepDone | Waiting | NeedsHuman | Failed


def done(message: str = "", verified_weight: int | None = None) -> StepDone:
    return StepDone(message, verified_weight)


def wait(until: datetime | None = None) -> Waiting:
    return Waiting(until)


def human(phase: Phase, reason: Reason, message: str) -> NeedsHuman:
    return NeedsHuman(phase, reason, message)


def fail(reason: Reason, message: str) -> Failed:
    return Failed(reason, message)
