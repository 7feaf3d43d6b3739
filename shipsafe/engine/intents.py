"""What a control command asks of the rollout, as plain data.

Commands (promote, pause, resume, abort, rollback, approve; engine/commands.py) decide and
return a `Decision`: the result said to the caller and the intents, in order. The rollout
applies them in one place (`RolloutEngine.apply`), so every phase change, step change and
waiver a command causes goes through the same code as the loop's own. Nothing here does
I/O; nothing here imports the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipsafe.records import Approval, EventType, Phase, Reason


@dataclass(frozen=True)
class Transition:
    """Change phase (through the one transition table)."""

    to: Phase
    reason: Reason
    message: str


@dataclass(frozen=True)
class PauseIntent:
    """Stop for a human: remember why, then change phase."""

    phase: Phase
    reason: Reason
    message: str


@dataclass(frozen=True)
class CompleteStep:
    """The current step is done; the next one starts now."""

    message: str = ""


@dataclass(frozen=True)
class RestartStep:
    """Start the step at `index` afresh (its state counted from `at`, None: from when it is
    applied), without a step_started event: a full promotion jumping to the last step, an
    inconclusive analysis measured again."""

    index: int
    at: datetime | None


@dataclass(frozen=True)
class RequestRollback:
    """Roll back to the snapshot; the rollout ends in `end` once traffic is restored."""

    reason: Reason
    message: str
    end: Phase = Phase.ROLLED_BACK


@dataclass(frozen=True)
class ResetInconclusiveBreakers:
    """A human accepted an inconclusive breaker: its counters start afresh at `at`."""

    at: datetime


@dataclass(frozen=True)
class ClearHolds:
    """A human acted: a wait for evidence on the current step is counted afresh."""


@dataclass(frozen=True)
class Waive:
    """A human accepted step analyses at this weight without evidence (recorded)."""

    names: tuple[str, ...]
    who: str


@dataclass(frozen=True)
class RecordApproval:
    """Store an approval that verified."""

    approval: Approval


@dataclass(frozen=True)
class Announce:
    """Emit an event (a notice, an approval accepted or refused)."""

    type: EventType
    reason: Reason | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Intent = (
    Transition
    | PauseIntent
    | CompleteStep
    | RestartStep
    | RequestRollback
    | ResetInconclusiveBreakers
    | ClearHolds
    | Waive
    | RecordApproval
    | Announce
)


@dataclass(frozen=True)
class Decision:
    """A command's answer: what it says to its caller, and what the rollout is to do."""

    result: str
    intents: tuple[Intent, ...] = ()
