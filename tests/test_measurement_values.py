"""Non-finite readings, malformed provider answers and conditions that raise are failed or
error measurements: never a success, never a crash (issue 9 item 4)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from shipsafe.engine import analysis
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.errors import ProviderError
from shipsafe.plan.analysis import AnalysisTemplate
from shipsafe.plan.sources import PrometheusSource
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.prometheus import PrometheusMetrics
from shipsafe.records import MeasurementPhase, Phase
from tests.conftest import PLAN_HEAD, Recorder, make_plan
from tests.fakes import FakeMetrics, FakeRouter

NON_FINITE = [math.nan, math.inf, -math.inf]


def template(**conditions: str) -> AnalysisTemplate:
    return AnalysisTemplate.model_validate({"source": "prom", "query": "q", **conditions})


FORMS = {
    "success only (below)": {"successCondition": "result < 0.05"},
    "success only (above)": {"successCondition": "result > 0.95"},
    "failure only": {"failureCondition": "result > 0.05"},
    "both": {"successCondition": "result < 0.05", "failureCondition": "result > 0.5"},
    "no data inconclusive": {"successCondition": "result < 0.05", "noData": "inconclusive"},
}


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "+inf", "-inf"])
@pytest.mark.parametrize("form", FORMS)
def test_a_non_finite_reading_is_failed_whatever_the_conditions(form: str, value: float) -> None:
    phase, message = analysis.judge(template(**FORMS[form]), value)
    assert phase is MeasurementPhase.FAILED
    assert "not a finite number" in message


@pytest.mark.parametrize(
    "condition, value",
    [
        ("result < 2.0 || {'a': 1}['b'] > 1", 3.0),  # passes validate, raises at run time
        ("int(result) > 1", 1e300),  # overflow inside the condition
        ("[1.0, 2.0][int(result)] > 0.0", 5.0),  # index out of range
    ],
)
def test_a_condition_that_raises_at_run_time_counts_as_failed(condition: str, value: float) -> None:
    phase, message = analysis.judge(template(successCondition=condition), value)
    assert phase is MeasurementPhase.FAILED
    assert "counted as failed" in message


# --- Prometheus answers, through the real client with a fake HTTP session ----------------


class FakeResponse:
    def __init__(self, status: int, body: str) -> None:
        self.status_code = status
        self.content = body.encode()
        self.text = body

    def json(self) -> Any:
        import requests

        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise requests.exceptions.JSONDecodeError(str(exc), self.text, 0) from None


class FakeSession:
    verify = True
    cert = None

    def __init__(self, status: int, body: str) -> None:
        self.answer = FakeResponse(status, body)

    def request(self, **kwargs: Any) -> FakeResponse:
        return self.answer


def prometheus_answering(status: int, body: str) -> PrometheusMetrics:
    source = PrometheusMetrics(
        PrometheusSource.model_validate({"provider": "prometheus", "url": "http://127.0.0.1:9"}),
        "prom",
    )
    client = source._connect()
    client._session = FakeSession(status, body)
    return source


def vector(*values: str) -> str:
    series = [{"metric": {"i": str(i)}, "value": [1.0, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": series}})


MALFORMED = {
    "data null": (200, '{"status": "success", "data": null}'),
    "data a list": (200, '{"status": "success", "data": [1, 2]}'),
    "data missing": (200, '{"status": "success"}'),
    "result null": (200, '{"status": "success", "data": {"result": null}}'),
    "result an object": (200, '{"status": "success", "data": {"result": {"a": 1}}}'),
    "result of strings": (200, '{"status": "success", "data": {"result": ["a"]}}'),
    "sample without value": (200, '{"data": {"result": [{"metric": {}}]}}'),
    "value not a pair": (200, '{"data": {"result": [{"metric": {}, "value": 3}]}}'),
    "value null": (200, '{"data": {"result": [{"metric": {}, "value": [1, null]}]}}'),
    "value a word": (200, vector("healthy")),
    "two series": (200, vector("0.1", "0.2")),
    "HTML": (200, "<html><body>Bad gateway</body></html>"),
    "empty body": (200, ""),
    "a JSON string": (200, '"ok"'),
    "500": (500, "internal error"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_prometheus_answer_is_a_provider_error(case: str) -> None:
    status, body = MALFORMED[case]
    with pytest.raises(ProviderError):
        prometheus_answering(status, body).query(MetricQuery("q"))


@pytest.mark.parametrize("raw, check", [("NaN", math.isnan), ("+Inf", math.isinf),
                                        ("-Inf", math.isinf)])
def test_prometheus_non_finite_values_reach_the_analysis_as_they_are(raw: str, check: Any) -> None:
    value = prometheus_answering(200, vector(raw)).query(MetricQuery("q")).value
    assert value is not None and check(value)
    assert analysis.judge(template(successCondition="result < 0.05"), value)[0] is (
        MeasurementPhase.FAILED
    )


def test_an_empty_prometheus_vector_is_no_data() -> None:
    assert prometheus_answering(200, vector()).query(MetricQuery("q")).value is None


# --- the engine: after traffic moved -------------------------------------------------------

STEPS = """
breakers:
  - analysis: error-rate
