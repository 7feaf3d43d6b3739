"""A judge check's measurement: read canary and baseline over a range, judge, map the verdict.

The verdict becomes an ordinary measurement, so a judge check counts like any other check
(failureLimit, inconclusiveLimit, breakers, evidence):

    pass       -> successful
    undecided  -> successful (sequential: not shown worse yet; the message says undecided)
    marginal   -> inconclusive (with inconclusiveLimit 0, the default, a human decides)
    fail       -> failed (rollback, with failureLimit 0)

The value recorded is Kayenta's score, or the sequential test's effect estimate. A reading
of +Inf or -Inf on either side fails the measurement before any judging (ranked, it looked
like an ordinary extreme: an all -Inf canary scored 100). In Kayenta
mode missing points inside the range are NaN and follow the metric's `nanStrategy`; a series
with no points at all is "no data" for that side, which Kayenta classifies `Nodata` (or
`NodataFailMetric` with `mustHaveData`). A sequential judge without one reading of both
sides is "no data", failed or inconclusive as the template's `noData` says.
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
    # a sequential test not yet sure either way: no evidence of harm, keep going; the
    # analysis step completes on its count, a breaker keeps watching
    Outcome.UNDECIDED: MeasurementPhase.SUCCESSFUL,
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
    data: dict[str, list[list[float]]] = {}
    for metric in spec.metrics:
        results = []
        for text in metric.queries().values():
            result = read(source, render_query(text, variables), start, end, spec.step)
            sent.append(result.sent)
            results.append(result)
        data[metric.name] = aligned(results, start, spec.step)
    infinite = [
        name for name, sides in data.items() if any(math.isinf(v) for side in sides for v in side)
    ]
    if infinite:  # +-Inf ranks as a plain extreme and scored 100: never judge on it
        return JudgeReading(
            MeasurementPhase.FAILED,
            None,
            f"{infinite[0]}: a reading is +Inf or -Inf, not a finite number",
            " ; ".join(sent),
        )
    verdict = kayenta(spec, data) if spec.mode == "kayenta" else sequential(spec, data)
    if verdict is None:  # fail closed, as a plain check does
        phase = (
            MeasurementPhase.INCONCLUSIVE
            if template.no_data == "inconclusive"
            else MeasurementPhase.FAILED
        )
        return JudgeReading(
            phase,
            None,
            f"no data: no reading of both sides (noData: {template.no_data})",
            " ; ".join(sent),
        )
    return JudgeReading(
        PHASES[verdict.outcome],
        verdict.score if verdict.score is not None else verdict.estimate,
        verdict.message,
        " ; ".join(sent),
    )


def sequential(spec: JudgeSpec, data: dict[str, list[list[float]]]) -> Verdict | None:
    """The sequential test on the readings since the analysis started; None when there is
    not one reading of both sides.

    Samples: a step where either side has no point is left out. Counts: a step where a
    total is missing is left out; missing events there count as 0 (a counter of errors
    that never happened has no series).
    """
    from shipsafe.judge.base import Counts, Samples
    from shipsafe.judge.sequential import judge_counts, judge_samples

    (metric,) = spec.metrics
    columns = data[metric.name]
    if metric.counts:
        canary_events, canary_total, baseline_events, baseline_total = (
            c or [math.nan] * len(max(columns, key=len)) for c in columns
        )
        rows = [
            (0.0 if math.isnan(ce) else ce, ct, 0.0 if math.isnan(be) else be, bt)
            for ce, ct, be, bt in zip(
                canary_events, canary_total, baseline_events, baseline_total, strict=True
            )
            if not (math.isnan(ct) or math.isnan(bt))
        ]
        if not rows:
            return None
        counts = Counts(
            canary_events=[r[0] for r in rows],
            canary_trials=[r[1] for r in rows],
            baseline_events=[r[2] for r in rows],
            baseline_trials=[r[3] for r in rows],
        )
        return judge_counts(counts, tolerance=spec.tolerance, alpha=spec.alpha)
    else:
        canary, baseline = columns
        pairs = [
            (c, b)
            for c, b in zip(canary, baseline, strict=False)
            if not (math.isnan(c) or math.isnan(b))
        ]
        if not pairs:
            return None
        samples = Samples(canary=[c for c, _ in pairs], baseline=[b for _, b in pairs])
        return judge_samples(
            samples, quantile=spec.quantile, tolerance=spec.tolerance, alpha=spec.alpha
        )


def kayenta(spec: JudgeSpec, data: dict[str, list[list[float]]]) -> Verdict:
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
