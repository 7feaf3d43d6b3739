"""Kayenta's metric classifier (port of kayenta-judge's ClassifierSuite).

Each case runs the classifier with the parameters the upstream test passes (most use
tolerance 0.10 and 95 % confidence, not the judge's fixed 0.25 / 98 %) on the upstream
test's own data, and expects the classification (and critical flag) it asserts.
The mean-inequality cases are left out: NetflixACAJudge does not use that classifier.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from shipsafe.judge.kayenta import Classification, Direction, classify
from tests.judge.vectors import vectors

PASS, HIGH, LOW = Classification.PASS, Classification.HIGH, Classification.LOW
NODATA = Classification.NODATA
EITHER, INC, DEC = Direction.EITHER, Direction.INCREASE, Direction.DECREASE
T10 = {"tolerance": 0.10, "confidence": 0.95}
CLES = {"tolerance": 0.20, "confidence": 0.98, "effect_measure": "cles"}

# (upstream test, keyword arguments, expected classification, expected critical or None)
CASES: list[tuple[str, dict[str, Any], Classification, bool | None]] = [
    ("Mann-Whitney Classifier Test: Pass Metric", {**T10, "direction": EITHER}, PASS, None),
    ("Mann-Whitney Classifier Test: High Metric", {**T10, "direction": EITHER}, HIGH, None),
    ("Mann-Whitney Classifier Test: Low Metric", {**T10, "direction": EITHER}, LOW, None),
    ("Mann-Whitney Classifier Directional Test: Increase", {**T10, "direction": INC}, PASS, None),
    ("Mann-Whitney Classifier Directional Test: Decrease", {**T10, "direction": DEC}, PASS, None),
    (
        "Mann-Whitney Classifier Directional Test: High Metric",
        {**T10, "direction": INC},
        HIGH,
        False,
    ),
    ("Mann-Whitney Classifier Directional Test: Low Metric", {**T10, "direction": DEC}, LOW, None),
    ("Mann-Whitney Classifier Test: High Metric (Large Input)", {**T10}, HIGH, False),
    (
        "Mann-Whitney Classifier Test - Mean Ratio Effect Size: High",
        {**T10, "effect_thresholds": (0.8, 1.2)},
        HIGH,
        None,
    ),
    (
        "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Low",
        {**T10, "direction": DEC, "effect_thresholds": (0.8, 1.2)},
        LOW,
        None,
    ),
    (
        "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Pass",
        {**T10, "effect_thresholds": (0.5, 1.0)},
        PASS,
        None,
    ),
    (
        "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Pass (Large Input)",
        {**T10, "effect_thresholds": (1.0, 5.0)},
        PASS,
        None,
    ),
    (
        "Mann-Whitney Classifier Test - CLES Effect Size: Pass",
        {**CLES, "effect_thresholds": (0.5, 0.8)},
        PASS,
        None,
    ),
    (
        "Mann-Whitney Classifier Test - CLES Effect Size: High",
        {**CLES, "effect_thresholds": (0.2, 0.8)},
        HIGH,
        None,
    ),
    (
        "Mann-Whitney Classifier Test - CLES Effect Size: Low",
        {**CLES, "effect_thresholds": (0.2, 0.8)},
        LOW,
        None,
    ),
    (
        "Mann-Whitney Classifier Test - Critical Effect Size: Critical High",
        {**T10, "critical": True, "critical_thresholds": (1.0, 1.2)},
        HIGH,
        True,
    ),
    (
        "Mann-Whitney Classifier Test - Critical Effect Size: Critical Low",
        {**T10, "critical": True, "critical_thresholds": (1.2, 1.0)},
        LOW,
        True,
    ),
    (
        "Mann-Whitney Classifier Test - Critical Effect Size: High",
        {
            **T10,
            "critical": True,
            "effect_thresholds": (1.0, 5.0),
            "critical_thresholds": (1.0, 13.0),
        },
        HIGH,
        False,
    ),
    (
        "Mann-Whitney Classifier Test - Critical Effect Size: Pass",
        {
            **T10,
            "critical": True,
            "effect_thresholds": (1.0, 13.0),
            "critical_thresholds": (1.0, 15.0),
        },
        PASS,
        False,
    ),
    (
        "Mann-Whitney Classifier Test - Critical Effect Size: Critical High (Default Thresholds)",
        {**T10, "critical": True},
        HIGH,
        True,
    ),
    ("Mann-Whitney Tied Observations", {**T10, "direction": DEC}, PASS, None),
    ("Mann-Whitney Identical Populations", {**T10, "direction": DEC}, PASS, None),
    ("Mann-Whitney Leading Zero Identical Population", {**T10, "direction": DEC}, PASS, None),
    ("Mann-Whitney Missing Experiment Data", {**T10, "direction": DEC}, NODATA, None),
    (
        "Mann-Whitney Missing Experiment Data: Critical Metric",
        {**T10, "direction": DEC, "critical": True},
        NODATA,
        True,
    ),
    (
        "Mann-Whitney Missing Experiment Data with NaN Replacement",
        {**T10, "direction": DEC, "nan_replaced": True},
        PASS,
        None,
    ),
    ("Mann-Whitney Majority Tied Observations", {**T10}, PASS, None),
    ("Mann-Whitney Tied Ranks", {**T10}, HIGH, None),
    ("Mann-Whitney Tied Ranks With Zeros", {**T10}, HIGH, None),
    (
        "Mann-Whitney Zero Mean: High Metric with Effect Size",
        {**T10, "effect_thresholds": (0.8, 1.2)},
        HIGH,
        None,
    ),
    (
        "Mann-Whitney Zero Mean: Low Metric with Effect Size",
        {**T10, "effect_thresholds": (0.8, 1.2)},
        LOW,
        None,
    ),
    (
        "Mann-Whitney Zero Mean: Critical Metric",
        {**T10, "nan_replaced": True, "critical": True, "critical_thresholds": (0.8, 1.2)},
        HIGH,
        True,
    ),
    ("Mann-Whitney Zero Mean: Pass Metric", {**T10, "effect_thresholds": (0.8, 1.2)}, PASS, None),
]


@pytest.mark.parametrize(
    ("test", "kwargs", "expected", "critical"), CASES, ids=[c[0] for c in CASES]
)
def test_classifier_suite_case(test, kwargs, expected, critical):
    v = vectors("ClassifierSuite", test)
    result = classify(v["canary"], v["baseline"], name="test-metric", **kwargs)
    assert result.classification == expected
    if critical is not None:
        assert result.critical is critical


def test_missing_data_gives_a_reason_naming_the_metric():
    result = classify([], [], name="test-critical-metric", critical=True, **T10)
    assert result.reason == "Missing data for test-critical-metric"


def test_zero_baseline_mean_leaves_the_deviation_undefined():
    v = vectors("ClassifierSuite", "Mann-Whitney Zero Mean: High Metric with Effect Size")
    result = classify(v["canary"], v["baseline"], effect_thresholds=(0.8, 1.2), **T10)
    assert math.isnan(result.deviation)


def test_all_zero_samples_pass_with_deviation_one():
    result = classify([0.0] * 5, [0.0] * 5, effect_thresholds=(0.8, 1.2), **T10)
    assert (result.classification, result.deviation) == (PASS, 1.0)


def test_must_have_data_turns_missing_data_into_a_failing_result():
    result = classify([], [1.0, 2.0], must_have_data=True)
    assert result.classification == Classification.NODATA_FAIL
    assert not result.critical


def test_critical_must_have_data_stays_nodata_but_critical():
    result = classify([], [1.0, 2.0], must_have_data=True, critical=True)
    assert (result.classification, result.critical) == (NODATA, True)


def test_identical_samples_pass_with_the_identical_reason():
    result = classify([3.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    assert result.classification == PASS
    assert result.reason == "The Canary and Baseline data are identical"


def test_significant_shift_inside_tolerance_passes():
    """Significant at 98 % but within 25 % of the estimate: Kayenta passes it."""
    import numpy as np

    base = np.linspace(100.0, 101.0, 200)
    shifted = classify(base + 0.085, base, tolerance=0.25, confidence=0.98)
    assert shifted.lower is not None and shifted.estimate is not None
    assert 0 < shifted.lower < 0.25 * shifted.estimate  # significant, yet inside tolerance
    assert shifted.classification == PASS
    further = classify(base + 0.1, base, tolerance=0.25, confidence=0.98)
    assert further.classification == HIGH


def test_inverted_interval_is_classified_high_literally():
    v = vectors("ClassifierSuite", "Mann-Whitney Classifier Test: High Metric (Large Input)")
    result = classify(v["canary"], v["baseline"], **T10)
    assert result.lower is not None and result.upper is not None
    assert result.lower > result.upper
    assert result.classification == HIGH


def test_noise_added_to_constant_samples_is_seeded_by_the_data():
    first = classify([10.0] * 5, [1.0] * 5)
    second = classify([10.0] * 5, [1.0] * 5)
    assert first == second
    assert first.classification == HIGH
    assert first.deviation != 10.0  # the noise reached the means
    assert first.deviation == pytest.approx(10.0, rel=1e-4)


def test_constant_zero_sample_gets_no_noise():
    result = classify([10.0] * 5, [0.0] * 5)
    assert result.classification == HIGH
    assert math.isnan(result.deviation)  # the baseline mean stayed exactly 0


def test_effect_size_exactly_at_the_allowed_increase_counts_as_high():
    # separated samples, mean ratio exactly 2.0: the effect threshold is inclusive
    result = classify(
        [20.0, 21.0, 19.0, 22.0, 18.0], [10.0, 10.5, 9.5, 11.0, 9.0], effect_thresholds=(0.5, 2.0)
    )
    assert result.effect_size == 2.0
    assert result.classification == HIGH


def test_increase_only_direction_ignores_a_drop():
    result = classify(
        [1.0, 1.1, 0.9, 1.2, 0.8], [10.0, 11.0, 9.0, 12.0, 8.0], direction=Direction.INCREASE
    )
    assert result.classification == PASS
