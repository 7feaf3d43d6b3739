"""Kayenta's statistics: R-7 percentiles, means, effect sizes, the IQR detector, NaN handling
(ports of kayenta-judge's StatisticSuite, DetectorSuite and TransformSuite)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shipsafe.judge import kayenta_stats as stats
from tests.judge.vectors import vectors


def a(values):
    return np.asarray(values, dtype=np.float64)


def test_summary_of_one_value():
    s = stats.summary(a([4.0]))
    assert (s.min, s.max, s.mean, s.std, s.count) == (4.0, 4.0, 4.0, 0.0, 1)


def test_summary_of_a_list():
    s = stats.summary(a([1.0, 1.0, 1.0, 10.0, 10.0, 10.0]))
    assert (s.min, s.max, s.mean, s.count) == (1.0, 10.0, 5.5, 6)
    assert s.std == pytest.approx(4.9295, abs=1e-4)


def test_summary_of_no_data_is_all_zero():
    s = stats.summary(a([]))
    assert (s.min, s.max, s.mean, s.std, s.count) == (0.0, 0.0, 0.0, 0.0, 0)


def test_r7_percentiles_interpolate_linearly():
    data = a(vectors("StatisticSuite", "Summary Statistics: Basic Percentile")["values"])
    assert stats.percentile(data, 5) == pytest.approx(0.175, abs=1e-4)
    assert stats.percentile(data, 50) == 1.75
    assert stats.percentile(data, 100) == 3.5
    ten = vectors(
        "StatisticSuite", "Summary Statistics: Basic Percentile Estimate (Linear Interpolation)"
    )
    assert stats.percentile(a(ten["values"]), 50) == 4.5


def test_r7_percentile_on_nist_data():
    data = a(vectors("StatisticSuite", "Summary Statistics: Percentile (NIST Data)")["values"])
    assert stats.percentile(data, 90) == pytest.approx(95.19568, abs=1e-9)


def test_percentile_of_one_value_is_that_value():
    assert stats.percentile(a([1.0]), 100) == 1.0


def test_r7_quartiles_of_a_skewed_sample():
    data = a(
        vectors("StatisticSuite", "Summary Statistics: Percentile Estimate (Linear Interpolation)")[
            "values"
        ]
    )
    assert stats.percentile(data, 25) == 0.0
    assert stats.percentile(data, 75) == pytest.approx(0.0416, abs=1e-4)


def test_percentile_agrees_with_numpys_linear_method():
    rng = np.random.default_rng(3)
    data = rng.normal(size=101)
    for p in (1, 25, 50, 75, 99, 100):
        assert stats.percentile(data, p) == pytest.approx(np.percentile(data, p), abs=1e-12)


def test_percentile_outside_0_100_is_refused():
    with pytest.raises(ValueError, match="not in"):
        stats.percentile(a([1.0, 2.0]), 0)


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ("Effect Size: Mean Ratio (No Effect)", 1.0),
        ("Effect Size: Mean Ratio (High)", 10.0),
        ("Effect Size: Mean Ratio (Low)", 0.1),
    ],
)
def test_mean_ratio(test, expected):
    v = vectors("StatisticSuite", test)
    assert stats.mean_ratio(a(v["canary"]), a(v["baseline"])) == expected


def test_mean_ratio_with_a_zero_mean_is_nan():
    v = vectors("StatisticSuite", "Effect Size: Mean Ratio (Zero Mean)")
    assert math.isnan(stats.mean_ratio(a(v["canary"]), a(v["baseline"])))


def test_mean_is_commons_math_two_pass_not_a_plain_sum():
    values = a([0.1] * 10 + [1e16, -1e16])
    # a plain left-to-right sum loses the 0.1s; the correction pass cannot recover them
    # either, but the result is the exact double commons-math returns: checked by hand
    xbar = float(np.cumsum(values)[-1]) / 12
    assert stats.mean(values) == xbar + float(np.cumsum(values - xbar)[-1]) / 12


@pytest.mark.parametrize(
    ("test", "expected", "tolerance"),
    [
        ("CLES Effect Size: Identical", 0.5, 0.0),
        ("CLES Effect Size: Different (No Overlap)", 0.0, 0.0),
        ("CLES Effect Size: High Metric", 0.771, 0.001),
        ("CLES Effect Size: Low Metric", 0.12, 1e-12),
    ],
)
def test_cles(test, expected, tolerance):
    v = vectors("StatisticSuite", test)
    assert stats.cles(a(v["canary"]), a(v["baseline"])) == pytest.approx(expected, abs=tolerance)


def test_cles_counts_ties_as_half():
    assert stats.cles(a([1.0, 2.0]), a([2.0, 3.0])) == pytest.approx((0 + 0 + 0.5 + 0) / 4)


@pytest.mark.parametrize(
    ("test", "outliers"),
    [
        ("IQR Detection", [50.0]),
        ("IQR Detect Two Sided", [5.0, -5.0]),
        ("IQR NIST Test", [1441.0]),
    ],
)
def test_iqr_detector_at_factor_one_and_a_half(test, outliers):
    data = a(vectors("DetectorSuite", test)["values"])
    flagged = stats.iqr_outliers(data, 1.5, reduce_sensitivity=False)
    assert list(data[flagged]) == outliers


def test_iqr_detector_on_no_data_flags_nothing():
    assert len(stats.iqr_outliers(a([]), 1.5, reduce_sensitivity=False)) == 0


def test_reduced_sensitivity_keeps_what_lies_inside_p1_p99():
    # IQR fences at factor 0.1 are tight; P1/P99 widen them to nearly the whole range
    data = a(list(range(1, 101)))
    tight = stats.iqr_outliers(data, 0.1, reduce_sensitivity=False)
    relaxed = stats.iqr_outliers(data, 0.1, reduce_sensitivity=True)
    assert tight.sum() == 40  # 1..20 and 81..100
    assert list(data[relaxed]) == [1.0, 100.0]  # only what lies beyond P1 and P99


def test_outlier_factor_must_be_positive():
    with pytest.raises(ValueError, match="greater than zero"):
        stats.iqr_outliers(a([1.0]), 0.0, reduce_sensitivity=True)


def test_nans_removed_or_replaced_by_zero():
    data = a([0.0, 1.0, math.nan, 1.0, 0.0])
    assert list(stats.remove_nans(data)) == [0.0, 1.0, 1.0, 0.0]
    assert list(stats.remove_nans(a([math.nan] * 3))) == []
    replaced = stats.replace_nans(a([math.nan, 10.1, 20.2, 30.3, math.nan, 40.4]))
    assert list(replaced) == [0.0, 10.1, 20.2, 30.3, 0.0, 40.4]
