"""The sequential judges behind the shared interface (base.py): readings in, a Verdict out.

`judge_counts` takes `Counts` (events and trials per reading, increments) and tests the
rate ratio; `judge_samples` takes `Samples` (one value per reading and side, or a latency
sample) and tests the ratio of a quantile. Both give the verdict after the last reading;
`count_verdicts` / `sample_verdicts` give one per reading (what a replay prints).

FAIL: shown worse than the tolerance at level alpha, valid however many readings were
looked at. PASS: shown no worse than the tolerance. UNDECIDED: keep watching; a step that
ends undecided is the plan's call (the analysis promotes on its own duration).
A NaN, negative or otherwise unusable reading raises InvalidReading: never a pass.
"""

from __future__ import annotations

from shipsafe.judge import sequential_counts as counts
from shipsafe.judge import sequential_latency as latency
from shipsafe.judge.base import Counts, Interval, Outcome, Samples, Verdict
from shipsafe.judge.sequential_counts import DEFAULT_ALPHA, InvalidReading

__all__ = [
    "InvalidReading",
    "count_verdicts",
    "judge_counts",
    "judge_samples",
    "sample_verdicts",
]


def _outcome(worse: bool, no_worse: bool) -> Outcome:
    if worse:
        return Outcome.FAIL
    if no_worse:
        return Outcome.PASS
    return Outcome.UNDECIDED


def _count_readings(data: Counts) -> list[counts.CountReading]:
    columns = (data.canary_events, data.baseline_events, data.canary_trials, data.baseline_trials)
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise InvalidReading(
            "canary and baseline events and trials must have one value per reading each"
        )
    return [counts.CountReading(*values) for values in zip(*columns, strict=True)]


def _count_verdict(r: counts.CountResult, tolerance: float, alpha: float) -> Verdict:
    bound = 1.0 + tolerance
    estimate = "n/a" if r.ratio_estimate is None else f"{r.ratio_estimate:.3g}"
    message = (
        f"rate ratio canary/baseline in [{r.ratio_low:.3g}, {r.ratio_high:.3g}] "
        f"(estimate {estimate}, e-value {r.e_value:.3g} against <= {bound:g}, "
        f"rolls back at {1 / alpha:g}; {r.readings} readings)"
    )
    return Verdict(
        _outcome(r.worse, r.no_worse),
        message,
        interval=Interval(r.ratio_low, r.ratio_high, "rate ratio canary/baseline"),
        estimate=r.ratio_estimate,
    )


def count_verdicts(
    data: Counts, *, tolerance: float = 0.0, alpha: float = DEFAULT_ALPHA
) -> list[Verdict]:
    """One verdict per reading, oldest first."""
    return [
        _count_verdict(r, tolerance, alpha)
        for r in counts.run(_count_readings(data), tolerance, alpha)
    ]


def judge_counts(data: Counts, *, tolerance: float = 0.0, alpha: float = DEFAULT_ALPHA) -> Verdict:
    """Is the canary's event rate more than (1 + tolerance) times the baseline's?"""
    last = counts.final(_count_readings(data), tolerance, alpha)
    if last is None:
        return Verdict(Outcome.UNDECIDED, "no readings yet")
    return _count_verdict(last, tolerance, alpha)


def _sample_readings(data: Samples) -> list[latency.LatencyReading]:
    n = max(len(data.canary), len(data.baseline))
    return [
        latency.LatencyReading(
            list(data.canary[i : i + 1]),
            list(data.baseline[i : i + 1]),
        )
        for i in range(n)
    ]


def _sample_verdict(r: latency.LatencyResult, quantile: float, tolerance: float) -> Verdict:
    q = f"p{quantile * 100:g}"
    message = (
        f"{q} ratio canary/baseline in [{r.ratio_low:.3g}, {r.ratio_high:.3g}] "
        f"(baseline {q} in [{r.baseline_quantile_low:.4g}, {r.baseline_quantile_high:.4g}]; "
        f"rolls back when the ratio is shown above {1 + tolerance:g}; {r.readings} readings)"
    )
    return Verdict(
        _outcome(r.worse, r.no_worse),
        message,
        interval=Interval(r.ratio_low, r.ratio_high, f"{q} ratio canary/baseline"),
    )


def sample_verdicts(
    data: Samples,
    *,
    quantile: float = 0.5,
    tolerance: float = 0.0,
    alpha: float = DEFAULT_ALPHA,
) -> list[Verdict]:
    """One verdict per reading (index i of each side is reading i), oldest first."""
    results = latency.run(_sample_readings(data), quantile, tolerance, alpha)
    return [_sample_verdict(r, quantile, tolerance) for r in results]


def judge_samples(
    data: Samples,
    *,
    quantile: float = 0.5,
    tolerance: float = 0.0,
    alpha: float = DEFAULT_ALPHA,
) -> Verdict:
    """Is the canary's quantile more than (1 + tolerance) times the baseline's?"""
    verdicts = sample_verdicts(data, quantile=quantile, tolerance=tolerance, alpha=alpha)
    if not verdicts:
        return Verdict(Outcome.UNDECIDED, "no readings yet")
    return verdicts[-1]
