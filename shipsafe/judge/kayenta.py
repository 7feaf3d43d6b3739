"""Kayenta mode: NetflixACAJudge-v1.0, rule for rule (see KAYENTA-SEMANTICS.md).

Per metric: NaN strategy, then outlier removal, then the Mann-Whitney classifier
(98 % interval against +/-25 % of the Hodges-Lehmann estimate, gated by an effect size),
then the critical gate. Over metrics: muted ones dropped, group scores
(Pass / (Pass + High + Low + NodataFailMetric)), weights, the two overrides (a critical
metric that did not pass, or half or more `Nodata`), the summary rounded half-up to two
decimals, and the pass/marginal thresholds. Everything is pure; numpy is imported inside.

Where Kayenta is random (Gaussian noise added when both samples are constant, unseeded
there) this module seeds the noise from the data, so the same readings always give the
same judgement - replays reproduce live runs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from shipsafe.judge import kayenta_stats as stats
from shipsafe.judge.base import Counts, Interval, Outcome, Samples, Verdict

if TYPE_CHECKING:
    import numpy as np

JUDGE_NAME = "NetflixACAJudge-v1.0"
TOLERANCE = 0.25  # fixed by the judge, not configurable per metric
CONFIDENCE = 0.98
NODATA_THRESHOLD = 50.0  # percent of non-muted results


class Classification(StrEnum):
    PASS = "Pass"  # noqa: S105 (a classification, not a password)
    HIGH = "High"
    LOW = "Low"
    NODATA = "Nodata"
    NODATA_FAIL = "NodataFailMetric"
    ERROR = "Error"


class ScoreClassification(StrEnum):
    PASS = "Pass"  # noqa: S105
    MARGINAL = "Marginal"
    FAIL = "Fail"


class Direction(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"

    @classmethod
    def parse(cls, text: str) -> Direction:
        """Kayenta reads any unknown direction as `either`."""
        return cls(text) if text in ("increase", "decrease") else cls.EITHER


def nan_replaces(strategy: str) -> bool:
    """`replace` turns NaN into 0; anything else (the default "none" too) removes NaN."""
    return strategy == "replace"


def outliers_removed(strategy: str) -> bool:
    """Only `remove` removes outliers; anything else keeps them."""
    return strategy == "remove"


@dataclass(frozen=True)
class MetricConfig:
    """`analysisConfigurations.canary.*` of one Kayenta metric, with Kayenta's defaults.

    Effect-size thresholds left as None take the measure's default: 1.0 for meanRatio,
    0.5 for cles.
    """

    name: str
    groups: tuple[str, ...] = ()
    direction: str = "either"
    nan_strategy: str = "none"
    outlier_strategy: str = "none"
    outlier_factor: float = 3.0
    critical: bool = False
    must_have_data: bool = False
    muted: bool = False
    effect_measure: str = "meanRatio"
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None

    @property
    def uses_cles(self) -> bool:
        return self.effect_measure == "cles"

    def _effect(self, value: float | None) -> float:
        if value is not None:
            return value
        return 0.5 if self.uses_cles else 1.0

    @property
    def effect_thresholds(self) -> tuple[float, float]:
        """(allowed decrease, allowed increase)"""
        return self._effect(self.allowed_decrease), self._effect(self.allowed_increase)

    @property
    def critical_thresholds(self) -> tuple[float, float]:
        """(critical decrease, critical increase)"""
        return self._effect(self.critical_decrease), self._effect(self.critical_increase)


@dataclass(frozen=True)
class Comparison:
    """What the classifier decided for one metric, and the numbers behind it."""

    classification: Classification
    reason: str | None
    deviation: float  # mean ratio canary / baseline, NaN when a mean is 0
    critical: bool
    lower: float | None = None
    upper: float | None = None
    estimate: float | None = None
    effect_size: float | None = None


@dataclass(frozen=True)
class MetricResult:
    name: str
    classification: Classification
    reason: str | None
    critical: bool
    deviation: float
    muted: bool
    groups: tuple[str, ...]
    canary: stats.Summary
    baseline: stats.Summary
    comparison: Comparison | None = None


def _array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    import numpy as np

    return np.asarray(values, dtype=np.float64).reshape(-1)


def _noise_rng(name: str, canary: np.ndarray, baseline: np.ndarray) -> np.random.Generator:
    """A generator seeded by the data, so equal readings get equal noise."""
    import numpy as np

    digest = hashlib.sha256(name.encode() + canary.tobytes() + b"|" + baseline.tobytes())
    return np.random.default_rng(int.from_bytes(digest.digest()[:8], "big"))


def _with_noise(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Kayenta's degenerate-sample fix: N(0, (value * 1e-5)^2) added to each value."""
    stdev = float(values[0]) * 1e-5
    return values + rng.standard_normal(len(values)) * stdev


