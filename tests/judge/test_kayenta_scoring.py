"""Kayenta's scoring: group scores, weights, overrides, thresholds (port of ScorerSuite,
plus the rules of ScoringHelper and ThresholdScoreClassifier)."""

from __future__ import annotations

import pytest

from shipsafe.judge.kayenta import (
    Classification,
    MetricResult,
    ScoreClassification,
    classify_score,
    round_half_up,
    score,
)
from shipsafe.judge.kayenta_stats import Summary

C = Classification
EMPTY = Summary(0, 0.0, 0.0, 0.0, 0.0)


def r(label: Classification, *groups: str, critical=False, muted=False, name=None) -> MetricResult:
    return MetricResult(
        name=name or f"m-{label.value}",
        classification=label,
        reason=f"{name or 'metric'} was {label.value}",
        critical=critical,
        deviation=1.0,
        muted=muted,
        groups=groups or ("test-group",),
        canary=EMPTY,
        baseline=EMPTY,
    )


def test_single_pass_metric_scores_100():
    assert score([r(C.PASS)]).summary == 100.0


def test_single_high_metric_scores_0():
    assert score([r(C.HIGH)]).summary == 0.0


def test_single_nodata_group_scores_0_and_the_run_fails():
    result = score([r(C.NODATA, "test-group-nodata")])
    assert [g.score for g in result.groups] == [0.0]
    assert result.groups[0].no_data
    assert result.summary == 0.0


def test_a_nodata_group_counts_100_towards_the_summary():
    result = score(
        [r(C.PASS, "pass", name="a"), r(C.PASS, "pass", name="b"), r(C.NODATA, "nodata")]
    )
    assert sorted(g.score for g in result.groups) == [0.0, 100.0]
    assert result.summary == 100.0


def test_one_group_two_metrics_half_pass():
    assert score([r(C.PASS), r(C.HIGH)]).summary == 50.0


def test_one_group_three_metrics_rounds_to_two_decimals():
    assert score([r(C.PASS), r(C.HIGH), r(C.LOW)]).summary == 33.33


def test_two_weighted_groups():
    weights = {"group-1": 75.0, "group-2": 25.0}
    results = [r(C.PASS, "group-1", name="a"), r(C.PASS, "group-1", name="b"), r(C.HIGH, "group-2")]
    assert score(results, weights).summary == 75.0


def test_two_equally_weighted_groups():
    weights = {"group-1": 50.0, "group-2": 50.0}
    results = [r(C.PASS, "group-1"), r(C.HIGH, "group-1", name="x"), r(C.HIGH, "group-2")]
    assert score(results, weights).summary == 25.0


def test_nodata_is_left_out_of_its_groups_denominator():
    weights = {"group-1": 50.0, "group-2": 50.0}
    results = [r(C.PASS, "group-1"), r(C.NODATA, "group-1"), r(C.HIGH, "group-2")]
    result = score(results, weights)
    assert {g.name: g.score for g in result.groups} == {"group-1": 100.0, "group-2": 0.0}
    assert result.summary == 50.0


def test_a_critical_failure_forces_zero():
    result = score([r(C.PASS), r(C.HIGH, critical=True, name="latency")])
    assert result.summary == 0.0
    assert result.reason == "Canary Failed: latency was High"


def test_a_critical_metric_that_passes_does_not_override():
    assert score([r(C.LOW), r(C.PASS, critical=True)]).summary == 50.0


def test_a_critical_nodata_forces_zero():
    assert score([r(C.PASS), r(C.NODATA, critical=True)]).summary == 0.0


def test_unequal_weights_four_metrics():
    weights = {"group1": 15.0, "group2": 85.0}
    results = [
        r(C.HIGH, "group1"),
        r(C.LOW, "group1"),
        r(C.PASS, "group1"),
        r(C.HIGH, "group2", name="x"),
    ]
    assert score(results, weights).summary == 5.0


def test_exactly_half_nodata_fails_the_run():
    result = score([r(C.PASS, "a"), r(C.NODATA, "b")])
    assert result.summary == 0.0
    assert result.reason == "Canary Failed: 50% or more metrics returned NODATA"
    assert score([r(C.PASS, "a"), r(C.PASS, "a", name="p2"), r(C.NODATA, "b")]).summary == 100.0


def test_nodata_fail_metric_counts_as_a_failure_not_as_nodata():
    result = score([r(C.PASS, "g"), r(C.NODATA_FAIL, "g")])
    assert result.summary == 50.0
    assert result.reason is None


def test_error_is_out_of_the_denominator_and_out_of_the_nodata_share():
    assert score([r(C.PASS, "g"), r(C.ERROR, "g")]).summary == 100.0


def test_muted_metrics_are_dropped_before_scoring():
    results = [r(C.PASS, "g"), r(C.HIGH, "g", muted=True, critical=True)]
    assert score(results).summary == 100.0


def test_unweighted_groups_share_what_explicit_weights_leave():
    # "a" is given 40; "b" and "c" share the remaining 60 as 30 each
    results = [r(C.HIGH, "a"), r(C.PASS, "b"), r(C.HIGH, "c", name="x")]
    assert score(results, {"a": 40.0}).summary == 30.0


def test_weights_of_absent_groups_still_reduce_the_remainder():
    # "gone" has no metric, yet its 50 leaves only 50 for "b": the summary caps at 50
    assert score([r(C.PASS, "b")], {"gone": 50.0}).summary == 50.0


def test_a_metric_in_two_groups_counts_in_both():
    result = score([r(C.HIGH, "a", "b"), r(C.PASS, "b", name="p")])
    assert {g.name: g.score for g in result.groups} == {"a": 0.0, "b": 50.0}
    assert result.summary == 25.0


def test_a_metric_in_no_group_counts_nowhere():
    result = score(
        [MetricResult("loose", C.HIGH, None, False, 1.0, False, (), EMPTY, EMPTY), r(C.PASS, "g")]
    )
    assert result.summary == 100.0


def test_summary_rounds_half_up_from_the_decimal_form():
    assert round_half_up(12.345) == 12.35
    assert round_half_up(66.66666666666667) == 66.67
    assert round_half_up(0.125) == 0.13


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (95.0, ScoreClassification.PASS),
        (94.99, ScoreClassification.MARGINAL),
        (75.0, ScoreClassification.MARGINAL),
        (74.99, ScoreClassification.FAIL),
    ],
)
def test_threshold_classifier_is_inclusive(summary, expected):
    assert classify_score(summary, pass_threshold=95, marginal_threshold=75) == expected
