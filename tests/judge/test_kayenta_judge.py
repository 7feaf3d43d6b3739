"""The whole judge: per-metric configuration, transforms, fixed 0.25 / 98 %, the score, and
the Verdict a plan check receives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shipsafe.judge.base import Counts, Outcome, Samples
from shipsafe.judge.kayenta import (
    Classification,
    KayentaJudge,
    MetricConfig,
    MetricInput,
    ScoreClassification,
    Thresholds,
    classify_metric,
    judge,
)

RNG = np.random.default_rng(11)
BASE = RNG.normal(100.0, 5.0, 120)
SAME = RNG.normal(100.0, 5.0, 120)
WORSE = RNG.normal(130.0, 5.0, 120)
BETTER = RNG.normal(70.0, 5.0, 120)
T = Thresholds(pass_score=95, marginal=75)


def test_defaults_are_kayentas():
    c = MetricConfig("latency")
    assert c.effect_thresholds == (1.0, 1.0)
    assert c.critical_thresholds == (1.0, 1.0)
    assert MetricConfig("x", effect_measure="cles").effect_thresholds == (0.5, 0.5)


def test_a_worse_canary_is_high_and_a_similar_one_passes():
    assert classify_metric(MetricConfig("l"), WORSE, BASE).classification == Classification.HIGH
    assert classify_metric(MetricConfig("l"), SAME, BASE).classification == Classification.PASS


def test_direction_increase_lets_a_drop_pass():
    config = MetricConfig("l", direction="increase")
    assert classify_metric(config, BETTER, BASE).classification == Classification.PASS
    assert classify_metric(MetricConfig("l"), BETTER, BASE).classification == Classification.LOW


def test_unknown_direction_reads_as_either():
    config = MetricConfig("l", direction="sideways")
    assert classify_metric(config, BETTER, BASE).classification == Classification.LOW


def test_the_judge_uses_25_percent_tolerance_not_the_classes_default():
    # a small shift the 98 % interval calls significant (lower end above 0), but whose
    # lower end stays under 25 % of the estimate: the judge passes it
    base = np.linspace(100.0, 101.0, 200)
    result = classify_metric(MetricConfig("l"), base + 0.085, base)
    assert result.classification == Classification.PASS
    assert result.comparison is not None and result.comparison.lower is not None
    assert result.comparison.lower > 0


def test_nan_readings_are_removed_by_default():
    canary = np.concatenate((WORSE, [math.nan] * 10))
    result = classify_metric(MetricConfig("l"), canary, BASE)
    assert result.canary.count == len(WORSE)
    assert result.classification == Classification.HIGH


def test_all_nan_canary_is_nodata_by_default_and_pass_when_replaced():
    nothing = [math.nan] * 5
    assert classify_metric(MetricConfig("l"), nothing, BASE).classification == (
        Classification.NODATA
    )
    replaced = classify_metric(MetricConfig("l", nan_strategy="replace"), nothing, BASE)
    assert replaced.classification == Classification.LOW  # zeros do take part in the test


def test_empty_canary_with_replace_passes_at_the_empty_check():
    result = classify_metric(MetricConfig("l", nan_strategy="replace"), [], BASE)
    assert result.classification == Classification.PASS


def test_outliers_are_kept_unless_removal_is_asked():
    spike = np.concatenate((SAME, [10_000.0]))
    kept = classify_metric(MetricConfig("l"), spike, BASE)
    removed = classify_metric(MetricConfig("l", outlier_strategy="remove"), spike, BASE)
    assert kept.canary.count == len(spike)
    assert removed.canary.count == len(SAME)


def test_outlier_removal_spares_spikes_above_the_99th_percentile():
    # reduced sensitivity: with 3 spikes in 123 readings P99 is a spike, so none is removed
    spikes = np.concatenate((SAME, [10_000.0] * 3))
    result = classify_metric(MetricConfig("l", outlier_strategy="remove"), spikes, BASE)
    assert result.canary.count == len(spikes)


def test_must_have_data_fails_the_group():
    config = MetricConfig("l", groups=("g",), must_have_data=True)
    other = MetricConfig("ok", groups=("g",))
    j = judge([MetricInput(config, [], BASE), MetricInput(other, SAME, BASE)], T)
    assert j.results[0].classification == Classification.NODATA_FAIL
    assert j.score.summary == 50.0
    assert j.classification == ScoreClassification.FAIL


def test_a_critical_high_metric_fails_the_canary_whatever_the_score():
    metrics = [MetricInput(MetricConfig(f"m{i}", groups=("g",)), SAME, BASE) for i in range(9)]
    metrics.append(MetricInput(MetricConfig("err", groups=("g",), critical=True), WORSE, BASE))
    j = judge(metrics, T)
    assert j.score.summary == 0.0
    assert j.classification == ScoreClassification.FAIL
    assert j.score.reason is not None and "err" in j.score.reason


def test_a_muted_metric_is_classified_but_not_scored():
    muted = MetricInput(MetricConfig("noisy", groups=("g",), muted=True), WORSE, BASE)
    fine = MetricInput(MetricConfig("fine", groups=("g",)), SAME, BASE)
    j = judge([muted, fine], T)
    assert j.results[0].classification == Classification.HIGH
    assert j.score.summary == 100.0


def test_marginal_score_between_the_thresholds():
    metrics = [MetricInput(MetricConfig(f"m{i}", groups=("g",)), SAME, BASE) for i in range(4)]
    metrics.append(MetricInput(MetricConfig("bad", groups=("g",)), WORSE, BASE))
    j = judge(metrics, T)
    assert j.score.summary == 80.0
    assert j.classification == ScoreClassification.MARGINAL
    assert j.verdict.outcome == Outcome.MARGINAL


def test_a_classifier_failure_is_an_error_result_not_an_exception():
    # one reading each: at the only shift there is, the pool is one tied value
    result = classify_metric(MetricConfig("l", critical=True), [5.0], [3.0])
    assert result.classification == Classification.ERROR
    assert result.reason == "Metric Classification Failed"
    assert not result.critical  # Kayenta leaves an Error's critical flag unset


def test_same_readings_give_the_same_judgement():
    config = MetricConfig("l", groups=("g",))
    first = judge([MetricInput(config, [5.0] * 10, [4.0] * 10)], T)
    second = judge([MetricInput(config, [5.0] * 10, [4.0] * 10)], T)
    assert first == second


def test_kayenta_judge_gives_a_verdict_with_interval_and_score():
    j = KayentaJudge(MetricConfig("latency"), T)
    bad = j(Samples(canary=list(WORSE), baseline=list(BASE)))
    assert bad.outcome == Outcome.FAIL
    assert bad.score == 0.0
    assert bad.interval is not None and bad.interval.low > 0
    assert "latency: High" in bad.message
    good = j(Samples(canary=list(SAME), baseline=list(BASE)))
    assert good.outcome == Outcome.PASS
    assert good.score == 100.0
    assert good.interval is not None and good.interval.low < 0 < good.interval.high


def test_kayenta_judge_refuses_counts():
    j = KayentaJudge(MetricConfig("errors"), T)
    with pytest.raises(TypeError, match="samples"):
        j(Counts([1], [10], [1], [10]))
