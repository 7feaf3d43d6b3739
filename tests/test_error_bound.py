"""`errorRateLow`: the one-sided 95 % Clopper-Pearson lower bound of a reading's error rate,
checked against the textbook values (scipy.stats.beta.ppf(0.05, k, n - k + 1))."""

from __future__ import annotations

import time

import pytest

from shipsafe.providers.metrics.error_bound import error_rate_low


@pytest.mark.parametrize(
    ("errors", "requests", "expected"),
    [
        (1, 10, 0.005116),
        (3, 10, 0.087264),
        (5, 100, 0.019905),
        (2, 2, 0.223607),  # sqrt(0.05)
        (1, 1, 0.05),
    ],
)
def test_the_bound_is_clopper_pearsons(errors: int, requests: int, expected: float) -> None:
    assert error_rate_low(errors, requests) == pytest.approx(expected, abs=2e-6)


def test_no_failure_is_zero_and_the_bound_never_exceeds_the_observed_rate() -> None:
    assert error_rate_low(0, 50) == 0.0
    assert error_rate_low(0, 0) == 0.0
    for n in (1, 7, 40, 333):
        for k in range(0, n + 1, max(1, n // 9)):
            assert 0.0 <= error_rate_low(k, n) <= k / n


def test_more_failures_of_the_same_requests_raise_the_bound() -> None:
    bounds = [error_rate_low(k, 20) for k in range(21)]
    assert bounds == sorted(bounds) and len(set(bounds)) == 21


def test_one_unlucky_failure_in_a_short_window_is_not_evidence_of_five_percent() -> None:
    # the quick-start plan's breaker: `result < 0.05 || canary.errorRateLow < 0.05`
    assert error_rate_low(1, 11) < 0.05  # reads 9 %, shows nothing
    assert error_rate_low(3, 10) >= 0.05
    assert error_rate_low(2, 2) >= 0.05  # every answer failed


def test_counts_are_whole_requests_and_failures_cap_at_requests() -> None:
    assert error_rate_low(3.4, 10.2) == error_rate_low(3, 10)
    assert error_rate_low(12, 10) == error_rate_low(10, 10)


def test_large_counts_stay_cheap() -> None:  # CloudWatch windows hold 10^5 requests
    started = time.process_time()
    assert error_rate_low(5000, 100_000) == pytest.approx(0.04887, abs=1e-4)
    assert time.process_time() - started < 0.5
