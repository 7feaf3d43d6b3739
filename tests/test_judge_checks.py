"""`judge:` checks in plans: canary against baseline, read over a range, judged by Kayenta's
rules, counted like any other check (pass promotes, fail rolls back, marginal pauses)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from shipsafe.engine import judging
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.errors import PlanError, PreflightNoData, ProviderError
from shipsafe.plan.loader import load_plan_text
from shipsafe.providers.metrics.base import RangeResult
from shipsafe.records import MeasurementPhase, Phase, Reason
from tests.conftest import PLAN_HEAD, make_plan
from tests.fakes import FakeMetrics, FakeRouter

JUDGE = """\
  vs-stable:
    source: prom
    interval: 1m
    count: 2
    judge:
      mode: kayenta
      step: 10s
      lookback: 5m
      scoreThresholds: {pass: 95, marginal: 75}
      metrics:
        - name: latency
          canary: latency_seconds{server="{{canary}}"}
          baseline: latency_seconds{server="{{stable}}"}
          direction: increase
        - name: cpu
          canary: cpu{server="{{canary}}"}
          baseline: cpu{server="{{stable}}"}
        - name: memory
          canary: memory{server="{{canary}}"}
          baseline: memory{server="{{stable}}"}
        - name: gc
          canary: gc{server="{{canary}}"}
          baseline: gc{server="{{stable}}"}
"""
HEAD = PLAN_HEAD + JUDGE
STEPS = """
steps:
  - setWeight: 10
  - analysis: {templates: [vs-stable]}
  - setWeight: 50