def _constant(values: np.ndarray) -> bool:
    """One distinct value (the sample is not empty here)."""
    return bool(values.min() == values.max())


def classify(
    canary: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    *,
    name: str = "metric",
    direction: Direction = Direction.EITHER,
    nan_replaced: bool = False,
    critical: bool = False,
    must_have_data: bool = False,
    tolerance: float = 0.25,
    confidence: float = 0.95,
    effect_thresholds: tuple[float, float] = (1.0, 1.0),
    critical_thresholds: tuple[float, float] = (1.0, 1.0),
    effect_measure: str = "meanRatio",
    rng: np.random.Generator | None = None,
) -> Comparison:
    """Kayenta's MannWhitneyClassifier on samples already transformed (NaN, outliers).

    The constructor defaults match Kayenta's class (tolerance 0.25, confidence 0.95);
    the judge itself always uses 0.25 and 0.98 (`classify_metric`). Raises AllTiedError
    where Kayenta throws; the judge turns that into `Error`.
    """
    import numpy as np

    from shipsafe.judge.mannwhitney import confidence_interval

    x, y = _array(canary), _array(baseline)
    if len(x) == 0 or len(y) == 0:
        if nan_replaced:
            return Comparison(Classification.PASS, None, 1.0, critical=False)
        missing = f"Missing data for {name}"
        if must_have_data and not critical:
            return Comparison(Classification.NODATA_FAIL, missing, 1.0, critical=False)
        return Comparison(Classification.NODATA, missing, 1.0, critical=critical)
    if len(x) == len(y) and np.array_equal(np.sort(x), np.sort(y)):
        return Comparison(
            Classification.PASS, "The Canary and Baseline data are identical", 1.0, False
        )
    if _constant(x) and _constant(y) and x[0] == y[0]:  # one value across both samples
        return Comparison(Classification.PASS, None, 1.0, critical=False)

    if _constant(x) and _constant(y):
        rng = rng if rng is not None else _noise_rng(name, x, y)
        x = _with_noise(x, rng)
        y = _with_noise(y, rng)
    interval = confidence_interval(x, y, confidence)
    deviation = stats.mean_ratio(x, y)
    effect = stats.cles(x, y) if effect_measure == "cles" else deviation
    bound = tolerance * abs(interval.estimate)
    allowed_decrease, allowed_increase = effect_thresholds
    unknown_effect = math.isnan(effect)

    high = (
        direction in (Direction.INCREASE, Direction.EITHER)
        and interval.lower > bound
        and (unknown_effect or effect >= allowed_increase)
    )
    low = (
        direction in (Direction.DECREASE, Direction.EITHER)
        and interval.upper < -bound
        and (unknown_effect or effect <= allowed_decrease)
    )
    reason: str | None
    if high:
        label, reason = Classification.HIGH, f"{name} was classified as High"
    elif low:
        label, reason = Classification.LOW, f"{name} was classified as Low"
    else:
        label, reason = Classification.PASS, None

    critical_decrease, critical_increase = critical_thresholds
    is_critical = critical and (
        (label == Classification.HIGH and (unknown_effect or effect >= critical_increase))
        or (label == Classification.LOW and (unknown_effect or effect <= critical_decrease))
    )
    if is_critical:
        reason = f"The metric {name} was classified as {label.value} (Critical)"
    return Comparison(
        label,
        reason,
        deviation,
        is_critical,
        lower=interval.lower,
        upper=interval.upper,
        estimate=interval.estimate,
        effect_size=effect,
    )