steps:
  - setWeight: 5
  - analysis: {templates: [error-rate]}
  - setWeight: 50
"""


def canary_reads(value: Any) -> Any:
    """The stable target reads healthy (preflight); the canary reads `value`."""

    def answer(query: str) -> Any:
        if '"v1"' in query:
            return 0.001 if query.startswith("errors") else 0.1
        if isinstance(value, Exception):
            raise value
        return value

    return answer


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "+inf", "-inf"])
def test_a_canary_reading_minus_inf_or_nan_rolls_back_and_stores_no_infinity(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any, recorder: Recorder,
    value: float,
) -> None:
    metrics.answer = canary_reads(value)
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    assert drive(engine) == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}
    assert 50 not in [c[1] for c in router.calls if c[0] == "set"]
    canary = [m for m in store.measurements(engine.record.id) if "v2" in m.query]
    assert canary and all(m.phase is MeasurementPhase.FAILED for m in canary)
    assert all(m.value is None for m in canary)  # JSON lines and the store stay valid JSON
    for event in recorder.events:
        json.dumps(event.data, allow_nan=False, default=str)


def test_a_provider_that_breaks_on_an_answer_is_an_error_measurement_not_a_crash(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any
) -> None:
    metrics.answer = canary_reads(TypeError("'NoneType' object is not subscriptable"))
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    assert drive(engine) == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}
    canary = [m for m in store.measurements(engine.record.id) if "v2" in m.query]
    assert canary and all(m.phase is MeasurementPhase.ERROR for m in canary)
    assert "unexpected answer (TypeError" in canary[0].message


def test_a_condition_raising_mid_rollout_rolls_back(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics
) -> None:
    head = PLAN_HEAD.replace(
        "successCondition: result < 0.01",
        "successCondition: result < 2.0 || {'a':1}['b'] > 1",
    )
    metrics.answer = canary_reads(3.0)  # validate tried 0.5 and 1.0: both short-circuit
    engine = start_deploy(make_ctx(), make_plan(STEPS, head=head))
    assert drive(engine) == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_preflight_refuses_a_stable_target_reading_that_is_not_finite(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, value: float
) -> None:
    from shipsafe.errors import PreflightError

    metrics.answer = value
    with pytest.raises(PreflightError):
        drive(start_deploy(make_ctx(), make_plan(STEPS)))
    assert not [c for c in router.calls if c[0] == "set"]


# --- judge checks: a range holding +-Inf ----------------------------------------------------


def _with_canary_reading(base: Any, bad: float) -> Any:
    def answer(text: str, start: float, end: float, step: float) -> Any:
        values = base(text, start, end, step)
        if '"v2"' in text and values:
            return [bad] * len(values)
        return values

    return answer


@pytest.mark.parametrize("bad", [math.inf, -math.inf], ids=["+inf", "-inf"])
@pytest.mark.parametrize("mode", ["kayenta", "sequential"])
def test_a_judge_check_fails_on_a_canary_range_holding_infinity(
    make_ctx: Any, router: FakeRouter, metrics: FakeMetrics, store: Any, mode: str, bad: float
) -> None:
    """An all -Inf canary once scored 100 under Kayenta's rules and was promoted."""
    from tests import test_judge_checks as judge

    head, steps, base = (
        (judge.HEAD, judge.STEPS, judge.series())
        if mode == "kayenta"
        else (judge.SEQ_HEAD, judge.STEPS.replace("vs-stable", "errors-vs-stable"),
              judge.counts(0.005))
    )
    metrics.answer = 0.001
    metrics.series = _with_canary_reading(base, bad)
    engine = start_deploy(make_ctx(), make_plan(steps, head))
    assert drive(engine, detach=True) == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}
    judged = [m for m in store.measurements(engine.record.id) if "vs-stable" in m.metric]
    assert judged and judged[-1].phase is MeasurementPhase.FAILED
    assert "not a finite number" in judged[-1].message


def test_prometheus_json_nested_thousands_deep_is_a_provider_error() -> None:
    deep = '{"data": {"result": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    with pytest.raises(ProviderError, match="malformed answer"):
        prometheus_answering(200, deep).query(MetricQuery("q"))
