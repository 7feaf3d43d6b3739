"""Rollouts driven by several processes: a killed driver, a takeover, commands, locks."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from shipsafe.clock import SystemClock
from shipsafe.engine.context import RecordedApprovals
from shipsafe.engine.control import start_deploy, submit_command
from shipsafe.engine.driver import drive
from shipsafe.errors import LockedError, UsageError
from shipsafe.records import CommandKind, EventType, OperationOutcome, Phase, Reason
from shipsafe.store.sqlite import SQLiteStore
from tests.conftest import BOB, PLAN_HEAD, TARGET_LOCK, Recorder, make_plan
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter

STEPS = """
breakers:
  - analysis: error-rate
steps:
  - setWeight: 10
  - pause: {duration: 1m}
  - setWeight: 40
  - pause: {duration: 1m}
"""


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except clause catches it."""


def test_a_driver_killed_between_intent_and_outcome_is_rolled_back_by_another_process(
    make_ctx: Any, router: FakeRouter, store: SQLiteStore, clock: Any, tmp_path: Path
) -> None:
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    router.on_set = lambda w: (_ for _ in ()).throw(Killed()) if w == 40 else None
    with pytest.raises(Killed):
        drive(engine)
    rollout_id = engine.record.id
    assert router.weights["canary"] == 40  # the router moved; the outcome was never written
    (open_op,) = store.open_operations(rollout_id)
    assert open_op.kind == "set_weight" and open_op.params == {"weight": 40}

    # a second process, another person, a fresh connection to the same store file
    clock.advance(60)  # past the dead driver's lease
    other_store = SQLiteStore.open(tmp_path / "state.db")
    other_router = FakeRouter()
    other_router.weights = dict(router.weights)
    recorder = Recorder()
    from shipsafe.engine.context import EngineContext

    ctx_b = EngineContext(
        store=other_store,
        clock=clock,
        providers=FakeProviders(other_router, FakeMetrics(0.0)),
        actor=BOB,
        subscribers=[recorder],
    )
    result = submit_command(ctx_b, rollout_id, CommandKind.ROLLBACK)
    assert result.driven_here
    assert result.phase == Phase.ROLLED_BACK
    assert other_router.weights == {"stable": 100, "canary": 0}
    ops = other_store.operations(rollout_id)
    assert [op.outcome for op in ops if op.params == {"weight": 40}] == [
        OperationOutcome.INTERRUPTED
    ]
    assert "reads canary 40%" in next(op for op in ops if op.params == {"weight": 40}).detail
    assert {"lock_taken_over", "reconciled", "rollback_finished"} <= set(recorder.types())
    # the full history is there, the interrupted step included
    history = other_store.events(rollout_id)
    step3 = [e for e in history if e.type == EventType.STEP_STARTED and e.data["step"] == 3]
    assert step3 and not [
        e for e in history if e.type == EventType.STEP_COMPLETED and e.data["step"] == 3
    ]
    # rollback used the stored snapshot's router settings, not the plan
    assert other_store.get_snapshot(rollout_id) is not None
    other_store.close()


def test_a_second_deploy_of_the_same_service_is_refused_while_the_lease_is_live(
    make_ctx: Any, router: FakeRouter
) -> None:
    start_deploy(make_ctx(), make_plan(STEPS))
    with pytest.raises(LockedError, match=f"{TARGET_LOCK} is locked by rollout checkout-"):
        start_deploy(make_ctx(actor=BOB), make_plan(STEPS))


def test_a_lock_taken_by_a_deploy_that_has_not_written_its_record_yet_is_respected(
    make_ctx: Any, router: FakeRouter, store: SQLiteStore, clock: Any
) -> None:
    """Two deploys at once: the first has taken the lock and not yet written its rollout.
    The second must be refused, not clear the lock as stale and start beside it (CI saw the
    first one then lose its lease and exit 5 while the second promoted)."""
    other = SQLiteStore.open(store.path)
    other.acquire_lock(TARGET_LOCK, "checkout-racing", "bob@ci:1", clock.now(), 30)
    with pytest.raises(LockedError, match="locked by rollout checkout-racing"):
        start_deploy(make_ctx(), make_plan(STEPS))
    assert other.get_lock(TARGET_LOCK).rollout_id == "checkout-racing"  # type: ignore[union-attr]
    other.check_fence()  # the first deploy's epoch is still the lock's
    assert [c for c in router.calls if c[0] == "set"] == []
    clock.advance(60)  # it died before writing its record: now the lock is stale
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    assert store.get_lock(TARGET_LOCK).rollout_id == engine.record.id  # type: ignore[union-attr]
    other.close()