def transform(values: np.ndarray, config: MetricConfig) -> np.ndarray:
    """NaN handling first, then (only with `outliers.strategy: remove`) the IQR filter."""
    if nan_replaces(config.nan_strategy):
        out = stats.replace_nans(values)
    else:
        out = stats.remove_nans(values)
    if outliers_removed(config.outlier_strategy):
        out = out[~stats.iqr_outliers(out, config.outlier_factor, reduce_sensitivity=True)]
    return out


def classify_metric(
    config: MetricConfig,
    canary: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    rng: np.random.Generator | None = None,
) -> MetricResult:
    """NetflixACAJudge's `classifyMetric`: transforms, statistics, classification."""
    from shipsafe.judge.mannwhitney import AllTiedError

    x = transform(_array(canary), config)
    y = transform(_array(baseline), config)
    common = dict(
        name=config.name,
        muted=config.muted,
        groups=config.groups,
        canary=stats.summary(x),
        baseline=stats.summary(y),
    )
    try:
        comparison = classify(
            x,
            y,
            name=config.name,
            direction=Direction.parse(config.direction),
            nan_replaced=nan_replaces(config.nan_strategy),
            critical=config.critical,
            must_have_data=config.must_have_data,
            tolerance=TOLERANCE,
            confidence=CONFIDENCE,
            effect_thresholds=config.effect_thresholds,
            critical_thresholds=config.critical_thresholds,
            effect_measure=config.effect_measure,
            rng=rng,
        )
    except (AllTiedError, ArithmeticError, ValueError):
        return MetricResult(
            classification=Classification.ERROR,
            reason="Metric Classification Failed",
            critical=False,
            deviation=math.nan,
            **common,  # type: ignore[arg-type]
        )
    return MetricResult(
        classification=comparison.classification,
        reason=comparison.reason,
        critical=comparison.critical,
        deviation=comparison.deviation,
        comparison=comparison,
        **common,  # type: ignore[arg-type]
    )


# --- scoring (WeightedSumScorer, ThresholdScoreClassifier) ---------------------------


@dataclass(frozen=True)
class GroupScore:
    name: str
    score: float
    no_data: bool
    counts: Mapping[str, int]


@dataclass(frozen=True)
class ScoreResult:
    summary: float
    groups: tuple[GroupScore, ...]
    reason: str | None


def round_half_up(value: float, places: int = 2) -> float:
    """commons-math `Precision.round`: the decimal form of the double, rounded half-up."""
    if math.isnan(value) or math.isinf(value):
        return value
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def _group_score(name: str, labels: list[Classification]) -> GroupScore:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label.value] = counts.get(label.value, 0) + 1
    passed = counts.get(Classification.PASS, 0)
    total = (
        passed
        + counts.get(Classification.HIGH, 0)
        + counts.get(Classification.LOW, 0)
        + counts.get(Classification.NODATA_FAIL, 0)
    )
    if total == 0:
        return GroupScore(name, 0.0, True, counts)
    return GroupScore(name, (passed / total) * 100, False, counts)


def _summary(groups: Sequence[GroupScore], weights: Mapping[str, float]) -> float:
    unweighted = {g.name for g in groups} - set(weights)
    share = (100 - sum(weights.values())) / len(unweighted) if unweighted else 0.0
    total = 0.0
    for group in groups:
        effective = 100.0 if group.no_data else group.score
        total += effective * (weights.get(group.name, share) / 100)
    return round_half_up(total, 2)


def score(
    results: Sequence[MetricResult], group_weights: Mapping[str, float] | None = None
) -> ScoreResult:
    """WeightedSumScorer over the non-muted results."""
    weights = dict(group_weights or {})
    counted = [r for r in results if not r.muted]
    labels: dict[str, list[Classification]] = {}
    for result in counted:
        for group in result.groups:
            labels.setdefault(group, []).append(result.classification)
    groups = tuple(_group_score(name, group_labels) for name, group_labels in labels.items())

    failures = [r for r in counted if r.critical and r.classification != Classification.PASS]
    if failures:
        return ScoreResult(0.0, groups, f"Canary Failed: {failures[0].reason}")
    nodata = sum(1 for r in counted if r.classification == Classification.NODATA)
    if counted and nodata / len(counted) * 100 >= NODATA_THRESHOLD:
        return ScoreResult(
            0.0, groups, f"Canary Failed: {NODATA_THRESHOLD:g}% or more metrics returned NODATA"
        )
    return ScoreResult(_summary(groups, weights), groups, None)


