"""Anytime-valid test that the canary's event rate exceeds the baseline's by more than a tolerance.

Model (Lindon, Sanden & Shirikian, KDD 2022, "Rapid Regression Detection in Software
Deployments through Sequential Testing"; Lindon & Malek, NeurIPS 2022): canary and
baseline events (5xx answers, crashes, any event) are two Poisson processes whose
intensities share one unknown time shape (daily traffic, bursts) and differ by the
allocation and the effect:

    canary intensity   = theta * e_c(t) * lambda(t)
    baseline intensity =         e_b(t) * lambda(t)

where e_c, e_b are the exposures (requests each side served, or its traffic weight times
the interval when only events are counted) and theta is the rate ratio. Given that an
event happened in a reading, it is the canary's with probability
pi = theta*e_c / (theta*e_c + e_b): lambda(t) cancels, so the test holds however traffic
moves during the rollout and whatever weight steps the plan takes.

The e-process for "theta <= 1 + tolerance" mixes that binomial likelihood over a grid of
log theta above the bound (mixtures.py). With errors counted out of requests the events
are binomial rather than Poisson; for theta = 1 the conditional law of the canary's share
is then hypergeometric, which is less dispersed than the binomial (Hoeffding 1963), so the
mixture, convex in the count, keeps expectation at most 1: the bound on false rollbacks
holds. The benchmark integration/bench/sequential_judge.py checks it by simulation.

Readings are increments since the previous reading, oldest first. Pure functions;
numpy imported inside them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipsafe.judge.mixtures import Grid, bounds, make_grid

if TYPE_CHECKING:
    from shipsafe.judge.mixtures import Array

DEFAULT_ALPHA = 0.01


class InvalidReading(ValueError):
    """A reading the judge cannot use: NaN, infinite, negative, or events where nothing was
    exposed. Never a pass: the caller records it as a failed measurement."""


@dataclass(frozen=True)
class CountReading:
    """Events and exposure of each side during one reading (increments)."""

    canary_events: float
    baseline_events: float
    canary_exposure: float
    baseline_exposure: float


@dataclass(frozen=True)
class CountState:
    """What the test remembers between readings: the log likelihood of every grid point,
    the running confidence bounds (log rate ratio, intersected over readings) and totals."""

    grid: Grid
    alpha: float
    log_lik: Array
    low: Array
    high: Array
    readings: int = 0
    canary_events: float = 0.0
    baseline_events: float = 0.0
    canary_exposure: float = 0.0
    baseline_exposure: float = 0.0


@dataclass(frozen=True)
class CountResult:
    """The test after a reading. `worse`: the canary's rate is shown to exceed the baseline's
    by more than the tolerance (roll back). `no_worse`: it is shown not to. Neither: keep
    watching. The bounds are a confidence sequence for the rate ratio canary/baseline: each
    end holds with probability at least 1 - alpha at every reading at once."""

    worse: bool
    no_worse: bool
    ratio_low: float
    ratio_high: float
    ratio_estimate: float | None
    e_value: float  # evidence against "ratio <= 1 + tolerance"
    readings: int


def start(tolerance: float = 0.0, alpha: float = DEFAULT_ALPHA) -> CountState:
    """A fresh test of "canary rate <= (1 + tolerance) * baseline rate" at level alpha."""
    import numpy as np

    if not (math.isfinite(tolerance) and tolerance > -1.0):
        raise ValueError(f"tolerance must be a number above -1, got {tolerance!r}")
    if not (math.isfinite(alpha) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")
    grid = make_grid(math.log1p(tolerance))
    return CountState(
        grid=grid,
        alpha=alpha,
        log_lik=np.zeros(grid.log_effect.shape),
        low=np.asarray(-np.inf),
        high=np.asarray(np.inf),
    )


def check_reading(reading: CountReading) -> None:
    values = (
        reading.canary_events,
        reading.baseline_events,
        reading.canary_exposure,
        reading.baseline_exposure,
    )
    for name, value in zip(
        ("canary events", "baseline events", "canary exposure", "baseline exposure"),
        values,
        strict=True,
    ):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise InvalidReading(f"{name} is not a number: {value!r}")
        if not math.isfinite(value) or value < 0:
            raise InvalidReading(f"{name} must be a finite number >= 0, got {value!r}")
    if reading.canary_events > 0 and reading.canary_exposure == 0:
        raise InvalidReading("canary events counted while the canary had no exposure")
    if reading.baseline_events > 0 and reading.baseline_exposure == 0:
        raise InvalidReading("baseline events counted while the baseline had no exposure")


def log_lik_increment(
    log_effect: Array,
    canary_events: Array,
    baseline_events: Array,
    canary_exposure: Array,
    baseline_exposure: Array,
) -> Array:
    """Conditional binomial log likelihood of one reading at every grid point, for any
    batch shape of readings (grid on the last axis). A reading where either side had no
    exposure carries no information about the ratio and adds 0."""
    import numpy as np

    x = np.asarray(canary_events, dtype=np.float64)[..., None]
    y = np.asarray(baseline_events, dtype=np.float64)[..., None]
    ec = np.asarray(canary_exposure, dtype=np.float64)[..., None]
    eb = np.asarray(baseline_exposure, dtype=np.float64)[..., None]
    informative = (ec > 0) & (eb > 0) & (x + y > 0)
    with np.errstate(divide="ignore"):
        a = np.where(
            informative, np.log(np.where(informative, ec / np.where(eb > 0, eb, 1), 1.0)), 0.0
        )
    z = a + log_effect
    # log pi = z - softplus(z), log(1 - pi) = -softplus(z)
    softplus = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    inc = x * z - (x + y) * softplus
    return np.where(informative, inc, 0.0)


def step(
    log_lik: Array,
    low: Array,
    high: Array,
    grid: Grid,
    alpha: float,
    canary_events: Array,
    baseline_events: Array,
    canary_exposure: Array,
    baseline_exposure: Array,
) -> tuple[Array, Array, Array]:
    """One reading for a batch of independent tests (any leading shape): the new log
    likelihoods and running bounds. `update` is this with a batch of one; the benchmarks
    and the type-I error test call it with a thousand rollouts at once."""
    import numpy as np

    log_lik = log_lik + log_lik_increment(
        grid.log_effect, canary_events, baseline_events, canary_exposure, baseline_exposure
    )
    b = bounds(log_lik, grid, alpha)
    # a confidence sequence may be intersected over readings: it holds at all of them
    return log_lik, np.maximum(low, b.low), np.minimum(high, b.high)


def update(state: CountState, reading: CountReading) -> CountState:
    """The state after one more reading. Raises InvalidReading for a reading it cannot use."""
    import numpy as np

    check_reading(reading)
    log_lik, low, high = step(
        state.log_lik,
        state.low,
        state.high,
        state.grid,
        state.alpha,
        np.asarray(reading.canary_events),
        np.asarray(reading.baseline_events),
        np.asarray(reading.canary_exposure),
        np.asarray(reading.baseline_exposure),
    )
    return CountState(
        grid=state.grid,
        alpha=state.alpha,
        log_lik=log_lik,
        low=low,
        high=high,
        readings=state.readings + 1,
        canary_events=state.canary_events + reading.canary_events,
        baseline_events=state.baseline_events + reading.baseline_events,
        canary_exposure=state.canary_exposure + reading.canary_exposure,
        baseline_exposure=state.baseline_exposure + reading.baseline_exposure,
    )


def result(state: CountState) -> CountResult:
    import numpy as np

    b = bounds(state.log_lik, state.grid, state.alpha)
    bound = float(state.grid.log_effect[state.grid.center])
    low = float(state.low)
    high = float(state.high)
    estimate = _estimate(
        state.canary_events, state.baseline_events, state.canary_exposure, state.baseline_exposure
    )
    return CountResult(
        worse=low >= bound,
        no_worse=high <= bound,
        ratio_low=float(np.exp(low)),
        ratio_high=float(np.exp(high)),
        ratio_estimate=estimate,
        e_value=float(np.exp(min(float(b.log_e_worse), 700.0))),
        readings=state.readings,
    )


def _estimate(
    canary_events: float, baseline_events: float, canary_exposure: float, baseline_exposure: float
) -> float | None:
    if canary_exposure > 0 and baseline_exposure > 0 and baseline_events > 0:
        return (canary_events / canary_exposure) / (baseline_events / baseline_exposure)
    if baseline_events == 0 and canary_events > 0:
        return math.inf
    return None


def _check_series(columns: Array, readings: list[CountReading]) -> None:
    """check_reading for a whole series: numbers only, finite, >= 0, no events without
    exposure; the first bad reading is named in the error."""
    import numpy as np

    bad = ~np.isfinite(columns).all(axis=1) | (columns < 0).any(axis=1)
    bad |= (columns[:, 0] > 0) & (columns[:, 2] == 0)
    bad |= (columns[:, 1] > 0) & (columns[:, 3] == 0)
    for i in np.flatnonzero(bad)[:1]:
        check_reading(readings[int(i)])


def _series(
    readings: list[CountReading], tolerance: float, alpha: float
) -> tuple[Array, Array, Array, Array, float]:
    """Running bounds, log e-values and totals after every reading, as arrays."""
    import numpy as np

    state = start(tolerance, alpha)
    for reading in readings:
        for value in (
            reading.canary_events,
            reading.baseline_events,
            reading.canary_exposure,
            reading.baseline_exposure,
        ):
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise InvalidReading(f"a count is not a number: {value!r}")
    columns = np.array(
        [
            (r.canary_events, r.baseline_events, r.canary_exposure, r.baseline_exposure)
            for r in readings
        ],
        dtype=np.float64,
    ).reshape(-1, 4)
    _check_series(columns, readings)
    x, y, ec, eb = columns.T
    log_lik = np.cumsum(log_lik_increment(state.grid.log_effect, x, y, ec, eb), axis=0)
    b = bounds(log_lik, state.grid, alpha)
    low = np.maximum.accumulate(b.low)
    high = np.minimum.accumulate(b.high)
    bound = float(state.grid.log_effect[state.grid.center])
    return low, high, b.log_e_worse, np.cumsum(columns, axis=0), bound


def _result_at(
    t: int, low: Array, high: Array, log_e: Array, totals: Array, bound: float
) -> CountResult:
    import numpy as np

    return CountResult(
        worse=bool(low[t] >= bound),
        no_worse=bool(high[t] <= bound),
        ratio_low=float(np.exp(low[t])),
        ratio_high=float(np.exp(high[t])),
        ratio_estimate=_estimate(*(float(v) for v in totals[t])),
        e_value=float(np.exp(min(float(log_e[t]), 700.0))),
        readings=t + 1,
    )


def run(
    readings: list[CountReading], tolerance: float = 0.0, alpha: float = DEFAULT_ALPHA
) -> list[CountResult]:
    """The test's result after each reading, oldest first: what `update` and `result` give
    reading by reading, computed for the whole series at once (one array per quantity, so
    a thousand readings cost milliseconds). Raises InvalidReading for any unusable reading."""
    if not readings:
        return []
    series = _series(readings, tolerance, alpha)
    return [_result_at(t, *series) for t in range(len(readings))]


def final(
    readings: list[CountReading], tolerance: float = 0.0, alpha: float = DEFAULT_ALPHA
) -> CountResult | None:
    """The result after the last reading (None without readings): `run(...)[-1]`."""
    if not readings:
        return None
    return _result_at(len(readings) - 1, *_series(readings, tolerance, alpha))
