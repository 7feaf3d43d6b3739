"""A judge check's measurement: read canary and baseline over a range, judge, map the verdict.

The verdict becomes an ordinary measurement, so a judge check counts like any other check
(failureLimit, inconclusiveLimit, breakers, evidence):

    pass      -> successful
    marginal  -> inconclusive (with inconclusiveLimit 0, the default, a human decides)
    fail      -> failed (rollback, with failureLimit 0)

The value recorded is the judge's score. Missing points inside the range are NaN and
follow the metric's `nanStrategy`; a series with no points at all is "no data" for that
side, which Kayenta classifies `Nodata` (or `NodataFailMetric` with `mustHaveData`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from shipsafe.errors import ProviderError
from shipsafe.judge.base import Outcome, Verdict
from shipsafe.plan.analysis import AnalysisTemplate
from shipsafe.plan.judge import JudgeSpec
from shipsafe.plan.models import render_query
from shipsafe.providers.metrics.base import RangeResult, RangeSource
from shipsafe.records import MeasurementPhase

PHASES = {
    Outcome.PASS: MeasurementPhase.SUCCESSFUL,
    Outcome.MARGINAL: MeasurementPhase.INCONCLUSIVE,
    Outcome.FAIL: MeasurementPhase.FAILED,
}


@dataclass(frozen=True)
class JudgeReading:
    phase: MeasurementPhase
    value: float | None
    message: str
    sent: str


def window(spec: JudgeSpec, since: datetime, now: datetime) -> tuple[float, float]:
    """The range judged: `lookback` before now, or since the analysis started; never
    shorter than one step."""
    end = now.timestamp()
    start = end - spec.lookback if spec.lookback is not None else since.timestamp()
    return min(start, end - spec.step), end


def read(source: object, text: str, start: float, end: float, step: float) -> RangeResult:
    if not hasattr(source, "query_range"):
        raise ProviderError(f"{type(source).__name__} cannot answer range queries")
    ranged: RangeSource = source
    return ranged.query_range(text, start, end, step)


def aligned(series: list[RangeResult], start: float, step: float) -> list[list[float]]:
    """The series on one time grid (their union), NaN where one lacks a point; a series
    with no points stays empty (no data)."""
    stamps = sorted({round((t - start) / step) for s in series for t, _ in s.points})
    out: list[list[float]] = []
    for s in series:
        if not s.points:
            out.append([])
            continue
        by_slot = {round((t - start) / step): v for t, v in s.points}
        out.append([by_slot.get(slot, math.nan) for slot in stamps])
    return out


def measure(
    template: AnalysisTemplate,
    source: object,
    variables: dict[str, str],
    since: datetime,
    now: datetime,
) -> JudgeReading:
    """Read every metric of the judge over its window and judge them.

    Raises ProviderError when the source fails (counted against consecutiveErrorLimit).
    """
    spec = template.judge
    if spec is None:
        raise ValueError("not a judge check")
    start, end = window(spec, since, now)
    sent: list[str] = []
    data: dict[str, tuple[list[float], list[float]]] = {}
    for metric in spec.metrics:
        canary = read(source, render_query(metric.canary, variables), start, end, spec.step)
        baseline = read(source, render_query(metric.baseline, variables), start, end, spec.step)
        sent += [canary.sent, baseline.sent]
        canary_values, baseline_values = aligned([canary, baseline], start, spec.step)
        data[metric.name] = (canary_values, baseline_values)
    verdict = kayenta(spec, data)
    return JudgeReading(PHASES[verdict.outcome], verdict.score, verdict.message, " ; ".join(sent))


def kayenta(spec: JudgeSpec, data: dict[str, tuple[list[float], list[float]]]) -> Verdict:
    from shipsafe.judge.kayenta import MetricConfig, MetricInput, Thresholds, judge

    inputs = []
    for m in spec.metrics:
        config = MetricConfig(
            name=m.name,
            groups=tuple(m.groups) or (m.name,),
            direction=m.direction,
            nan_strategy=m.nan_strategy,
            outlier_strategy="remove" if m.outliers.strategy == "remove" else "keep",
            outlier_factor=m.outliers.outlier_factor,
            critical=m.critical,
            must_have_data=m.must_have_data,
            muted=m.muted,
            effect_measure=m.effect_size.measure,
            allowed_increase=m.effect_size.allowed_increase,
            allowed_decrease=m.effect_size.allowed_decrease,
            critical_increase=m.effect_size.critical_increase,
            critical_decrease=m.effect_size.critical_decrease,
        )
        canary, baseline = data[m.name]
        inputs.append(MetricInput(config, canary, baseline))
    thresholds = Thresholds(spec.score_thresholds.pass_, spec.score_thresholds.marginal)
    return judge(inputs, thresholds, spec.group_weights).verdict
