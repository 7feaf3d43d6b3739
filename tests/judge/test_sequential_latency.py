"""The sequential quantile test: false rollbacks bounded, power, coverage, edges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shipsafe.judge import sequential_latency as sl


def latencies(rng, n, median=100.0, shift=0.0):
    return median * np.exp(0.5 * rng.standard_normal(n)) + shift


def rollout(rng, looks, shift, rps=40, weight=0.1, alpha=0.01, tolerance=0.0):
    state = sl.start(0.5, tolerance, alpha)
    for _ in range(looks):
        n = rng.poisson(rps)
        nc = rng.binomial(n, weight)
        state = sl.update(
            state, sl.LatencyReading(latencies(rng, nc, shift=shift), latencies(rng, n - nc))
        )
        if sl.result(state).worse:
            break
    return state


def test_identical_latency_rolls_back_at_most_alpha_of_the_time():
    rng = np.random.default_rng(21)
    alpha = 0.2  # high enough that 150 runs measure it
    runs = 150
    rolled = sum(sl.result(rollout(rng, 30, 0.0, alpha=alpha)).worse for _ in range(runs))
    assert rolled / runs <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_fifty_ms_on_a_hundred_ms_median_is_caught_within_a_hundred_canary_requests():
    rng = np.random.default_rng(22)
    states = [rollout(rng, 200, 50.0, rps=100, weight=0.05) for _ in range(20)]
    assert all(sl.result(s).worse for s in states)
    assert float(np.mean([s.canary_samples for s in states])) <= 100


def test_confidence_sequence_covers_the_true_median_ratio():
    rng = np.random.default_rng(23)
    alpha = 0.1
    runs = 60
    true_ratio = 130.0 / 100.0
    misses = 0
    widths = []
    for _ in range(runs):
        state = sl.start(0.5, 0.0, alpha)
        for _ in range(25):
            state = sl.update(
                state, sl.LatencyReading(latencies(rng, 20, shift=30.0), latencies(rng, 80))
            )
        r = sl.result(state)
        misses += not (r.ratio_low <= true_ratio <= r.ratio_high)
        widths.append(r.ratio_high / r.ratio_low)
    assert misses / runs <= 2 * alpha + 3 * math.sqrt(2 * alpha / runs)
    assert float(np.median(widths)) < 1.5  # informative, not [0, inf]


def test_baseline_quantile_bounds_bracket_the_baseline_median():
    rng = np.random.default_rng(24)
    state = sl.start()
    for _ in range(20):
        state = sl.update(state, sl.LatencyReading(latencies(rng, 10), latencies(rng, 200)))
    r = sl.result(state)
    assert 85 < r.baseline_quantile_low <= 100 <= r.baseline_quantile_high < 115


def test_faster_canary_is_shown_no_worse_and_never_rolled_back():
    rng = np.random.default_rng(25)
    state = sl.start(0.5, 0.1)
    for _ in range(30):
        state = sl.update(
            state, sl.LatencyReading(latencies(rng, 20, median=60.0), latencies(rng, 80))
        )
        assert not sl.result(state).worse
    assert sl.result(state).no_worse


def test_no_samples_decide_nothing():
    results = sl.run([sl.LatencyReading([], [])] * 50)
    assert not results[-1].worse and not results[-1].no_worse
    assert results[-1].ratio_low == 0.0 and results[-1].ratio_high == math.inf


def test_samples_on_one_side_only_carry_no_evidence():
    canary_only = sl.run([sl.LatencyReading([500.0] * 50, [])] * 20)
    baseline_only = sl.run([sl.LatencyReading([], [100.0] * 50)] * 20)
    for results in (canary_only, baseline_only):
        assert not results[-1].worse and not results[-1].no_worse


def test_canary_samples_met_before_the_baseline_is_bounded_are_not_counted():
    # counted later against the baseline's bound, these would roll back at once
    results = sl.run(
        [sl.LatencyReading([10_000.0] * 1000, []), sl.LatencyReading([], [1.0] * 1000)]
    )
    assert not results[-1].worse
    assert results[-1].baseline_quantile_high < 2.0


def test_a_reading_judges_its_canary_samples_against_its_own_baseline_samples():
    results = sl.run([sl.LatencyReading([10_000.0] * 1000, [1.0] * 1000)])
    assert results[0].worse


@pytest.mark.parametrize(
    "reading",
    [
        sl.LatencyReading([math.nan], [1.0]),
        sl.LatencyReading([1.0], [math.inf]),
        sl.LatencyReading([-1.0], [1.0]),
        sl.LatencyReading(["slow"], [1.0]),  # type: ignore[list-item]
    ],
)
def test_unusable_sample_is_an_error_never_a_pass(reading):
    with pytest.raises(sl.InvalidReading):
        sl.update(sl.start(), reading)


@pytest.mark.parametrize(
    "kwargs", [{"quantile": 0.0}, {"quantile": 1.0}, {"alpha": 0.0}, {"tolerance": -1.0}]
)
def test_out_of_range_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        sl.start(**kwargs)
