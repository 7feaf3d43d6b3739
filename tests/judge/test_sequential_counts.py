"""The sequential count test: false rollbacks bounded over every look, power, coverage, edges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shipsafe.judge import sequential_counts as sc


def simulate(rng, runs, looks, canary_rate, baseline_rate, weights, rps, tolerance=0.0, alpha=0.01):
    """`runs` rollouts looked at every second through `step`, traffic with a shape of its
    own per rollout; returns the look of the first rollback per run (None: never) and the
    canary requests served by then."""
    state = sc.start(tolerance, alpha)
    ll = np.zeros((runs, state.grid.log_effect.size))
    low = np.full(runs, -np.inf)
    high = np.full(runs, np.inf)
    phase = rng.uniform(0, 2 * math.pi, runs)
    first = np.full(runs, -1)
    served = np.zeros(runs)
    served_at = np.zeros(runs)
    for t in range(looks):
        w = weights[min(t * len(weights) // looks, len(weights) - 1)]
        lam = rps * (1 + 0.8 * np.sin(phase + t / 30.0))  # traffic that swings fast
        n = rng.poisson(lam)
        nc = rng.binomial(n, w)
        nb = n - nc
        x = rng.binomial(nc, canary_rate)
        y = rng.binomial(nb, baseline_rate)
        ll, low, high = sc.step(ll, low, high, state.grid, alpha, x, y, nc, nb)
        served += nc
        newly = (low >= state.grid.log_effect[state.grid.center]) & (first < 0)
        first[newly] = t
        served_at[newly] = served[newly]
        if (first >= 0).all():
            break
    return first, served_at, low, high


def test_identical_canary_rolls_back_at_most_alpha_of_the_time_over_every_look():
    rng = np.random.default_rng(11)
    alpha = 0.1  # a level high enough that 300 runs measure it
    first, _, _, _ = simulate(
        rng,
        runs=300,
        looks=150,
        canary_rate=0.01,
        baseline_rate=0.01,
        weights=[0.05, 0.25, 0.5],
        rps=200,
        alpha=alpha,
    )
    rate = float(np.mean(first >= 0))
    # a test that ignored the repeated looks (a fixed-level test at each look) rolls back
    # most of these; the e-process stays under alpha (3 standard errors of slack; it
    # measures about 0.04)
    assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / 300)


def test_canary_within_tolerance_is_not_rolled_back_for_being_slightly_worse():
    rng = np.random.default_rng(12)
    first, _, _, _ = simulate(
        rng,
        runs=200,
        looks=200,
        canary_rate=0.012,
        baseline_rate=0.01,
        weights=[0.1],
        rps=300,
        tolerance=0.2,
        alpha=0.05,
    )
    assert float(np.mean(first >= 0)) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 200)


def test_two_percent_errors_against_half_a_percent_are_caught_within_twice_the_oracle():
    rng = np.random.default_rng(13)
    first, served, _, _ = simulate(
        rng, runs=100, looks=600, canary_rate=0.02, baseline_rate=0.005, weights=[0.05], rps=100
    )
    assert (first >= 0).all()
    # Wald's SPRT told both rates needs about 390 canary requests (alpha = beta = 0.01)
    assert float(np.mean(served)) <= 2 * 390


def test_a_canary_failing_every_request_is_rolled_back_within_a_few_of_its_requests():
    state = sc.start()
    requests = 0
    for _ in range(10):
        state = sc.update(
            state,
            sc.CountReading(
                canary_events=1, baseline_events=0, canary_exposure=1, baseline_exposure=19
            ),
        )
        requests += 1
        if sc.result(state).worse:
            break
    assert sc.result(state).worse
    assert requests <= 4


def test_confidence_sequence_covers_the_true_rate_ratio_at_every_look():
    rng = np.random.default_rng(14)
    alpha = 0.05
    true_ratio = 3.0
    _, _, low, high = simulate(
        rng,
        runs=300,
        looks=200,
        canary_rate=0.015,
        baseline_rate=0.005,
        weights=[0.1, 0.3],
        rps=200,
        tolerance=5.0,
        alpha=alpha,
    )
    # running bounds: below the truth at the end means below it at every look
    missed_low = float(np.mean(low > math.log(true_ratio)))
    missed_high = float(np.mean(high < math.log(true_ratio)))
    slack = 3 * math.sqrt(alpha * (1 - alpha) / 300)
    assert missed_low <= alpha + slack
    assert missed_high <= alpha + slack
    # and the sequence is informative: it has narrowed around the truth in most runs
    assert float(np.median(np.exp(high) / np.exp(low))) < 3


def test_result_reports_ratio_bounds_estimate_and_evidence():
    results = sc.run([sc.CountReading(10, 10, 100, 1000)] * 5)
    last = results[-1]
    assert last.worse
    assert 1.0 <= last.ratio_low <= 10.0 <= last.ratio_high
    assert last.ratio_estimate == pytest.approx(10.0)
    assert last.e_value >= 100
    assert last.readings == 5


def test_a_better_canary_is_shown_no_worse_and_never_rolled_back():
    results = sc.run([sc.CountReading(1, 200, 1000, 1000)] * 5, tolerance=0.1)
    assert results[-1].no_worse
    assert not any(r.worse for r in results)
    assert results[-1].ratio_high <= 1.1


def test_zero_events_on_both_sides_decide_nothing():
    results = sc.run([sc.CountReading(0, 0, 50, 950)] * 100)
    last = results[-1]
    assert not last.worse and not last.no_worse
    assert last.ratio_low == 0.0 and last.ratio_high == math.inf
    assert last.ratio_estimate is None


def test_zero_traffic_on_one_side_carries_no_evidence():
    canary_only = sc.run([sc.CountReading(30, 0, 30, 0)] * 20)
    baseline_only = sc.run([sc.CountReading(0, 30, 0, 30)] * 20)
    for results in (canary_only, baseline_only):
        assert not results[-1].worse and not results[-1].no_worse


@pytest.mark.parametrize(
    "reading",
    [
        sc.CountReading(math.nan, 0, 10, 10),
        sc.CountReading(0, math.nan, 10, 10),
        sc.CountReading(0, 0, math.inf, 10),
        sc.CountReading(0, 0, 10, -1),
        sc.CountReading(-1, 0, 10, 10),
        sc.CountReading(1, 0, 0, 10),  # canary events without canary traffic
        sc.CountReading(0, 1, 10, 0),
        sc.CountReading("3", 0, 10, 10),  # type: ignore[arg-type]
    ],
)
def test_unusable_reading_is_an_error_never_a_pass(reading):
    state = sc.start()
    with pytest.raises(sc.InvalidReading):
        sc.update(state, reading)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"alpha": 1.0},
        {"alpha": math.nan},
        {"tolerance": -1.0},
        {"tolerance": math.inf},
    ],
)
def test_out_of_range_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        sc.start(**kwargs)


def test_judging_a_whole_series_gives_what_reading_by_reading_gives():
    rng = np.random.default_rng(15)
    readings = [
        sc.CountReading(int(rng.binomial(n, 0.03)), int(rng.binomial(400 - n, 0.01)), n, 400 - n)
        for n in rng.integers(0, 60, 300)
    ]
    state = sc.start(0.1, 0.05)
    one_by_one = []
    for reading in readings:
        state = sc.update(state, reading)
        one_by_one.append(sc.result(state))
    assert sc.run(readings, 0.1, 0.05) == one_by_one
    assert any(r.worse for r in one_by_one)  # the series does cross the bound