def test_a_second_deploy_of_the_same_target_under_another_service_name_is_refused(
    make_ctx: Any, router: FakeRouter
) -> None:
    """The lock is the target's: renaming metadata.service (or the environment) does not
    make it another target."""
    first = start_deploy(make_ctx(), make_plan(STEPS))
    renamed = PLAN_HEAD.replace("service: checkout", "service: checkout-v2")
    with pytest.raises(LockedError, match=f"locked by rollout {first.record.id}"):
        start_deploy(make_ctx(actor=BOB), make_plan(STEPS, head=renamed))
    assert [c for c in router.calls if c[0] == "set"] == []


def test_a_deploy_waiting_for_a_human_keeps_others_out(make_ctx: Any) -> None:
    plan = make_plan("steps:\n  - setWeight: 10\n  - approval: {}\n")
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine, detach=True) == Phase.AWAITING_APPROVAL
    with pytest.raises(LockedError, match="waiting for a human"):
        start_deploy(make_ctx(actor=BOB), plan)


def test_an_expired_lease_is_taken_over_and_the_abandoned_rollout_rolled_back_first(
    make_ctx: Any, router: FakeRouter, clock: Any, store: SQLiteStore, recorder: Recorder
) -> None:
    first = start_deploy(make_ctx(), make_plan(STEPS))
    first.tick()  # step 1 done: canary at 10%, then the process dies
    assert router.weights["canary"] == 10
    clock.advance(120)
    second = start_deploy(make_ctx(actor=BOB), make_plan(STEPS))
    old = store.get_rollout(first.record.id)
    assert old.phase == Phase.ROLLED_BACK
    assert old.runtime.rollback_reason == Reason.ABANDONED
    taken = [e for e in recorder.of("lock_taken_over") if e.rollout_id == second.record.id]
    assert taken and first.record.id in taken[0].message
    # the new rollout's snapshot is the restored stable state, not the abandoned 10%
    snap = store.get_snapshot(second.record.id)
    assert snap is not None and snap.state == {"weights": {"stable": 100, "canary": 0}}


def test_a_finished_rollout_does_not_block_the_next_one(make_ctx: Any) -> None:
    drive(start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 50\n")))
    # promoted: canary now carries 100%, so the next plan swaps the servers' roles
    head = __import__("tests.conftest", fromlist=["PLAN_HEAD"]).PLAN_HEAD
    swapped = head.replace("stable: v1, canary: v2", "stable: v2, canary: v1")
    router = make_ctx().providers.router_instance
    router.weights = {"stable": 100, "canary": 0}
    engine = start_deploy(make_ctx(actor=BOB), make_plan("steps:\n  - setWeight: 50\n", swapped))
    assert drive(engine) == Phase.SUCCEEDED


def test_preflight_refuses_a_canary_that_already_has_traffic(
    make_ctx: Any, router: FakeRouter, store: SQLiteStore
) -> None:
    from shipsafe.errors import PreflightError

    router.weights = {"stable": 50, "canary": 50}
    with pytest.raises(PreflightError, match="already receives 50%"):
        start_deploy(make_ctx(), make_plan(STEPS))
    assert router.calls == []  # nothing was changed
    (record,) = store.list_rollouts()
    assert record.phase == Phase.ABORTED
    assert store.get_lock(record.lock_key) is None


def test_a_command_to_a_live_driver_is_applied_at_its_next_tick(
    tmp_path: Path, router: FakeRouter
) -> None:
    """Two 'processes' (threads with their own store connections) and a real clock."""
    plan = make_plan("steps:\n  - setWeight: 10\n  - pause: {}\n  - setWeight: 30\n")
    clock = SystemClock()
    from shipsafe.engine.context import EngineContext
    from tests.conftest import ALICE

    def ctx(actor: Any) -> EngineContext:
        return EngineContext(
            store=SQLiteStore.open(tmp_path / "state.db"),
            clock=clock,
            providers=FakeProviders(router, FakeMetrics(0.0)),
            actor=actor,
            poll_seconds=0.02,
        )

    driver_ctx = ctx(ALICE)
    engine = start_deploy(driver_ctx, plan)
    done: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: done.setdefault("phase", drive(engine)))
    thread.start()
    try:
        deadline = clock.now().timestamp() + 5
        while driver_ctx.store.get_rollout(engine.record.id).phase != Phase.PAUSED:
            assert clock.now().timestamp() < deadline, "never reached the pause"
            clock.sleep(0.01)
        assert router.weights["canary"] == 10
        result = submit_command(ctx(BOB), engine.record.id, CommandKind.PROMOTE, wait_seconds=5)
    finally:
        thread.join(timeout=10)
    assert not result.driven_here
    assert result.result == "promoted past the current step"
    assert done["phase"] == Phase.SUCCEEDED
    assert router.weights["canary"] == 100


