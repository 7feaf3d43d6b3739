"""The rollout engine end to end over fakes and a fake clock: promote, roll back, pause."""

from __future__ import annotations

from typing import Any

import pytest

from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.records import MeasurementPhase, Phase, Reason
from tests.conftest import TARGET_LOCK, Recorder, make_plan
from tests.fakes import FakeMetrics, FakeRouter

CANARY_STEPS = """
breakers:
  - analysis: error-rate
steps:
  - setWeight: 5
  - analysis: {templates: [error-rate, latency]}
  - setWeight: 25
  - pause: {duration: 10m}
  - setWeight: 50
"""


def metric_values(errors: float | None = 0.001, latency: float | None = 0.1) -> Any:
    """Values for the canary's queries; the stable target (v1) always has healthy data, as
    preflight runs every query against it before traffic moves."""

    def answer(query: str) -> float | None:
        if '"v1"' in query:
            return 0.001 if query.startswith("errors") else 0.1
        return errors if query.startswith("errors") else latency

    return answer


def test_a_plan_that_passes_every_check_promotes_to_100(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder, clock: Any
) -> None:
    metrics.answer = metric_values()
    engine = start_deploy(make_ctx(), make_plan(CANARY_STEPS))
    phase = drive(engine)
    assert phase == Phase.SUCCEEDED
    assert router.weights == {"stable": 0, "canary": 100}
    sets = [c[1] for c in router.calls if c[0] == "set"]
    assert sets == [5, 25, 50, 100]  # promote is an ordinary final setWeight 100
    # a ten-minute pause ran in fake time, not real time
    assert sum(clock.slept) >= 600
    # the snapshot was taken and verified before the first weight change
    types = recorder.types()
    assert types.index("snapshot_verified") < types.index("weight_set")
    assert engine.record.finished_at is not None


def test_queries_are_sent_with_plan_variables_filled_in(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    metrics.answer = metric_values()
    drive(start_deploy(make_ctx(), make_plan(CANARY_STEPS)))
    assert 'errors{server="v2"}' in metrics.queries


def test_a_failing_analysis_rolls_back_to_the_snapshot(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder
) -> None:
    metrics.answer = metric_values(latency=0.9)  # meets latency's failureCondition
    engine = start_deploy(make_ctx(), make_plan(CANARY_STEPS))
    assert drive(engine) == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}
    assert engine.record.runtime.rollback_reason == Reason.ANALYSIS_FAILED
    assert "latency" in engine.record.runtime.rollback_message
    assert "failureLimit (0)" in engine.record.runtime.rollback_message
    assert 25 not in [c[1] for c in router.calls if c[0] == "set"]


