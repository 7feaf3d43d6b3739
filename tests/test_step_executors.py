"""Step executors driven through a fake effects object: what they ask for (weights set,
phase changes, commands run) and the typed outcome they return, with no engine, no store
and no real router."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shipsafe.engine import effects, evidence, steps
from shipsafe.engine.outcomes import Failed, NeedsHuman, StepDone, Waiting
from shipsafe.records import EventType, Phase, Reason, StepState
from tests.conftest import make_plan
from tests.fake_effects import FakeEffects


def at_step(fx: FakeEffects, index: int) -> tuple[Any, StepState]:
    fx.record.step_index = index
    step = fx.steps[index]
    state = steps.enter(fx, step, index, fx.now())
    needed = steps.required_checks(step)
    if needed and fx.runtime.evidence is not None:  # as the rollout records it
        fx.runtime.evidence = evidence.require(fx.runtime.evidence, fx.plan, needed)
    fx.runtime.step = state
    return step, state


def test_the_fake_has_every_verb_of_the_effects_protocol() -> None:
    verbs = {name for group in effects.GROUPS for name in vars(group) if not name.startswith("_")}
    assert {"emit", "transition", "set_weight", "measure", "run_command"} <= verbs
    fx = FakeEffects(make_plan("steps:\n  - setWeight: 10\n"))
    assert {v for v in verbs if not hasattr(fx, v)} == set()


def test_a_weight_step_sets_the_weight_and_returns_it_verified() -> None:
    fx = FakeEffects(make_plan("steps:\n  - setWeight: 10\n"))
    step, state = at_step(fx, 0)
    outcome = steps.progress(fx, step, state, fx.now())
    assert outcome == StepDone("", verified_weight=10)
    assert fx.weights_set == [10]
    # the executor leaves recording the read-back to the rollout
    assert fx.runtime.canary_weight == 0


def test_an_increase_without_evidence_holds_the_weight_and_sets_nothing() -> None:
    plan = make_plan("steps:\n  - setWeight: 10\n  - analysis: {templates: [error-rate]}\n"
                     "  - setWeight: 50\n")
    fx = FakeEffects(plan)
    fx.runtime.canary_weight = 10
    _, state = at_step(fx, 1)  # the analysis step makes error-rate required at 10%
    step, state = at_step(fx, 2)
    outcome = steps.progress(fx, step, state, fx.now())
    assert isinstance(outcome, Waiting) and outcome.until is not None
    assert fx.weights_set == []
    assert [(t, r) for t, r, _ in fx.events] == [(EventType.NOTICE, Reason.NO_EVIDENCE)]


def test_a_weight_the_router_never_reads_back_fails_after_the_verify_timeout() -> None:
    fx = FakeEffects(make_plan("steps:\n  - setWeight: 10\n"))
    fx.fake_router.ignore_sets = True
    step, state = at_step(fx, 0)
    assert isinstance(steps.progress(fx, step, state, fx.now()), Waiting)
    fx.clock.advance(fx.verify_timeout)
    outcome = steps.progress(fx, step, state, fx.now())
    assert isinstance(outcome, Failed)
    assert outcome.reason == Reason.WEIGHT_NOT_VERIFIED
    assert "router reads canary 0%, expected 10%" in outcome.message


def test_promote_moves_to_promoting_before_it_writes_100() -> None:
    fx = FakeEffects(make_plan("steps:\n  - setWeight: 10\n"))
    fx.runtime.canary_weight = 10
    last = len(fx.steps) - 1
    step, state = at_step(fx, last)
    outcome = steps.progress(fx, step, state, fx.now())
    assert outcome == StepDone("promoted", verified_weight=100)
    assert fx.transitions == [(Phase.PROMOTING, Reason.STEPS_COMPLETE)]
    assert fx.weights_set == [100]


@pytest.mark.parametrize(("approved", "expected"), [(1, NeedsHuman), (2, StepDone)])
def test_an_approval_step_waits_for_a_human_until_enough_approvals_verify(
    approved: int, expected: type
) -> None:
    fx = FakeEffects(make_plan("steps:\n  - approval: {count: 2}\n"))
    fx.approvals["gate-1"] = approved
    step, state = at_step(fx, 0)
    outcome = steps.progress(fx, step, state, fx.now())
    assert isinstance(outcome, expected)
    if isinstance(outcome, NeedsHuman):
        assert outcome.phase == Phase.AWAITING_APPROVAL
        assert f"({approved} of 2)" in outcome.message


def test_a_timed_pause_waits_until_its_end_then_is_done() -> None:
    fx = FakeEffects(make_plan("steps:\n  - pause: {duration: 30s}\n"))
    step, state = at_step(fx, 0)
    outcome = steps.progress(fx, step, state, fx.now())
    assert outcome == Waiting(fx.now() + timedelta(seconds=30))
    fx.clock.advance(30)
    assert steps.progress(fx, step, state, fx.now()) == StepDone()


def test_a_migration_without_a_verified_data_snapshot_fails_and_runs_nothing() -> None:
    fx = FakeEffects(make_plan(
        "steps:\n  - migrate: {name: add-column, up: [./up.sh], down: [./down.sh], "
        "compatibility: expand}\n"
    ))
    step, state = at_step(fx, 0)
    outcome = steps.progress(fx, step, state, fx.now())
    assert isinstance(outcome, Failed)
    assert outcome.reason == Reason.SNAPSHOT_UNVERIFIED
    assert fx.commands_run == []
    assert fx.runtime.migrations == []


def test_entering_an_analysis_step_changes_nothing_and_names_what_it_requires() -> None:
    fx = FakeEffects(make_plan("steps:\n  - setWeight: 10\n"
                               "  - analysis: {templates: [error-rate, latency]}\n"))
    before = fx.runtime.model_copy(deep=True)
    step = fx.steps[1]
    state = steps.enter(fx, step, 1, fx.now())
    assert fx.runtime == before
    assert state.analysis is not None and state.analysis.phase.value == "running"
    assert steps.required_checks(step) == ["error-rate", "latency"]
    assert fx.events == [] and fx.transitions == []