def test_commands_that_do_not_fit_the_phase_are_refused_before_they_are_recorded(
    make_ctx: Any, store: SQLiteStore
) -> None:
    engine = start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 50\n"))
    drive(engine)
    with pytest.raises(UsageError, match="cannot pause"):
        submit_command(make_ctx(actor=BOB), engine.record.id, CommandKind.PAUSE)
    assert store.pending_commands(engine.record.id) == []


def test_approval_from_another_process_releases_the_gate(
    make_ctx: Any, router: FakeRouter, store: SQLiteStore
) -> None:
    plan = make_plan("steps:\n  - setWeight: 10\n  - approval: {name: qa}\n  - setWeight: 60\n")
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine, detach=True) == Phase.AWAITING_APPROVAL
    assert router.weights["canary"] == 10  # held at the gate's weight
    # the approval's verification is not what this is about: RecordedApprovals accepts it
    bob = make_ctx(actor=BOB, approvals=RecordedApprovals())
    result = submit_command(bob, engine.record.id, CommandKind.APPROVE)
    assert result.phase == Phase.SUCCEEDED
    (approval,) = store.approvals(engine.record.id)
    assert approval.gate == "qa" and approval.actor.id == "bob"


def test_promote_cannot_pass_an_approval_gate(make_ctx: Any, store: SQLiteStore) -> None:
    plan = make_plan("steps:\n  - setWeight: 10\n  - pause: {}\n  - approval: {}\n")
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine, detach=True) == Phase.PAUSED
    result = submit_command(
        make_ctx(actor=BOB), engine.record.id, CommandKind.PROMOTE, {"full": True}, detach=True
    )
    assert result.result is not None and result.result.startswith("refused")
    assert "approval gate" in result.result
    assert store.get_rollout(engine.record.id).phase == Phase.PAUSED


def test_pause_and_resume_hold_and_release_the_rollout(
    make_ctx: Any, router: FakeRouter, clock: Any
) -> None:
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    engine.tick()
    submit = make_ctx(actor=BOB)
    submit.store.add_command(
        __import__("shipsafe.records", fromlist=["Command"]).Command(
            rollout_id=engine.record.id, kind=CommandKind.PAUSE, actor=BOB, created_at=clock.now()
        )
    )
    engine.tick()
    assert engine.record.phase == Phase.PAUSED
    clock.advance(3600)  # the 1m pause step would long be over, but a manual pause holds
    engine.tick()
    assert engine.record.phase == Phase.PAUSED and router.weights["canary"] == 10
    result = submit_command(submit, engine.record.id, CommandKind.RESUME)
    assert result.phase == Phase.SUCCEEDED


def test_rollback_of_a_succeeded_rollout_restores_its_snapshot(
    make_ctx: Any, router: FakeRouter
) -> None:
    engine = start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 50\n"))
    assert drive(engine) == Phase.SUCCEEDED
    result = submit_command(make_ctx(actor=BOB), engine.record.id, CommandKind.ROLLBACK)
    assert result.phase == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}


def test_a_command_waiting_on_a_driver_that_died_takes_over_when_its_lease_runs_out(
    make_ctx: Any, router: FakeRouter, clock: Any
) -> None:
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    engine.tick()  # canary at 10%; then the driver dies with its lease still live
    assert router.weights["canary"] == 10
    started = clock.now()
    result = submit_command(make_ctx(actor=BOB), engine.record.id, CommandKind.ROLLBACK)
    assert result.driven_here and result.phase == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}
    waited = (clock.now() - started).total_seconds()
    assert 14 <= waited <= 20  # the 15 s lease, no more


def test_resume_picks_up_a_rollout_whose_driver_died_mid_analysis(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, clock: Any, store: SQLiteStore
) -> None:
    plan = make_plan(
        "steps:\n  - setWeight: 10\n  - analysis: {templates: [error-rate]}\n  - setWeight: 60\n"
    )
    calls = {"n": 0}

    def answer(query: str) -> float:
        calls["n"] += 1
        if calls["n"] == 4:  # preflight (2 queries), first measurement, then the process dies
            raise Killed()
        return 0.001

    metrics.answer = answer
    engine = start_deploy(make_ctx(), plan)
    with pytest.raises(Killed):
        drive(engine)
    assert store.get_rollout(engine.record.id).phase == Phase.PROGRESSING
    measured_before = len(store.measurements(engine.record.id))
    assert measured_before == 1
    clock.advance(30)
    result = submit_command(make_ctx(actor=BOB), engine.record.id, CommandKind.RESUME)
    assert result.driven_here and result.phase == Phase.SUCCEEDED
    # the analysis went on from the stored counters: count 3 means two more, not three
    step2 = [m for m in store.measurements(engine.record.id) if m.run == "step-2"]
    assert len(step2) == 3
    assert router.weights["canary"] == 100
