"""Analysis is data plus pure functions, with Argo Rollouts' semantics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipsafe.engine import analysis
from shipsafe.plan.analysis import AnalysisTemplate
from shipsafe.records import AnalysisPhase, MeasurementPhase, MetricState

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def template(**kw: object) -> AnalysisTemplate:
    base: dict[str, object] = {"source": "prom", "query": "q", "interval": "5s", "count": 3}
    base.update(kw)
    return AnalysisTemplate.model_validate(base)


BOTH = template(successCondition="result < 0.01", failureCondition="result > 0.05")


@pytest.mark.parametrize(
    ("tpl", "value", "phase"),
    [
        (BOTH, 0.001, MeasurementPhase.SUCCESSFUL),
        (BOTH, 0.2, MeasurementPhase.FAILED),
        (BOTH, 0.03, MeasurementPhase.INCONCLUSIVE),  # between the two conditions
        (template(successCondition="result < 0.01"), 0.03, MeasurementPhase.FAILED),
        (template(failureCondition="result > 0.05"), 0.03, MeasurementPhase.SUCCESSFUL),
        (BOTH, None, MeasurementPhase.FAILED),  # noData: fail, the default
        (BOTH, float("nan"), MeasurementPhase.FAILED),
        (template(successCondition="result < 1", noData="inconclusive"), None,
         MeasurementPhase.INCONCLUSIVE),
    ],
)
def test_a_measurement_gets_its_phase_from_the_conditions(
    tpl: AnalysisTemplate, value: float | None, phase: MeasurementPhase
) -> None:
    assert analysis.judge(tpl, value)[0] == phase


def test_no_data_is_never_success() -> None:
    lenient = template(successCondition="result < 1", noData="inconclusive")
    for tpl in (BOTH, lenient):
        assert analysis.judge(tpl, None)[0] != MeasurementPhase.SUCCESSFUL


def run_measurements(
    tpl: AnalysisTemplate, phases: list[MeasurementPhase], name: str = "m"
) -> MetricState:
    state = MetricState(name=name, phase=AnalysisPhase.RUNNING)
    for phase in phases:
        state = analysis.record_measurement(state, tpl, phase, 1.0, phase.value, NOW)
    return state


S, F, I, E = (  # noqa: E741 - the four measurement phases, spelt as Argo's docs do
    MeasurementPhase.SUCCESSFUL,
    MeasurementPhase.FAILED,
    MeasurementPhase.INCONCLUSIVE,
    MeasurementPhase.ERROR,
)


def test_failures_up_to_the_limit_are_tolerated_and_one_more_fails() -> None:
    tpl = template(successCondition="result < 1", failureLimit=1, count=5)
    assert analysis.assess_metric(tpl, run_measurements(tpl, [F, S]), False)[0] == (
        AnalysisPhase.RUNNING
    )
    phase, message = analysis.assess_metric(tpl, run_measurements(tpl, [F, S, F]), False)
    assert phase == AnalysisPhase.FAILED
    assert message.startswith("failed (2) > failureLimit (1)")


def test_consecutive_errors_past_the_limit_are_an_error_but_a_success_resets_them() -> None:
    tpl = template(successCondition="result < 1", consecutiveErrorLimit=2, count=10)
    assert analysis.assess_metric(tpl, run_measurements(tpl, [E, E, S, E, E]), False)[0] == (
        AnalysisPhase.RUNNING
    )
    assert analysis.assess_metric(tpl, run_measurements(tpl, [E, E, E]), False)[0] == (
        AnalysisPhase.ERROR
    )


def test_count_is_reached_by_measurements_that_are_not_errors() -> None:
    tpl = template(successCondition="result < 1", count=2)
    assert analysis.assess_metric(tpl, run_measurements(tpl, [S, E]), False)[0] == (
        AnalysisPhase.RUNNING
    )
    assert analysis.assess_metric(tpl, run_measurements(tpl, [S, E, S]), False)[0] == (
        AnalysisPhase.SUCCESSFUL
    )


def test_a_breaker_never_completes_successfully() -> None:
    tpl = template(successCondition="result < 1", count=1)
    assert analysis.assess_metric(tpl, run_measurements(tpl, [S, S, S]), True)[0] == (
        AnalysisPhase.RUNNING
    )


def test_inconclusive_past_its_limit_is_inconclusive() -> None:
    tpl = template(successCondition="result < 1", failureCondition="result > 2", count=5)
    phase, message = analysis.assess_metric(tpl, run_measurements(tpl, [I]), False)
    assert phase == AnalysisPhase.INCONCLUSIVE and "inconclusiveLimit (0)" in message


def test_a_run_is_the_worst_of_its_metrics_and_says_which() -> None:
    good = template(successCondition="result < 1", count=1)
    templates = {"a": good, "b": good}
    run = analysis.new_run("step-1", analysis.STEP, ["a", "b"], templates, NOW)
    run.metrics["a"] = run_measurements(good, [S], "a")
    run.metrics["b"] = run_measurements(good, [F], "b")
    assessed = analysis.assess_run(run, templates)
    assert assessed.phase == AnalysisPhase.FAILED and assessed.message.startswith("b:")
    run.metrics["b"] = run_measurements(good, [S], "b")
    assessed = analysis.assess_run(run, templates)
    assert assessed.phase == AnalysisPhase.SUCCESSFUL
    assert "a:" in assessed.message and "b:" in assessed.message


def test_measurements_are_due_after_the_initial_delay_then_every_interval() -> None:
    tpl = template(successCondition="result < 1", initialDelay="10s")
    run = analysis.new_run("step-1", analysis.STEP, ["m"], {"m": tpl}, NOW)
    assert analysis.due_metrics(run, NOW) == []
    later = NOW.replace(second=10)
    assert analysis.due_metrics(run, later) == ["m"]
    run.metrics["m"] = analysis.record_measurement(run.metrics["m"], tpl, S, 0.1, "", later)
    assert analysis.next_due(run) == NOW.replace(second=15)


def test_an_analysis_that_reaches_its_count_without_a_success_fails() -> None:
    # limits validate refuses (failureLimit >= count) cannot pass in the engine either
    lax = AnalysisTemplate.model_construct(**{
        **template(successCondition="result < 1", count=2).__dict__,
        "failure_limit": 2, "inconclusive_limit": 2,
    })
    phase, message = analysis.assess_metric(lax, run_measurements(lax, [F, I]), False)
    assert phase == AnalysisPhase.FAILED and "no evidence" in message


def test_consecutive_success_limit_completes_on_successes_in_a_row_only() -> None:
    tpl = template(successCondition="result < 1", count=4, failureLimit=2,
                   consecutiveSuccessLimit=2)
    assert analysis.assess_metric(tpl, run_measurements(tpl, [S, F, S]), False)[0] == (
        AnalysisPhase.RUNNING
    )
    assert analysis.assess_metric(tpl, run_measurements(tpl, [S, F, S, S]), False)[0] == (
        AnalysisPhase.SUCCESSFUL
    )
    phase, message = analysis.assess_metric(tpl, run_measurements(tpl, [S, F, S, F]), False)
    assert phase == AnalysisPhase.INCONCLUSIVE and "consecutiveSuccessLimit" in message


def test_after_an_error_the_next_measurement_comes_after_the_error_interval() -> None:
    slow = template(successCondition="result < 1", interval="5m", errorInterval="10s")
    state = run_measurements(slow, [E])
    assert state.next_due == NOW.replace(second=10)
    state = analysis.record_measurement(state, slow, S, 0.1, "", NOW)
    assert state.next_due == NOW.replace(minute=5)
    fast = template(successCondition="result < 1", interval="2s")  # interval is shorter
    assert run_measurements(fast, [E]).next_due == NOW.replace(second=2)


def test_a_dry_run_metric_is_shown_but_never_decides_the_run() -> None:
    good = template(successCondition="result < 1", count=1)
    shadow = template(successCondition="result < 1", count=1, dryRun=True)
    templates = {"a": good, "shadow": shadow}
    run = analysis.new_run("step-1", analysis.STEP, ["a", "shadow"], templates, NOW)
    run.metrics["a"] = run_measurements(good, [S], "a")
    run.metrics["shadow"] = run_measurements(shadow, [F], "shadow")
    assessed = analysis.assess_run(run, templates)
    assert assessed.phase == AnalysisPhase.SUCCESSFUL
    assert assessed.metrics["shadow"].phase == AnalysisPhase.FAILED  # shown as it is
    breakers = analysis.new_run("breakers", analysis.BREAKER, ["shadow"], templates, NOW)
    breakers.metrics["shadow"] = run_measurements(shadow, [F, F], "shadow")
    watched = analysis.assess_run(breakers, templates)
    assert watched.phase == AnalysisPhase.RUNNING  # a dryRun breaker never trips
    assert watched.metrics["shadow"].next_due is not None  # and keeps measuring


def test_breakers_start_after_the_warm_up_or_their_initial_delay_if_longer() -> None:
    quick = template(successCondition="result < 1")
    slow = template(successCondition="result < 1", initialDelay="30s")
    run = analysis.new_run(
        "breakers", analysis.BREAKER, ["q", "s"], {"q": quick, "s": slow}, NOW, warmup=10
    )
    assert run.metrics["q"].next_due == NOW.replace(second=10)
    assert run.metrics["s"].next_due == NOW.replace(second=30)