def test_no_data_fails_closed_and_never_promotes(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    metrics.answer = metric_values(errors=None)  # error-rate has noData: fail (default)
    engine = start_deploy(make_ctx(), make_plan(CANARY_STEPS))
    assert drive(engine) == Phase.ROLLED_BACK
    assert router.weights["canary"] == 0
    failed = [m for m in store.measurements(engine.record.id) if m.metric == "error-rate"]
    assert failed[0].phase == MeasurementPhase.FAILED
    assert failed[0].message.startswith("no data")


def test_an_unreachable_metric_source_rolls_back_once_the_error_limit_is_passed(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    metrics.answer = metric_values()
    engine = start_deploy(make_ctx(), make_plan(CANARY_STEPS))
    metrics.down = True  # after preflight: Prometheus goes away mid-rollout
    assert drive(engine) == Phase.ROLLED_BACK
    errors = [
        m
        for m in store.measurements(engine.record.id)
        if m.metric == "error-rate" and m.run == "step-2"
    ]
    # consecutiveErrorLimit 4: the fifth consecutive error fails the analysis at 5% (the
    # breakers, started 10 s after 5% was read back, have not reached their limit yet)
    assert [m.phase for m in errors] == [MeasurementPhase.ERROR] * 5
    assert "consecutiveErrors (5) > consecutiveErrorLimit (4)" in (
        engine.record.runtime.rollback_message
    )
    assert router.weights["canary"] == 0


def test_an_inconclusive_analysis_pauses_for_a_human(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    metrics.answer = metric_values(latency=0.4)  # neither < 0.3 nor > 0.5
    engine = start_deploy(make_ctx(), make_plan(CANARY_STEPS))
    assert drive(engine, detach=True) == Phase.PAUSED
    assert engine.record.runtime.pause_reason == Reason.ANALYSIS_INCONCLUSIVE
    assert router.weights["canary"] == 5  # traffic held where it was


def test_latency_no_data_is_inconclusive_when_the_template_says_so(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    metrics.answer = metric_values(latency=None)
    engine = start_deploy(make_ctx(), make_plan(CANARY_STEPS))
    assert drive(engine, detach=True) == Phase.PAUSED
    assert "no data" in engine.record.message


def test_a_breaker_trips_during_a_pause_and_rolls_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder, clock: Any
) -> None:
    state = {"errors": 0.001}
    metrics.answer = lambda q: state["errors"] if q.startswith("errors") else 0.1

    def break_during_pause(weight: int) -> None:
        if weight == 25:
            state["errors"] = 0.2  # the canary starts failing once at 25%

    router.on_set = break_during_pause
    engine = start_deploy(make_ctx(), make_plan(CANARY_STEPS))
    assert drive(engine) == Phase.ROLLED_BACK
    tripped = recorder.of("breaker_tripped")
    assert len(tripped) == 1
    assert tripped[0].data["metric"] == "error-rate"
    assert tripped[0].data["value"] == 0.2
    assert tripped[0].data["successCondition"] == "result < 0.01"
    # it tripped while the rollout sat in the 10-minute pause (step 4), not at its end
    started = [e for e in recorder.of("step_started") if e.data["step"] == 4]
    assert started and (tripped[0].time - started[0].time).total_seconds() < 60
    assert router.weights == {"stable": 100, "canary": 0}


def test_a_breaker_keeps_measuring_while_waiting_for_approval(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, clock: Any
) -> None:
    state = {"errors": 0.001}
    metrics.answer = lambda q: state["errors"] if q.startswith("errors") else 0.1
    plan = make_plan(
        """
        breakers:
          - analysis: error-rate
        steps:
          - setWeight: 10
          - approval: {}
        """
    )
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine, detach=True) == Phase.AWAITING_APPROVAL
    state["errors"] = 0.5
    clock.advance(10)  # breakers start 10 s (the default warm-up) after 10% was read back
    engine.tick()
    assert engine.record.phase == Phase.ROLLED_BACK
    assert router.weights["canary"] == 0


def test_a_weight_the_router_never_confirms_rolls_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    router.ignore_sets = True
    engine = start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 20\n"))
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.WEIGHT_NOT_VERIFIED


def test_a_restore_that_does_not_read_back_ends_in_rollback_failed(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    metrics.answer = metric_values(errors=0.5)
    router.restore_corrupts = True
    engine = start_deploy(make_ctx(), make_plan(CANARY_STEPS))
    assert drive(engine) == Phase.ROLLBACK_FAILED
    # the analysis at 5% fails first (the breakers are still in their warm-up)
    assert engine.record.runtime.rollback_reason == Reason.ANALYSIS_FAILED
    assert "after restore the router reads" in engine.record.message
    # the environment stays locked: nobody deploys over an unverified state
    lock = store.get_lock(TARGET_LOCK)
    assert lock is not None and lock.lease_expires_at is None


def test_router_errors_within_the_verify_timeout_are_retried(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    from shipsafe.errors import TransientProviderError

    router.fail["set"] = TransientProviderError("socket refused")
    router.fail_times["set"] = 3
    engine = start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 20\n"))
    assert drive(engine) == Phase.SUCCEEDED
    assert [c[1] for c in router.calls if c[0] == "set"].count(20) == 4


def test_a_breaker_that_fails_while_paused_inconclusive_still_rolls_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, clock: Any
) -> None:
    state = {"latency": 0.4}  # between success (< 0.3) and failure (> 0.5): inconclusive
    metrics.answer = lambda q: 0.001 if q.startswith("errors") else state["latency"]
    plan = make_plan(
        """
        breakers:
          - analysis: latency
        steps:
          - setWeight: 10
          - pause: {duration: 1h}
        """
    )
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine, detach=True) == Phase.PAUSED
    assert engine.record.runtime.pause_reason == Reason.ANALYSIS_INCONCLUSIVE
    state["latency"] = 0.9  # now it clearly fails while the human has not looked yet
    clock.advance(5)
    engine.tick()
    assert engine.record.phase == Phase.ROLLED_BACK
    assert router.weights["canary"] == 0


def test_plan_variables_reach_provider_args_too(make_ctx: Any, metrics: FakeMetrics) -> None:
    from tests.conftest import PLAN_HEAD

    head = PLAN_HEAD.replace(
        "    count: 3\n", "    count: 3\n    args: {dimensions: {TargetGroup: '{{canary}}'}}\n", 1
    )
    metrics.answer = metric_values()
    plan = make_plan("steps:\n  - setWeight: 10\n  - analysis: {templates: [error-rate]}\n", head)
    drive(start_deploy(make_ctx(), plan))
    assert metrics.args[0] == {"dimensions": {"TargetGroup": "v1"}}  # preflight: stable
    assert {"dimensions": {"TargetGroup": "v2"}} in metrics.args  # the analysis: canary


def test_a_breaker_and_a_step_due_together_share_one_query(
    make_ctx: Any, metrics: FakeMetrics, store: Any
) -> None:
    metrics.answer = metric_values()
    plan = make_plan(
        """
        breakerWarmup: 0s
        breakers:
          - analysis: error-rate
        steps:
          - setWeight: 10
          - analysis: {templates: [error-rate]}
        """
    )
    engine = start_deploy(make_ctx(), plan)
    engine.tick()  # 10% set and read back: breakers start; the analysis step starts
    metrics.queries.clear()
    engine.tick()  # breaker and analysis both due now
    canary_queries = [q for q in metrics.queries if q == 'errors{server="v2"}']
    runs = {m.run for m in store.measurements(engine.record.id) if m.metric == "error-rate"}
    assert runs == {"breakers", "step-2"}
    assert len(canary_queries) == 1


class BrokenAudit:
    """An audit log that stops taking records after `ok` of them (a full disk, say)."""

    def __init__(self, ok: int) -> None:
        self.ok = ok
        self.taken = 0

    def __call__(self, event: Any) -> None:
        from shipsafe.errors import AuditError

        if self.taken >= self.ok:
            raise AuditError("cannot write the audit log: No space left on device")
        self.taken += 1


def test_a_rollout_that_cannot_be_audited_goes_no_further_and_rolls_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    metrics.answer = metric_values()
    ctx = make_ctx()
    broken = BrokenAudit(ok=10**6)
    ctx.subscribers.append(broken)
    engine = start_deploy(ctx, make_plan(CANARY_STEPS))
    broken.ok = broken.taken  # the disk fills up right after the rollout started
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.AUDIT_FAILED
    assert router.weights == {"stable": 100, "canary": 0}
    assert [c[1] for c in router.calls if c[0] == "set"] == [5]  # the first step, no further
    # every event, the unaudited ones included, is in the state store
    types = [e.type.value for e in store.events(engine.record.id)]
    assert "rollback_finished" in types


def test_a_rollback_goes_on_when_the_audit_log_breaks_during_it(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any, recorder: Any
) -> None:
    metrics.answer = metric_values(errors=0.5)  # the analysis fails on its first measurement
    ctx = make_ctx()
    broken = BrokenAudit(ok=10**6)
    ctx.subscribers.insert(0, broken)

    def break_audit_on_trip(event: Any) -> None:
        if event.type.value == "rollback_started":
            broken.ok = broken.taken

    ctx.subscribers.append(break_audit_on_trip)
    engine = start_deploy(ctx, make_plan(CANARY_STEPS))
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.ANALYSIS_FAILED
    assert router.weights == {"stable": 100, "canary": 0}
    notices = [e for e in recorder.events if e.reason == Reason.AUDIT_FAILED]
    assert notices and "could not be written to the audit log" in notices[-1].message


def test_a_deploy_whose_audit_cannot_be_written_changes_nothing(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    from shipsafe.errors import AuditError

    metrics.answer = metric_values()
    ctx = make_ctx()
    ctx.subscribers.append(BrokenAudit(ok=0))
    with pytest.raises(AuditError, match="nothing was changed"):
        start_deploy(ctx, make_plan(CANARY_STEPS))
    assert router.calls == []
    assert ctx.store.get_lock(TARGET_LOCK) is None  # the next deploy may go
