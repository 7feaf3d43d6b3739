"""Anytime-valid test that a quantile of the canary's latency exceeds the baseline's.

The question: is the canary's q-quantile (median by default) more than (1 + tolerance)
times the baseline's? The test needs no model of the latency distribution:

1. From the baseline's samples so far, a confidence sequence for its q-quantile Q_b: the
   upper end c_hi holds (c_hi >= Q_b) at every reading at once with probability
   1 - alpha/2. It comes from a binomial e-process on "how many baseline samples fall at or
   below c" for every candidate c, on a fixed grid of 1 % wide bins.
2. Each canary sample is compared with c_hi * r, c_hi computed from baseline samples only
   (up to and including the same reading: other requests, independent of the canary's).
   If the canary's q-quantile is at most r * Q_b, a canary sample exceeds c_hi * r with
   probability at most 1 - q, so the count of exceedances is tested with a binomial
   mixture e-process against 1 - q, at level alpha/2. Canary samples met before the
   baseline bounds its quantile at all are not counted.

A reading rolls back when the test at r = 1 + tolerance rejects: the false-rollback
probability is at most alpha/2 + alpha/2 = alpha over any number of readings. Doing this
for a grid of r gives a confidence sequence for the quantile ratio canary/baseline (the
mirror test, with c_lo and samples below, gives its upper end). The count falls as r
grows, so the rejected r form one run from the bottom and the bounds hold simultaneously.

Assumes the latency distributions do not drift during the rollout (traffic volume may);
the count test (sequential_counts) needs no such assumption. Pure functions; numpy is
imported inside them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipsafe.judge.sequential_counts import DEFAULT_ALPHA, InvalidReading

if TYPE_CHECKING:
    from shipsafe.judge.mixtures import Array

# Baseline bins: 0, then 1 % steps from 1e-6 to 1e6 (seconds or milliseconds alike).
_BIN_LOW, _BIN_HIGH, _BIN_STEP = 1e-6, 1e6, 0.01
# Quantile ratios tested: (1 + tolerance) * e^(k * 0.02), |k * 0.02| <= 1.5.
_RATIO_STEP, _RATIO_HALF_WIDTH = 0.02, 1.5
# Alternatives of the binomial mixture: logit offsets 0.1 .. 8 above the null, Cauchy(0, 1).
_LOGIT_STEP, _LOGIT_MAX = 0.1, 8.0
# Share of alpha spent on the baseline's quantile bounds; the canary's test gets the rest.
BASELINE_SHARE = 0.5


@dataclass(frozen=True)
class LatencyReading:
    canary: Sequence[float]
    baseline: Sequence[float]


@dataclass(frozen=True)
class LatencyState:
    quantile: float
    alpha: float
    log_ratio: Array  # ratios tested (log), ascending; log_ratio[center] = log(1 + tolerance)
    center: int
    baseline_bins: Array  # counts per bin
    c_hi: float  # upper confidence bound of the baseline quantile (from past readings)
    c_lo: float  # lower confidence bound
    above: Array  # per ratio: canary samples above c_hi * ratio, cumulative
    below: Array  # per ratio: canary samples below c_lo * ratio, cumulative
    canary_samples: int
    above_samples: int  # canary samples met with a finite c_hi (the trials of `above`)
    below_samples: int  # canary samples met with a positive c_lo
    low: float  # running bounds on the log quantile ratio
    high: float
    readings: int = 0


@dataclass(frozen=True)
class LatencyResult:
    """`worse`: the canary's quantile is shown to exceed (1 + tolerance) times the
    baseline's. `no_worse`: shown not to. Bounds: confidence sequence for the ratio of the
    canary's quantile to the baseline's, each end at level alpha, at every reading."""

    worse: bool
    no_worse: bool
    ratio_low: float
    ratio_high: float
    baseline_quantile_low: float
    baseline_quantile_high: float
    readings: int


@functools.cache
def _edges() -> Array:
    import numpy as np

    n = math.ceil(math.log(_BIN_HIGH / _BIN_LOW) / _BIN_STEP)
    edges = np.concatenate(([0.0], _BIN_LOW * np.exp(_BIN_STEP * np.arange(n + 1))))
    edges.flags.writeable = False
    return edges


@functools.cache
def _logit_offsets() -> tuple[Array, Array]:
    import numpy as np

    d = _LOGIT_STEP * np.arange(1, round(_LOGIT_MAX / _LOGIT_STEP) + 1, dtype=np.float64)
    w = -np.log1p(d**2)
    w = np.asarray(w - np.logaddexp.reduce(w), dtype=np.float64)
    d.flags.writeable = False
    w.flags.writeable = False
    return d, w


def log_e_binomial(k: Array, n: Array, p0: float) -> Array:
    """log e-value of "success probability <= p0" after k successes in n trials, mixing the
    alternatives logit(p) = logit(p0) + d over d > 0. Any shape of k (and n broadcast)."""
    import numpy as np

    d, w = _logit_offsets()
    z = math.log(p0 / (1 - p0)) + d
    log_p = -np.logaddexp(0.0, -z)
    log_q = -np.logaddexp(0.0, z)
    k = np.asarray(k, dtype=np.float64)[..., None]
    n = np.asarray(n, dtype=np.float64)[..., None]
    terms = w + k * (log_p - math.log(p0)) + (n - k) * (log_q - math.log1p(-p0))
    top = terms.max(axis=-1)
    return np.asarray(top + np.log(np.exp(terms - top[..., None]).sum(axis=-1)), dtype=np.float64)


def _least_count(n: int, p0: float, threshold: float) -> int | None:
    """The least k whose e-value against p0 reaches the threshold after n trials."""
    import numpy as np

    if n == 0 or float(log_e_binomial(np.asarray(n), np.asarray(n), p0)) < threshold:
        return None
    lo, hi = 0, n  # the e-value is increasing in k; invariant: hi rejects, lo - 1 does not
    while lo < hi:  # narrow by 32 candidates at a time
        ks = np.unique(np.linspace(lo, hi, 33).astype(np.int64)).astype(np.float64)
        rejects = log_e_binomial(ks, np.asarray(n), p0) >= threshold
        first = int(np.argmax(rejects))
        hi = int(ks[first])
        lo = int(ks[first - 1]) + 1 if first > 0 else lo
    return hi


def start(
    quantile: float = 0.5, tolerance: float = 0.0, alpha: float = DEFAULT_ALPHA
) -> LatencyState:
    """A fresh test of "canary q-quantile <= (1 + tolerance) * baseline q-quantile"."""
    import numpy as np

    if not (math.isfinite(quantile) and 0.0 < quantile < 1.0):
        raise ValueError(f"quantile must be between 0 and 1 (exclusive), got {quantile!r}")
    if not (math.isfinite(tolerance) and tolerance > -1.0):
        raise ValueError(f"tolerance must be a number above -1, got {tolerance!r}")
    if not (math.isfinite(alpha) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")
    n = round(_RATIO_HALF_WIDTH / _RATIO_STEP)
    log_ratio = math.log1p(tolerance) + _RATIO_STEP * np.arange(-n, n + 1, dtype=np.float64)
    zeros = np.zeros(log_ratio.shape)
    return LatencyState(
        quantile=quantile,
        alpha=alpha,
        log_ratio=log_ratio,
        center=n,
        baseline_bins=np.zeros(len(_edges()) - 1),
        c_hi=math.inf,
        c_lo=0.0,
        above=zeros,
        below=zeros,
        canary_samples=0,
        above_samples=0,
        below_samples=0,
        low=-math.inf,
        high=math.inf,
    )


def _samples(values: Sequence[float], side: str) -> Array:
    import numpy as np

    try:
        a = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidReading(f"{side} samples are not numbers") from exc
    if not np.isfinite(a).all():
        raise InvalidReading(f"{side} samples hold NaN or infinite values")
    if (a < 0).any():
        raise InvalidReading(f"{side} samples hold negative latencies")
    return a


def _quantile_bounds(bins: Array, quantile: float, alpha: float) -> tuple[float, float]:
    """Confidence bounds (each at level alpha/2) for the baseline quantile
    from binned counts: c_hi is the upper edge of the bin where the count at or below
    reaches the least count that rejects F(c) <= q; c_lo the lower edge of the highest bin
    whose count at or above rejects P(X >= c) <= 1 - q."""
    import numpy as np

    edges = _edges()
    n = int(bins.sum())
    threshold = math.log(2.0 / alpha)
    c_hi, c_lo = math.inf, 0.0
    k = _least_count(n, quantile, threshold)
    if k is not None:
        cum = np.cumsum(bins)
        c_hi = float(edges[int(np.searchsorted(cum, k, side="left")) + 1])
    k = _least_count(n, 1.0 - quantile, threshold)
    if k is not None:
        suffix = np.cumsum(bins[::-1])[::-1]  # samples in this bin or above
        idx = int(np.nonzero(suffix >= k)[0][-1])
        c_lo = float(edges[idx])
    return c_hi, c_lo


def update(state: LatencyState, reading: LatencyReading) -> LatencyState:
    import numpy as np

    canary = np.sort(_samples(reading.canary, "canary"))
    baseline = _samples(reading.baseline, "baseline")
    # The baseline's bounds first, with this reading's baseline samples: canary samples are
    # independent of them (other requests), so comparing with bounds that already include
    # them keeps the test valid and wastes no canary sample.
    edges = _edges()
    idx = np.clip(np.searchsorted(edges, baseline, side="right") - 1, 0, len(edges) - 2)
    bins = state.baseline_bins + np.bincount(idx, minlength=len(edges) - 1)
    c_hi, c_lo = _quantile_bounds(bins, state.quantile, state.alpha)
    c_hi, c_lo = min(c_hi, state.c_hi), max(c_lo, state.c_lo)

    ratio = np.exp(state.log_ratio)
    n = canary.size
    # Before the baseline bounds its quantile (c_hi infinite, c_lo 0) a canary sample cannot
    # be compared with anything: it is not counted as a trial, or it would only dilute the
    # evidence.
    above, above_n = state.above, state.above_samples
    if math.isfinite(c_hi):
        above = above + (n - np.searchsorted(canary, c_hi * ratio, side="right"))
        above_n += n
    below, below_n = state.below, state.below_samples
    if c_lo > 0:
        below = below + np.searchsorted(canary, c_lo * ratio, side="left")
        below_n += n
    threshold = math.log(2.0 / state.alpha)
    rej_low = log_e_binomial(above, np.asarray(above_n), 1.0 - state.quantile) >= threshold
    rej_high = log_e_binomial(below, np.asarray(below_n), state.quantile) >= threshold
    run_low = len(ratio) if rej_low.all() else int(np.argmin(rej_low))
    run_high = len(ratio) if rej_high.all() else int(np.argmin(rej_high[::-1]))
    low = float(state.log_ratio[run_low - 1]) if run_low > 0 else -math.inf
    high = float(state.log_ratio[len(ratio) - run_high]) if run_high > 0 else math.inf
    return LatencyState(
        quantile=state.quantile,
        alpha=state.alpha,
        log_ratio=state.log_ratio,
        center=state.center,
        baseline_bins=bins,
        c_hi=c_hi,
        c_lo=c_lo,
        above=above,
        below=below,
        canary_samples=state.canary_samples + n,
        above_samples=above_n,
        below_samples=below_n,
        low=max(low, state.low),
        high=min(high, state.high),
        readings=state.readings + 1,
    )


def result(state: LatencyState) -> LatencyResult:
    bound = float(state.log_ratio[state.center])
    return LatencyResult(
        worse=state.low >= bound,
        no_worse=state.high <= bound,
        ratio_low=math.exp(state.low),
        ratio_high=math.exp(state.high),
        baseline_quantile_low=state.c_lo,
        baseline_quantile_high=state.c_hi,
        readings=state.readings,
    )


def run(
    readings: list[LatencyReading],
    quantile: float = 0.5,
    tolerance: float = 0.0,
    alpha: float = DEFAULT_ALPHA,
) -> list[LatencyResult]:
    state = start(quantile, tolerance, alpha)
    out = []
    for reading in readings:
        state = update(state, reading)
        out.append(result(state))
    return out
