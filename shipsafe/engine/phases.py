"""The rollout state machine: one transition table, one function that changes phase."""

from __future__ import annotations

from collections.abc import Callable

from shipsafe.errors import IllegalTransition
from shipsafe.records import CommandKind, Event, EventType, Phase, Reason, RolloutRecord

P = Phase
C = CommandKind

TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    P.PENDING: frozenset({P.PROGRESSING, P.ROLLING_BACK, P.ABORTED}),
    P.PROGRESSING: frozenset({P.PAUSED, P.AWAITING_APPROVAL, P.PROMOTING, P.ROLLING_BACK}),
    P.PAUSED: frozenset({P.PROGRESSING, P.PROMOTING, P.ROLLING_BACK}),
    P.AWAITING_APPROVAL: frozenset({P.PROGRESSING, P.PAUSED, P.ROLLING_BACK}),
    # PAUSED: the target fence found another writer before the write (a human decides)
    P.PROMOTING: frozenset({P.SUCCEEDED, P.ROLLING_BACK, P.PAUSED}),
    # a succeeded rollout can still be rolled back to its snapshot (the rollback window)
    P.SUCCEEDED: frozenset({P.ROLLING_BACK}),
    P.ROLLING_BACK: frozenset({P.ROLLED_BACK, P.ABORTED, P.ROLLBACK_FAILED}),
    # a human may retry a failed rollback once the cause is fixed
    P.ROLLBACK_FAILED: frozenset({P.ROLLING_BACK}),
    P.ROLLED_BACK: frozenset(),
    P.ABORTED: frozenset(),
}


# What a command does in each phase: the phase it leads to (the same phase when it acts
# without changing phase: promote past a step, an approval recorded, resume with nothing to
# resume, a rollback already under way). A command missing from a phase's row is refused
# before it is recorded. The commands allowed per phase are derived from this table, and
# every target is a transition of TRANSITIONS (tests/test_phase_table.py walks every pair).
ON_COMMAND: dict[Phase, dict[CommandKind, Phase]] = {
    P.PENDING: {C.ABORT: P.ROLLING_BACK, C.ROLLBACK: P.ROLLING_BACK},
    P.PROGRESSING: {
        C.PROMOTE: P.PROGRESSING,
        C.PAUSE: P.PAUSED,
        C.RESUME: P.PROGRESSING,
        C.APPROVE: P.PROGRESSING,
        C.ABORT: P.ROLLING_BACK,
        C.ROLLBACK: P.ROLLING_BACK,
    },
    P.PAUSED: {
        C.PROMOTE: P.PROGRESSING,
        C.RESUME: P.PROGRESSING,
        C.APPROVE: P.PAUSED,
        C.ABORT: P.ROLLING_BACK,
        C.ROLLBACK: P.ROLLING_BACK,
    },
    # the approval is recorded here; the next tick moves on to progressing
    P.AWAITING_APPROVAL: {
        C.RESUME: P.AWAITING_APPROVAL,
        C.APPROVE: P.AWAITING_APPROVAL,
        C.ABORT: P.ROLLING_BACK,
        C.ROLLBACK: P.ROLLING_BACK,
    },
    P.PROMOTING: {C.RESUME: P.PROMOTING, C.ABORT: P.ROLLING_BACK, C.ROLLBACK: P.ROLLING_BACK},
    # a succeeded rollout stays open to rollback (the rollback window)
    P.SUCCEEDED: {C.ROLLBACK: P.ROLLING_BACK},
    P.ROLLING_BACK: {C.ABORT: P.ROLLING_BACK, C.ROLLBACK: P.ROLLING_BACK},
    # a failed rollback may be tried again once its cause is fixed
    P.ROLLBACK_FAILED: {C.ROLLBACK: P.ROLLING_BACK},
    P.ROLLED_BACK: {},
    P.ABORTED: {},
}


def phases_allowing(kind: CommandKind) -> frozenset[Phase]:
    """The phases in which `kind` is accepted, derived from ON_COMMAND."""
    return frozenset(phase for phase, row in ON_COMMAND.items() if kind in row)


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
