"""The evidence rule through the real engine and a fake clock: no weight goes up and nothing
promotes without a successful measurement of every required check taken at the current
weight, after it was read back (and after the check's initialDelay); one traffic change per
tick; every step timed from its own start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shipsafe.clock import FakeClock
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.engine.rollout import RolloutEngine
from shipsafe.records import Event, MeasurementPhase, Phase, Reason
from tests.conftest import PLAN_HEAD, Recorder, make_plan
from tests.fakes import FakeMetrics, FakeRouter


def healthy(query: str) -> float | None:
    return 0.001 if query.startswith("errors") else 0.1


def sets(router: FakeRouter) -> list[int]:
    return [c[1] for c in router.calls if c[0] == "set"]


def verified_at(recorder: Recorder, weight: int) -> datetime:
    return next(e.time for e in recorder.of("weight_verified") if e.data["weight"] == weight)


def intent_at(recorder: Recorder, weight: int) -> datetime:
    return next(e.time for e in recorder.of("weight_intent") if e.data["weight"] == weight)


def successes(recorder: Recorder, metric: str, weight: int) -> list[Event]:
    return [
        e
        for e in recorder.of("measurement")
        if e.data["metric"] == metric
        and e.data["weight"] == weight
        and e.data["phase"] == "successful"
    ]


def test_consecutive_weight_steps_each_wait_for_breaker_evidence_at_their_weight(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder
) -> None:
    metrics.answer = healthy
    plan = make_plan(
        """
        breakers:
          - analysis: error-rate
        steps:
          - setWeight: 5
          - setWeight: 25
          - setWeight: 50
        """
    )
    assert drive(start_deploy(make_ctx(), plan)) == Phase.SUCCEEDED
    assert sets(router) == [5, 25, 50, 100]
    for held, nxt in [(5, 25), (25, 50), (50, 100)]:
        read_back = verified_at(recorder, held)
        evidence = [e for e in successes(recorder, "error-rate", held) if e.time >= read_back]
        assert evidence, f"no breaker success at {held}% before {nxt}%"
        assert evidence[0].time <= intent_at(recorder, nxt)
        # the default warm-up: the first breaker reading is 10 s after 5% was read back
        assert (intent_at(recorder, nxt) - read_back).total_seconds() >= (
            10 if held == 5 else 5
        )


def test_several_weight_steps_never_complete_in_one_tick(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    metrics.answer = healthy
    plan = make_plan("steps:\n  - setWeight: 5\n  - setWeight: 25\n  - setWeight: 50\n")
    engine = start_deploy(make_ctx(), plan)
    per_tick = []
    while not engine.record.phase.terminal:
        before = len(sets(router))
        engine.tick()
        per_tick.append(len(sets(router)) - before)
    assert engine.record.phase == Phase.SUCCEEDED
    assert max(per_tick) == 1
    assert sum(per_tick) == 4


def test_a_breaker_whose_initial_delay_outlasts_the_steps_holds_promotion_until_it_succeeds(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder
) -> None:
    metrics.answer = healthy
    head = PLAN_HEAD.replace("    count: 3\n", "    count: 3\n    initialDelay: 2m\n", 1)
    plan = make_plan(
        """
        breakers:
          - analysis: error-rate
        steps:
          - setWeight: 10
          - pause: {duration: 30s}
        """,
        head,
    )
    assert drive(start_deploy(make_ctx(), plan)) == Phase.SUCCEEDED
    read_back = verified_at(recorder, 10)
    promoted = intent_at(recorder, 100)
    assert (promoted - read_back).total_seconds() >= 120
    assert any(read_back < e.time <= promoted for e in successes(recorder, "error-rate", 10))
    holding = [e for e in recorder.of("notice") if e.reason == Reason.NO_EVIDENCE]
    assert holding and "error-rate" in holding[0].message


def test_a_source_down_for_fewer_errors_than_the_limit_promotes_only_after_a_success(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder
) -> None:
    metrics.answer = healthy
    plan = make_plan("breakers:\n  - analysis: error-rate\nsteps:\n  - setWeight: 10\n")
    engine = start_deploy(make_ctx(), plan)
    metrics.down = True  # three errors (under consecutiveErrorLimit 4), then it answers
    calls = {"n": 0}

    def flaky(query: str) -> float | None:
        calls["n"] += 1
        return healthy(query)

    real_query = metrics.query

    def query(q: Any) -> Any:
        if metrics.down and len(recorder.of("measurement")) >= 3:
            metrics.down = False
        return real_query(q)

    metrics.query = query  # type: ignore[method-assign]
    assert drive(engine) == Phase.SUCCEEDED
    measured = [e for e in recorder.of("measurement") if e.data["metric"] == "error-rate"]
    assert [e.data["phase"] for e in measured[:3]] == ["error"] * 3
    first_success = next(e for e in measured if e.data["phase"] == "successful")
    assert first_success.time <= intent_at(recorder, 100)


def test_a_dead_source_is_retried_on_the_error_interval_not_the_metric_interval(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder
) -> None:
    metrics.answer = healthy
    head = PLAN_HEAD.replace("    interval: 5s\n    count: 3\n", "    interval: 5m\n", 1)
    plan = make_plan(
        "breakers:\n  - analysis: error-rate\nsteps:\n  - setWeight: 10\n  - pause: {}\n", head
    )
    engine = start_deploy(make_ctx(), plan)
    engine.tick()  # 10% read back: breakers start after the warm-up
    metrics.down = True
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.BREAKER_TRIPPED
    tripped = recorder.of("breaker_tripped")[0].time
    # warm-up 10 s, then five errors 10 s apart: under a minute, not 5 x 5 minutes
    assert (tripped - verified_at(recorder, 10)).total_seconds() <= 60


def test_consecutive_success_limit_needs_that_many_successes_in_a_row(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    head = PLAN_HEAD.replace(
        "    count: 3\n", "    count: 6\n    failureLimit: 2\n    consecutiveSuccessLimit: 2\n", 1
    )
    answers = iter([0.001, 0.5, 0.001, 0.5, 0.001, 0.001, 0.001])

    def answer(query: str) -> float | None:
        if '"v1"' in query:
            return healthy(query)
        return next(answers) if query.startswith("errors") else 0.1

    metrics.answer = answer
    plan = make_plan("steps:\n  - setWeight: 10\n  - analysis: {templates: [error-rate]}\n", head)
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine) == Phase.SUCCEEDED
    step = [m.phase for m in store.measurements(engine.record.id) if m.run == "step-2"]
    S, F = MeasurementPhase.SUCCESSFUL, MeasurementPhase.FAILED
    assert step == [S, F, S, F, S, S]  # done at the second success in a row, not before


def test_on_failure_hold_keeps_the_weight_until_the_analysis_passes(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder
) -> None:
    state = {"errors": 0.5}
    metrics.answer = lambda q: healthy(q) if '"v1"' in q or not q.startswith("errors") else (
        state["errors"]
    )
    plan = make_plan(
        """
        steps:
          - setWeight: 10
          - analysis: {templates: [error-rate], onFailure: hold, holdFor: 5m}
        """
    )
    engine = start_deploy(make_ctx(), plan)
    for _ in range(6):
        engine.tick()
    held = [e for e in recorder.of("notice") if e.reason == Reason.ANALYSIS_HELD]
    assert held and engine.record.phase == Phase.PROGRESSING
    assert router.weights["canary"] == 10
    state["errors"] = 0.001
    assert drive(engine) == Phase.SUCCEEDED


def test_on_failure_hold_rolls_back_once_its_bound_is_spent(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder
) -> None:
    metrics.answer = lambda q: healthy(q) if '"v1"' in q or not q.startswith("errors") else 0.5
    plan = make_plan(
        """
        steps:
          - setWeight: 10
          - analysis: {templates: [error-rate], onFailure: hold, holdFor: 2m}
        """
    )
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.ANALYSIS_FAILED
    assert "after holding 10% for 120s" in engine.record.runtime.rollback_message
    rolled = recorder.of("rollback_started")[0].time
    assert (rolled - verified_at(recorder, 10)).total_seconds() >= 120
    assert 100 not in sets(router)


def test_a_dry_run_breaker_is_measured_and_shown_but_never_acts_nor_counts(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder, store: Any
) -> None:
    metrics.answer = lambda q: healthy(q) if '"v1"' in q or q.startswith("errors") else 0.9
    head = PLAN_HEAD.replace(
        "    noData: inconclusive\n", "    noData: inconclusive\n    dryRun: true\n"
    )
    plan = make_plan(
        """
        breakers:
          - analysis: error-rate
          - analysis: latency
        steps:
          - setWeight: 10
          - pause: {duration: 30s}
        """,
        head,
    )
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine) == Phase.SUCCEEDED
    shown = [e for e in recorder.of("measurement") if e.data["metric"] == "latency"]
    assert shown and all(e.data["dryRun"] and e.data["phase"] == "failed" for e in shown)
    assert all(m.dry_run for m in store.measurements(engine.record.id) if m.metric == "latency")
    required = [e.data["required"] for e in recorder.of("weight_verified")]
    assert required[0] == ["error-rate"]  # the dryRun breaker is never evidence
    assert recorder.of("breaker_tripped") == []


def test_evidence_is_stored_and_a_resuming_process_sees_it(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, clock: FakeClock
) -> None:
    metrics.answer = healthy
    plan = make_plan(
        "breakers:\n  - analysis: error-rate\nsteps:\n  - setWeight: 10\n  - setWeight: 30\n"
    )
    engine = start_deploy(make_ctx(), plan)
    engine.tick()  # 10% read back
    clock.advance(10)
    engine.tick()  # the breaker's first reading: evidence at 10%; 30% is sent
    first = engine.record.runtime.evidence
    assert first is not None and first.weight == 30 and first.required == ["error-rate"]
    assert first.succeeded == {}
    engine.tick()
    assert sets(router) == [10, 30]  # no evidence at 30% yet: nothing moves
    clock.advance(20)  # the first driver died; its lease ran out
    ctx = make_ctx()
    other = RolloutEngine.load(ctx, engine.record.id)  # another process
    assert other.record.runtime.evidence == first
    ctx.store.acquire_lock(other.record.lock_key, other.record.id, ctx.holder, clock.now(), 15)
    assert drive(other) == Phase.SUCCEEDED
    assert sets(router) == [10, 30, 100]


def test_a_pause_after_a_slow_weight_change_lasts_its_full_duration_from_the_read_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder, clock: FakeClock
) -> None:
    metrics.answer = healthy
    router.on_set = lambda weight: clock.advance(6)  # the router blocks 6 s on every change
    plan = make_plan("steps:\n  - setWeight: 10\n  - pause: {duration: 10s}\n  - setWeight: 20\n")
    assert drive(start_deploy(make_ctx(), plan)) == Phase.SUCCEEDED
    read_back = verified_at(recorder, 10)
    assert (intent_at(recorder, 20) - read_back).total_seconds() >= 10
    for event in recorder.of("step_started"):
        if "until" in event.data:
            until = datetime.fromisoformat(event.data["until"])
            assert until >= event.time  # never in the past
            assert (until - read_back).total_seconds() == 10


def test_an_analysis_initial_delay_counts_from_the_weight_read_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder, clock: FakeClock
) -> None:
    metrics.answer = healthy
    router.on_set = lambda weight: clock.advance(3)
    head = PLAN_HEAD.replace("    count: 3\n", "    count: 3\n    initialDelay: 4s\n", 1)
    plan = make_plan("steps:\n  - setWeight: 50\n  - analysis: {templates: [error-rate]}\n", head)
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine) == Phase.SUCCEEDED
    first = next(e for e in recorder.of("measurement") if e.data["weight"] == 50)
    assert (first.time - verified_at(recorder, 50)).total_seconds() >= 4


def test_consecutive_analysis_steps_each_take_their_own_query(
    make_ctx: Any, metrics: FakeMetrics, store: Any
) -> None:
    metrics.answer = healthy
    head = PLAN_HEAD.replace("    count: 3\n", "    count: 1\n", 1)
    plan = make_plan(
        """
        steps:
          - setWeight: 10
          - analysis: {templates: [error-rate]}
          - analysis: {templates: [error-rate]}
          - analysis: {templates: [error-rate]}
        """,
        head,
    )
    engine = start_deploy(make_ctx(), plan)
    metrics.queries.clear()
    assert drive(engine) == Phase.SUCCEEDED
    runs = [m.run for m in store.measurements(engine.record.id)]
    assert runs == ["step-2", "step-3", "step-4"]
    assert metrics.queries.count('errors{server="v2"}') == 3


def test_promote_is_a_final_weight_step_read_back_like_any_other(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    metrics.answer = healthy

    def refuse_100(weight: int) -> None:
        if weight == 100:
            router.weights = {"stable": 90, "canary": 10}  # the router ignores promote

    router.on_set = refuse_100
    engine = start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 10\n"))
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.WEIGHT_NOT_VERIFIED
    assert "expected 100%" in engine.record.runtime.rollback_message


def test_breakers_start_after_the_first_weight_is_read_back_and_the_plan_warm_up(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder
) -> None:
    # a canary with no traffic has no data: a breaker reading at 0% would roll it back
    metrics.answer = lambda q: None if router.weights["canary"] == 0 and "v2" in q else 0.001
    plan = make_plan(
        "breakerWarmup: 3s\nbreakers:\n  - analysis: error-rate\nsteps:\n  - setWeight: 10\n"
    )
    assert drive(start_deploy(make_ctx(), plan)) == Phase.SUCCEEDED
    first = recorder.of("measurement")[0]
    assert first.data["weight"] == 10
    assert (first.time - verified_at(recorder, 10)).total_seconds() == 3


def test_promote_full_still_waits_for_breaker_evidence(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder, clock: FakeClock
) -> None:
    from shipsafe.engine.control import submit_command
    from shipsafe.records import CommandKind

    metrics.answer = healthy
    plan = make_plan(
        "breakers:\n  - analysis: error-rate\nsteps:\n  - setWeight: 10\n  - pause: {}\n"
    )
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine, detach=True) == Phase.PAUSED
    submit_command(make_ctx(), engine.record.id, CommandKind.PROMOTE, {"full": True})
    final = RolloutEngine.load(make_ctx(), engine.record.id)
    assert final.record.phase == Phase.SUCCEEDED
    read_back = verified_at(recorder, 10)
    assert (intent_at(recorder, 100) - read_back).total_seconds() >= 10  # the warm-up
    assert successes(recorder, "error-rate", 10)


def test_a_rollout_recorded_without_evidence_counts_it_afresh_when_resumed(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Recorder, clock: FakeClock
) -> None:
    metrics.answer = healthy
    plan = make_plan("breakers:\n  - analysis: error-rate\nsteps:\n  - setWeight: 10\n")
    engine = start_deploy(make_ctx(), plan)
    engine.tick()  # 10% read back
    engine.record.runtime.evidence = None  # as an older shipsafe stored it
    engine.save()
    resumed = RolloutEngine.load(engine.ctx, engine.record.id)
    assert resumed.record.runtime.evidence is not None
    assert resumed.record.runtime.evidence.weight == 10
    afresh = resumed.record.runtime.evidence.read_back_at
    assert afresh == clock.now()
    assert drive(resumed) == Phase.SUCCEEDED
    assert intent_at(recorder, 100) >= afresh
    assert any(afresh <= e.time <= intent_at(recorder, 100)
               for e in successes(recorder, "error-rate", 10))