"""


def series(worse: set[str] = frozenset(), missing: set[str] = frozenset()) -> Any:
    """Noisy readings around 100 for every metric; `worse` metrics read 30 % higher on the
    canary (v2); `missing` ones have no canary data."""

    def answer(text: str, start: float, end: float, step: float) -> list[float | None] | None:
        metric = text.split("{")[0]
        canary = '"v2"' in text
        if canary and metric in missing:
            return None
        n = int((end - start) // step) + 1
        seed = abs(hash((metric, canary, int(start)))) % 2**32
        values = np.random.default_rng(seed).normal(100.0, 3.0, n)
        if canary and metric in worse:
            values = values * 1.3
        return [float(v) for v in values]

    return answer


def test_a_judge_plan_loads_with_kayentas_defaults():
    plan = make_plan(STEPS, HEAD)
    spec = plan.analysis["vs-stable"].judge
    assert spec is not None and spec.mode == "kayenta"
    assert spec.score_thresholds.pass_ == 95
    assert spec.metrics[1].direction == "either"
    assert spec.metrics[1].nan_strategy == "remove"
    assert spec.metrics[1].outliers.strategy == "keep"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    query: x\n", "remove query"),
        ("    successCondition: result < 1\n", "remove query, successCondition"),
    ],
)
def test_a_judge_with_a_query_or_condition_is_refused(extra, message):
    with pytest.raises(PlanError, match=message):
        make_plan(
            STEPS,
            HEAD.replace(
                "    interval: 1m\n    count: 2\n", extra + "    interval: 1m\n    count: 2\n"
            ),
        )


def test_a_judge_on_a_source_without_ranges_is_refused():
    head = HEAD.replace(
        "  prom: {provider: prometheus",
        '  app: {provider: http, url: "http://127.0.0.1:9"}\n  prom: {provider: prometheus',
    ).replace("  vs-stable:\n    source: prom", "  vs-stable:\n    source: app")
    with pytest.raises(PlanError, match=r"reads time ranges.*use a prometheus or cloudwatch"):
        make_plan(STEPS, head)


def test_a_judge_may_read_cloudwatch():
    head = HEAD.replace(
        "  prom: {provider: prometheus",
        "  cw: {provider: cloudwatch, region: us-east-1}\n  prom: {provider: prometheus",
    ).replace("  vs-stable:\n    source: prom", "  vs-stable:\n    source: cw")
    assert make_plan(STEPS, head).analysis["vs-stable"].source == "cw"


def test_judge_queries_with_unknown_variables_are_refused():
    with pytest.raises(PlanError, match="unknown variable"):
        make_plan(STEPS, HEAD.replace('gc{server="{{stable}}"}', 'gc{server="{{blue}}"}'))


def test_thresholds_out_of_order_are_refused():
    with pytest.raises(PlanError, match="above pass"):
        make_plan(STEPS, HEAD.replace("{pass: 95, marginal: 75}", "{pass: 60, marginal: 75}"))


def test_group_weights_over_100_are_refused():
    head = HEAD.replace("      metrics:\n", "      groupWeights: {a: 70, b: 40}\n      metrics:\n")
    with pytest.raises(PlanError, match="more than 100"):
        make_plan(STEPS, head)


def test_a_canary_like_its_baseline_passes_the_judge_and_promotes(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    metrics.series = series()
    engine = start_deploy(make_ctx(), make_plan(STEPS, HEAD))
    assert drive(engine) == Phase.SUCCEEDED
    judged = [m for m in store.measurements(engine.record.id) if m.metric == "vs-stable"]
    assert [m.phase for m in judged] == [MeasurementPhase.SUCCESSFUL] * 2
    assert judged[0].value == 100.0  # the Kayenta score
    assert "score 100 (pass" in judged[0].message
    assert 'latency_seconds{server="v2"}' in metrics.queries
    assert 'latency_seconds{server="v1"}' in metrics.queries


def test_a_canary_worse_on_a_critical_metric_is_rolled_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    metrics.series = series(worse={"latency_seconds"})
    plan = make_plan(
        STEPS, HEAD.replace("direction: increase", "direction: increase\n          critical: true")
    )
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine) == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}
    assert engine.record.runtime.rollback_reason == Reason.ANALYSIS_FAILED
    assert "latency: High (critical)" in engine.record.runtime.rollback_message


def test_one_worse_metric_of_four_is_marginal_and_pauses_for_a_human(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    metrics.series = series(worse={"cpu"})
    engine = start_deploy(make_ctx(), make_plan(STEPS, HEAD))
    assert drive(engine, detach=True) == Phase.PAUSED
    assert engine.record.runtime.pause_reason == Reason.ANALYSIS_INCONCLUSIVE
    assert "score 75 (marginal" in (engine.record.runtime.pause_message or "")


def test_a_judge_breaker_rolls_back_during_a_pause(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    metrics.series = series(worse={"latency_seconds", "cpu", "memory"})
    steps = (
        "breakers:\n  - analysis: vs-stable\n"
        "steps:\n  - setWeight: 10\n  - pause: {duration: 10m}\n"
    )
    engine = start_deploy(make_ctx(), make_plan(steps, HEAD))
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.BREAKER_TRIPPED


def test_preflight_refuses_a_judge_whose_baseline_has_no_data(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    def answer(text: str, start: float, end: float, step: float) -> list[float | None] | None:
        return None if text.startswith("gc") else [1.0, 2.0]

    metrics.series = answer
    with pytest.raises(PreflightNoData, match=r"'gc'.*no data against the stable target"):
        drive(start_deploy(make_ctx(), make_plan(STEPS, HEAD)))


def test_a_failing_source_gives_error_measurements_then_rolls_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    healthy = series()

    def answer(text: str, start: float, end: float, step: float) -> list[float | None] | None:
        if '"v2"' in text:  # preflight asks for the stable target only
            raise ProviderError("prometheus prom: timed out")
        return healthy(text, start, end, step)

    metrics.series = answer
    engine = start_deploy(make_ctx(), make_plan(STEPS, HEAD))
    assert drive(engine) == Phase.ROLLED_BACK
    judged = [m for m in store.measurements(engine.record.id) if m.metric == "vs-stable"]
    assert {m.phase for m in judged} == {MeasurementPhase.ERROR}
    assert len(judged) == 5  # consecutiveErrorLimit 4, then the analysis errors
    assert router.weights == {"stable": 100, "canary": 0}


def test_a_source_without_range_queries_is_a_provider_error():
    class InstantOnly:
        pass

    with pytest.raises(ProviderError, match="cannot answer range queries"):
        judging.read(InstantOnly(), "x", 0.0, 10.0, 5.0)


def test_series_are_aligned_on_one_grid_with_nan_for_gaps():
    canary = RangeResult(((0.0, 1.0), (10.0, 2.0), (20.0, 3.0)), "c")
    baseline = RangeResult(((10.0, 5.0), (30.0, 6.0)), "b")
    a, b = judging.aligned([canary, baseline], 0.0, 10.0)
    assert a[:3] == [1.0, 2.0, 3.0] and math.isnan(a[3])
    assert math.isnan(b[0]) and b[1] == 5.0 and math.isnan(b[2]) and b[3] == 6.0
    assert judging.aligned([RangeResult((), "c"), baseline], 0.0, 10.0)[0] == []


def test_missing_canary_data_is_nodata_and_half_nodata_fails(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    metrics.series = series(missing={"cpu", "memory"})
    engine = start_deploy(make_ctx(), make_plan(STEPS, HEAD))
    assert drive(engine) == Phase.ROLLED_BACK
    assert "50% or more metrics returned NODATA" in engine.record.runtime.rollback_message


def test_the_window_is_lookback_or_since_the_analysis_started():
    from datetime import UTC, datetime, timedelta

    plan = make_plan(STEPS, HEAD)
    spec = plan.analysis["vs-stable"].judge
    assert spec is not None
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    start, end = judging.window(spec, now - timedelta(hours=1), now)
    assert end - start == 300  # lookback 5m
    unbounded = spec.model_copy(update={"lookback": None})
    start, end = judging.window(unbounded, now - timedelta(minutes=2), now)
    assert end - start == 120
    start, end = judging.window(unbounded, now, now)
    assert end - start == spec.step  # never shorter than one step


def test_load_plan_text_reports_the_judge_key_path():
    with pytest.raises(PlanError, match="judge"):
        load_plan_text(make_plan_text(HEAD.replace("mode: kayenta", "mode: bayesian")))


def make_plan_text(head: str) -> str:
    return head + STEPS


def test_the_judges_shown_in_the_readme_validate():
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "judge:" in b]
    assert len(blocks) == 2
    for block in blocks:
        assert block.startswith("analysis:\n")
        body = block.removeprefix("analysis:\n")
        name = body.split(":")[0].strip()
        plan = make_plan(STEPS.replace("vs-stable", name), PLAN_HEAD + body)
        spec = plan.analysis[name].judge
        assert spec is not None
    kayenta_plan = make_plan(STEPS, PLAN_HEAD + blocks[0].removeprefix("analysis:\n"))
    spec = kayenta_plan.analysis["vs-stable"].judge
    assert spec is not None and spec.mode == "kayenta"
    assert [m.name for m in spec.metrics] == ["p99-latency", "error-ratio"]
    assert spec.metrics[0].critical and spec.metrics[1].must_have_data


SEQUENTIAL = """\
  errors-vs-stable:
    source: prom
    interval: 10s
    count: 3
    judge:
      mode: sequential
      alpha: 0.01
      tolerance: 0.2
      step: 10s
      metrics:
        - name: 5xx
          canaryEvents: errors{server="{{canary}}"}
          canaryTotal: requests{server="{{canary}}"}
          baselineEvents: errors{server="{{stable}}"}
          baselineTotal: requests{server="{{stable}}"}
