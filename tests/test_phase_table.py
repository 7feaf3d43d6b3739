"""The one phase table, walked exhaustively: every (phase, command) pair is either refused
before it is recorded, or applied by the engine and lands in the phase the table names; and
every phase the table names is a transition the state machine allows."""

from __future__ import annotations

from typing import Any

import pytest

from shipsafe.engine.control import start_deploy, submit_command
from shipsafe.engine.phases import ON_COMMAND, TRANSITIONS
from shipsafe.errors import WrongPhase
from shipsafe.records import Command, CommandKind, Phase, Reason
from tests.conftest import ALICE, make_plan
from tests.fakes import FakeMetrics

PAIRS = [(phase, kind) for phase in Phase for kind in CommandKind]


def test_the_table_has_a_row_for_every_phase() -> None:
    assert set(ON_COMMAND) == set(Phase) == set(TRANSITIONS)


@pytest.mark.parametrize(("phase", "kind"), PAIRS, ids=lambda v: str(v))
def test_every_target_of_the_table_is_a_legal_transition(phase: Phase, kind: CommandKind) -> None:
    target = ON_COMMAND[phase].get(kind)
    assert target is None or target == phase or target in TRANSITIONS[phase]


def rollout_in(make_ctx: Any, metrics: FakeMetrics, phase: Phase) -> Any:
    """A real rollout (preflight, snapshot, step 1 entered), then put in `phase`."""
    metrics.answer = 0.001
    plan = make_plan("steps:\n  - setWeight: 10\n  - pause: {}\n  - approval: {}\n")
    engine = start_deploy(make_ctx(), plan)
    engine.record.phase = phase
    if phase == Phase.PAUSED:
        engine.runtime.pause_reason = Reason.MANUAL_PAUSE
    engine.save()
    return engine


@pytest.mark.parametrize(("phase", "kind"), PAIRS, ids=lambda v: str(v))
def test_every_phase_and_command_pair_does_what_the_table_says(
    make_ctx: Any, metrics: FakeMetrics, store: Any, phase: Phase, kind: CommandKind
) -> None:
    engine = rollout_in(make_ctx, metrics, phase)
    target = ON_COMMAND[phase].get(kind)
    if target is None:
        with pytest.raises(WrongPhase):
            submit_command(make_ctx(), engine.record.id, kind, {})
        assert store.pending_commands(engine.record.id) == []  # refused before recorded
        return
    store.add_command(
        Command(rollout_id=engine.record.id, kind=kind, actor=ALICE,
                created_at=engine.now(), args={})
    )
    engine.apply_commands(engine.now())
    assert engine.record.phase == target
    assert store.pending_commands(engine.record.id) == []
