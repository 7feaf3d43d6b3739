"""Commands decide and return intents; only the rollout applies them (RolloutEngine.apply)."""

from __future__ import annotations

from typing import Any

import pytest

from shipsafe.engine import commands
from shipsafe.engine.intents import (
    ClearHolds,
    CompleteStep,
    PauseIntent,
    RequestRollback,
    Transition,
)
from shipsafe.errors import UsageError
from shipsafe.records import Command, CommandKind, EventType, Phase, Reason
from tests.conftest import ALICE
from tests.fakes import FakeMetrics
from tests.test_phase_table import rollout_in


def command(engine: Any, kind: CommandKind, **args: Any) -> Command:
    return Command(rollout_id=engine.record.id, kind=kind, actor=ALICE,
                   created_at=engine.now(), args=args)


def test_deciding_a_pause_changes_nothing_until_the_rollout_applies_it(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    engine = rollout_in(make_ctx, metrics, Phase.PROGRESSING)
    decision = commands.decide(engine, command(engine, CommandKind.PAUSE), engine.now())
    assert decision.result == "paused"
    assert decision.intents == (
        PauseIntent(Phase.PAUSED, Reason.MANUAL_PAUSE, f"paused by {ALICE.label()}"),
    )
    assert engine.record.phase == Phase.PROGRESSING
    engine.apply(decision.intents)
    assert engine.record.phase == Phase.PAUSED
    assert engine.runtime.pause_reason == Reason.MANUAL_PAUSE


def test_abort_is_a_rollback_request_ending_aborted(make_ctx: Any, metrics: FakeMetrics) -> None:
    engine = rollout_in(make_ctx, metrics, Phase.PROGRESSING)
    decision = commands.decide(
        engine, command(engine, CommandKind.ABORT, reason="bad build"), engine.now()
    )
    (intent,) = decision.intents
    assert isinstance(intent, RequestRollback)
    assert (intent.reason, intent.end) == (Reason.MANUAL_ABORT, Phase.ABORTED)
    assert intent.message.endswith(": bad build")
    assert engine.record.phase == Phase.PROGRESSING


def test_promote_from_a_manual_pause_resumes_then_completes_the_step(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    engine = rollout_in(make_ctx, metrics, Phase.PAUSED)
    step = engine.record.step_index
    decision = commands.decide(engine, command(engine, CommandKind.PROMOTE), engine.now())
    kinds = [type(i) for i in decision.intents]
    assert kinds == [Transition, CompleteStep]
    assert engine.record.step_index == step  # nothing applied yet
    engine.apply(decision.intents)
    assert engine.record.phase == Phase.PROGRESSING
    assert engine.record.step_index == step + 1
    started = [e for e in engine.ctx.store.events(engine.record.id)
               if e.type == EventType.STEP_STARTED]
    assert started[-1].data["step"] == step + 2


def test_resume_clears_a_wait_for_evidence_and_returns_to_progressing(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    engine = rollout_in(make_ctx, metrics, Phase.PAUSED)
    assert engine.runtime.step is not None
    engine.runtime.step.detail["held_since"] = engine.now().isoformat()
    decision = commands.decide(engine, command(engine, CommandKind.RESUME), engine.now())
    assert [type(i) for i in decision.intents] == [ClearHolds, Transition]
    engine.apply(decision.intents)
    assert "held_since" not in engine.runtime.step.detail
    assert engine.record.phase == Phase.PROGRESSING


def test_a_promote_issued_at_an_earlier_step_is_refused_with_both_steps_named(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    engine = rollout_in(make_ctx, metrics, Phase.PAUSED)
    at = engine.record.step_index
    stale = command(engine, CommandKind.PROMOTE).model_copy(update={"args": {"step": at - 1}})
    with pytest.raises(UsageError, match=f"issued at step {at}; the rollout is at step {at + 1}"):
        commands.decide(engine, stale, engine.now())
    here = command(engine, CommandKind.PROMOTE).model_copy(update={"args": {"step": at}})
    assert commands.decide(engine, here, engine.now()).intents