"""
SEQ_HEAD = PLAN_HEAD + SEQUENTIAL


def counts(canary_error_share: float, baseline_error_share: float = 0.005) -> Any:
    """Per-step errors and requests: the canary serves 50 requests a step, the baseline 950."""

    def answer(text: str, start: float, end: float, step: float) -> list[float | None] | None:
        canary = '"v2"' in text
        n = int((end - start) // step) + 1
        requests = 50.0 if canary else 950.0
        if text.startswith("requests"):
            return [requests] * n
        share = canary_error_share if canary else baseline_error_share
        rng = np.random.default_rng(abs(hash((canary, int(start)))) % 2**32)
        return [float(v) for v in rng.binomial(int(requests), share, n)]

    return answer


def test_a_sequential_counts_judge_loads():
    plan = make_plan(STEPS.replace("vs-stable", "errors-vs-stable"), SEQ_HEAD)
    spec = plan.analysis["errors-vs-stable"].judge
    assert spec is not None and spec.mode == "sequential" and spec.metrics[0].counts
    assert (spec.alpha, spec.tolerance) == (0.01, 0.2)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("      step: 10s\n", "      step: 10s\n      lookback: 5m\n"), "remove lookback"),
        (("mode: sequential", "mode: kayenta"), "kayenta compares two series"),
        (('          baselineTotal: requests{server="{{stable}}"}\n', ""), "all four"),
        (("      alpha: 0.01", "      alpha: 1.5"), "alpha"),
    ],
)
def test_sequential_judges_that_do_not_fit_are_refused(edit, message):
    with pytest.raises(PlanError, match=message):
        make_plan(STEPS.replace("vs-stable", "errors-vs-stable"), SEQ_HEAD.replace(*edit))


def test_a_sequential_judge_tests_one_metric():
    two = SEQ_HEAD + SEQUENTIAL.split("      metrics:\n")[1].replace("- name: 5xx", "- name: again")
    with pytest.raises(PlanError, match="one metric"):
        make_plan(STEPS.replace("vs-stable", "errors-vs-stable"), two)


def test_a_sequential_breaker_rolls_back_a_canary_failing_half_its_requests(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    metrics.series = counts(0.5)
    steps = (
        "breakers:\n  - analysis: errors-vs-stable\n"
        "steps:\n  - setWeight: 5\n  - pause: {duration: 10m}\n  - setWeight: 50\n"
    )
    engine = start_deploy(make_ctx(), make_plan(steps, SEQ_HEAD))
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.BREAKER_TRIPPED
    assert "rate ratio canary/baseline in [" in engine.record.runtime.rollback_message
    assert 50 not in [c[1] for c in router.calls if c[0] == "set"]
    judged = [m for m in store.measurements(engine.record.id) if m.metric == "errors-vs-stable"]
    assert judged[-1].phase == MeasurementPhase.FAILED
    assert judged[-1].value is not None and judged[-1].value > 10  # the rate-ratio estimate


def test_a_sequential_judge_lets_a_canary_like_its_baseline_promote(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    metrics.series = counts(0.005)
    engine = start_deploy(
        make_ctx(), make_plan(STEPS.replace("vs-stable", "errors-vs-stable"), SEQ_HEAD)
    )
    assert drive(engine) == Phase.SUCCEEDED
    judged = [m for m in store.measurements(engine.record.id) if m.metric == "errors-vs-stable"]
    assert {m.phase for m in judged} == {MeasurementPhase.SUCCESSFUL}


def test_a_sequential_judge_without_totals_fails_closed(
    make_ctx: Any, metrics: FakeMetrics, store: Any
) -> None:
    healthy = counts(0.005)

    def answer(text: str, start: float, end: float, step: float) -> list[float | None] | None:
        if text.startswith("requests") and '"v2"' in text:
            return None  # the canary's request counter has no series
        return healthy(text, start, end, step)

    metrics.series = answer
    engine = start_deploy(
        make_ctx(), make_plan(STEPS.replace("vs-stable", "errors-vs-stable"), SEQ_HEAD)
    )
    assert drive(engine) == Phase.ROLLED_BACK
    judged = [m for m in store.measurements(engine.record.id) if m.metric == "errors-vs-stable"]
    assert judged[0].phase == MeasurementPhase.FAILED
    assert judged[0].message.startswith("no data")


def test_preflight_accepts_an_error_counter_with_no_series_yet(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    healthy = counts(0.005)

    def answer(text: str, start: float, end: float, step: float) -> list[float | None] | None:
        if text.startswith("errors"):
            return None  # nothing ever failed: no error series at all, on either side
        return healthy(text, start, end, step)

    metrics.series = answer
    engine = start_deploy(
        make_ctx(), make_plan(STEPS.replace("vs-stable", "errors-vs-stable"), SEQ_HEAD)
    )
    assert drive(engine) == Phase.SUCCEEDED


def test_a_judge_breaker_is_evidence_the_weight_waits_for(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, recorder: Any
) -> None:
    metrics.series = series()
    steps = (
        "breakerWarmup: 5s\nbreakers:\n  - analysis: vs-stable\n"
        "steps:\n  - setWeight: 10\n  - setWeight: 30\n"
    )
    engine = start_deploy(make_ctx(), make_plan(steps, HEAD))
    assert drive(engine) == Phase.SUCCEEDED
    verified = recorder.of("weight_verified")
    assert verified and all("vs-stable" in e.data["required"] for e in verified)
    # 30 % came only after a successful judgement taken while the canary held 10 %
    judged_at_10 = [
        e
        for e in recorder.of("measurement")
        if e.data["metric"] == "vs-stable" and e.data.get("weight") == 10
    ]
    set_30 = next(e for e in recorder.of("weight_set") if e.data["weight"] == 30)
    assert any(e.data["phase"] == "successful" and e.time <= set_30.time for e in judged_at_10)
