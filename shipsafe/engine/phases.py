"""The rollout state machine: one transition table, one function that changes phase."""

from __future__ import annotations

from collections.abc import Callable

from shipsafe.errors import UsageError
from shipsafe.records import Event, EventType, Phase, Reason, RolloutRecord

P = Phase

TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    P.PENDING: frozenset({P.PROGRESSING, P.ROLLING_BACK, P.ABORTED}),
    P.PROGRESSING: frozenset({P.PAUSED, P.AWAITING_APPROVAL, P.PROMOTING, P.ROLLING_BACK}),
    P.PAUSED: frozenset({P.PROGRESSING, P.PROMOTING, P.ROLLING_BACK}),
    P.AWAITING_APPROVAL: frozenset({P.PROGRESSING, P.PAUSED, P.ROLLING_BACK}),
    P.PROMOTING: frozenset({P.SUCCEEDED, P.ROLLING_BACK}),
    # a succeeded rollout can still be rolled back to its snapshot (the rollback window)
    P.SUCCEEDED: frozenset({P.ROLLING_BACK}),
    P.ROLLING_BACK: frozenset({P.ROLLED_BACK, P.ABORTED, P.ROLLBACK_FAILED}),
    # a human may retry a failed rollback once the cause is fixed
    P.ROLLBACK_FAILED: frozenset({P.ROLLING_BACK}),
    P.ROLLED_BACK: frozenset(),
    P.ABORTED: frozenset(),
}


class IllegalTransition(UsageError):
    code = "phase.illegal_transition"


def can_transition(current: Phase, to: Phase) -> bool:
    return to in TRANSITIONS[current]


def transition(
    record: RolloutRecord,
    to: Phase,
    reason: Reason,
    message: str,
    emit: Callable[..., Event],
) -> RolloutRecord:
    """Change phase (in memory; the caller saves) and emit `phase_changed` with the reason."""
    current = record.phase
    if current == to:
        return record
    if not can_transition(current, to):
        raise IllegalTransition(
            f"rollout {record.id} is {current.value}; it cannot become {to.value}"
        )
    record.phase = to
    record.message = message
    emit(
        EventType.PHASE_CHANGED,
        reason=reason,
        message=message,
        data={"from": current.value, "to": to.value},
    )
    return record
