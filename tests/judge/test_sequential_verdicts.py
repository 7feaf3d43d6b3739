"""The sequential judges through the shared interface: Counts or Samples in, a Verdict out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shipsafe.judge.base import Counts, Outcome, Samples
from shipsafe.judge.sequential import (
    InvalidReading,
    count_verdicts,
    judge_counts,
    judge_samples,
    sample_verdicts,
)


def counts(canary_errors, baseline_errors, canary_requests, baseline_requests, n):
    return Counts(
        canary_events=[canary_errors] * n,
        canary_trials=[canary_requests] * n,
        baseline_events=[baseline_errors] * n,
        baseline_trials=[baseline_requests] * n,
    )


def test_failing_canary_fails_with_the_rate_ratio_interval_in_the_message():
    verdict = judge_counts(counts(3, 5, 10, 190, 5))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.interval is not None and verdict.interval.low >= 1.0
    assert "rate ratio canary/baseline in [" in verdict.message
    assert verdict.estimate == pytest.approx((15 / 50) / (25 / 950))


def test_every_reading_gets_a_verdict_and_the_first_ones_are_undecided():
    verdicts = count_verdicts(counts(1, 1, 10, 190, 30))
    assert len(verdicts) == 30
    assert verdicts[0].outcome is Outcome.UNDECIDED
    assert verdicts[-1].outcome is Outcome.FAIL  # 10% vs 0.5%


def test_healthy_canary_within_tolerance_passes():
    verdict = judge_counts(counts(1, 20, 100, 1900, 150), tolerance=0.5)
    assert verdict.outcome is Outcome.PASS
    assert verdict.interval is not None and verdict.interval.high <= 1.5


def test_no_readings_are_undecided():
    assert judge_counts(counts(0, 0, 0, 0, 0)).outcome is Outcome.UNDECIDED
    assert judge_samples(Samples([], [])).outcome is Outcome.UNDECIDED


def test_nan_reading_is_an_error_not_a_pass():
    data = Counts([1.0, math.nan], [10.0, 10.0], [0.0, 0.0], [100.0, 100.0])
    with pytest.raises(InvalidReading):
        judge_counts(data)
    with pytest.raises(InvalidReading):
        judge_samples(Samples([100.0, math.nan], [100.0, 100.0]))


def test_ragged_counts_are_an_error():
    with pytest.raises(InvalidReading):
        judge_counts(Counts([1.0, 2.0], [10.0], [0.0, 0.0], [100.0, 100.0]))


def test_slower_canary_series_fails_and_names_the_quantile():
    rng = np.random.default_rng(31)
    baseline = list(100 * np.exp(0.2 * rng.standard_normal(120)))
    canary = list(180 * np.exp(0.2 * rng.standard_normal(120)))
    verdicts = sample_verdicts(Samples(canary, baseline))
    assert verdicts[0].outcome is Outcome.UNDECIDED
    assert verdicts[-1].outcome is Outcome.FAIL
    assert verdicts[-1].message.startswith("p50 ratio canary/baseline in [")
    assert verdicts[-1].interval is not None and verdicts[-1].interval.low >= 1.0


def test_same_latency_series_does_not_fail():
    rng = np.random.default_rng(32)
    same = Samples(
        list(100 * np.exp(0.2 * rng.standard_normal(200))),
        list(100 * np.exp(0.2 * rng.standard_normal(200))),
    )
    assert judge_samples(same, quantile=0.9).outcome is not Outcome.FAIL
