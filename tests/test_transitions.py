"""engine/phases.transition over every (phase, phase) pair: it changes phase and emits one
phase_changed event with the reason exactly when TRANSITIONS allows it; otherwise it raises
IllegalTransition and changes nothing. Terminal phases lead nowhere."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shipsafe.engine.phases import TRANSITIONS, transition
from shipsafe.errors import IllegalTransition
from shipsafe.records import (
    TERMINAL_PHASES,
    Actor,
    ActorKind,
    EventType,
    Phase,
    Reason,
    RolloutRecord,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(phase: Phase) -> RolloutRecord:
    return RolloutRecord(
        id="r-1", name="checkout", service="checkout", environment="staging", version="2",
        plan={}, plan_digest="d" * 64, actor=Actor(id="a", kind=ActorKind.HUMAN, host="h"),
        created_at=T0, updated_at=T0, phase=phase,
    )


PAIRS = [(a, b) for a in Phase for b in Phase if a != b]


@pytest.mark.parametrize(("current", "to"), PAIRS, ids=lambda v: str(v.value))
def test_a_phase_changes_exactly_when_the_table_allows_it(current: Phase, to: Phase) -> None:
    emitted: list[tuple[Any, dict[str, Any]]] = []
    rec = record(current)

    def emit(type_: Any, **kw: Any) -> Any:
        emitted.append((type_, kw))

    if to in TRANSITIONS[current]:
        transition(rec, to, Reason.MANUAL_PAUSE, "why", emit)
        assert rec.phase == to
        assert [(t, kw["data"]) for t, kw in emitted] == [
            (EventType.PHASE_CHANGED, {"from": current.value, "to": to.value})
        ]
        assert emitted[0][1]["reason"] == Reason.MANUAL_PAUSE
    else:
        with pytest.raises(IllegalTransition):
            transition(rec, to, Reason.MANUAL_PAUSE, "why", emit)
        assert rec.phase == current and emitted == []


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
def test_staying_in_a_phase_is_no_change_and_no_event(phase: Phase) -> None:
    emitted: list[Any] = []
    transition(record(phase), phase, Reason.MANUAL_PAUSE, "", lambda *a, **k: emitted.append(a))
    assert emitted == []


def test_only_rollback_leaves_an_ended_rollout() -> None:
    for phase in TERMINAL_PHASES:
        assert TRANSITIONS[phase] <= {Phase.ROLLING_BACK}, phase