def classify_score(
    summary: float, pass_threshold: float, marginal_threshold: float
) -> ScoreClassification:
    if summary >= pass_threshold:
        return ScoreClassification.PASS
    if summary >= marginal_threshold:
        return ScoreClassification.MARGINAL
    return ScoreClassification.FAIL


# --- the judge -----------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The request's score thresholds (CanaryClassifierThresholdsConfig)."""

    pass_score: float
    marginal: float


@dataclass(frozen=True)
class Judgement:
    results: tuple[MetricResult, ...]
    score: ScoreResult
    classification: ScoreClassification
    thresholds: Thresholds
    judge_name: str = JUDGE_NAME

    @property
    def verdict(self) -> Verdict:
        outcome = {
            ScoreClassification.PASS: Outcome.PASS,
            ScoreClassification.MARGINAL: Outcome.MARGINAL,
            ScoreClassification.FAIL: Outcome.FAIL,
        }[self.classification]
        interval, estimate = None, None
        if len(self.results) == 1 and self.results[0].comparison is not None:
            c = self.results[0].comparison
            if c.lower is not None and c.upper is not None:
                interval = Interval(c.lower, c.upper, "shift canary - baseline")
                estimate = c.estimate
        return Verdict(
            outcome,
            describe(self),
            interval=interval,
            estimate=estimate,
            score=self.score.summary,
        )


def describe(judgement: Judgement) -> str:
    t = judgement.thresholds
    head = (
        f"score {judgement.score.summary:g} ({judgement.classification.value.lower()}: "
        f"pass >= {t.pass_score:g}, marginal >= {t.marginal:g})"
    )
    parts = [head]
    if judgement.score.reason:
        parts.append(judgement.score.reason)
    for r in judgement.results:
        if r.classification != Classification.PASS or len(judgement.results) == 1:
            parts.append(_describe_metric(r))
    return "; ".join(parts)


def _describe_metric(r: MetricResult) -> str:
    text = f"{r.name}: {r.classification.value}"
    if r.critical:
        text += " (critical)"
    if r.muted:
        text += " (muted)"
    c = r.comparison
    if c is not None and c.lower is not None and c.upper is not None:
        text += (
            f", shift {c.estimate:.4g} in [{c.lower:.4g}, {c.upper:.4g}]"
            f", mean ratio {r.deviation:.4g}"
        )
    elif r.reason:
        text += f" ({r.reason})"
    return text


@dataclass(frozen=True)
class MetricInput:
    config: MetricConfig
    canary: Sequence[float]
    baseline: Sequence[float]


def judge(
    metrics: Sequence[MetricInput],
    thresholds: Thresholds,
    group_weights: Mapping[str, float] | None = None,
) -> Judgement:
    """NetflixACAJudge-v1.0 over several metrics: classify each, score, classify the score."""
    results = tuple(classify_metric(m.config, m.canary, m.baseline) for m in metrics)
    scored = score(results, group_weights)
    return Judgement(
        results=results,
        score=scored,
        classification=classify_score(scored.summary, thresholds.pass_score, thresholds.marginal),
        thresholds=thresholds,
    )


@dataclass(frozen=True)
class KayentaJudge:
    """One metric judged as Kayenta would judge a canary config holding only it.

    Satisfies `shipsafe.judge.base.Judge`: `Samples` in, `Verdict` out.
    """

    config: MetricConfig
    thresholds: Thresholds
    group_weights: Mapping[str, float] = field(default_factory=dict)

    def __call__(self, data: Samples | Counts) -> Verdict:
        if not isinstance(data, Samples):
            raise TypeError("the Kayenta judge compares samples, not counts")
        return self.judgement(data).verdict

    def judgement(self, data: Samples) -> Judgement:
        # a metric in no group counts nowhere (Kayenta): alone, it is its own group
        config = (
            self.config if self.config.groups else replace(self.config, groups=(self.config.name,))
        )
        return judge(
            [MetricInput(config, data.canary, data.baseline)],
            self.thresholds,
            self.group_weights,
        )
