"""Mixture likelihood ratios on a fixed grid: the arithmetic the sequential judges share.

An e-process for "the effect is at most u0" is the likelihood of the data under an
alternative u > u0, averaged over a prior fixed before any data, divided by the likelihood
under u0. Under the null its expectation is at most 1 at every reading (a nonnegative
supermartingale), so by Ville's inequality it ever reaches 1/alpha with probability at
most alpha, however many times it is looked at. Inverting the test at every grid point
gives a confidence sequence: bounds that hold at all readings at once.

Every function here is pure and works on arrays with any leading batch shape (one rollout,
or a thousand in a benchmark); the grid is the last axis. numpy is imported inside the
functions so importing this module costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Array = NDArray[np.float64]

# Spacing and half-width of the grid of log effects (log rate ratio, log odds...).
# 0.1 in log is a 10 % step in the ratio; e^8 (about 3000x) covers 100 % errors against a
# healthy baseline. The prior is a Cauchy on the log effect centred on the tested bound:
# heavy tails keep large effects (a canary failing every request) cheap to detect while
# most of the mass sits on the 1.2x-10x regressions canaries mostly show.
GRID_STEP = 0.1
GRID_HALF_WIDTH = 8.0
PRIOR_SCALE = 1.0


@dataclass(frozen=True)
class Grid:
    """Log effects u_k (ascending), centred so that u[center] is the tested bound, and the
    log prior weight of each point."""

    log_effect: Array
    log_prior: Array
    center: int


def make_grid(
    bound: float,
    step: float = GRID_STEP,
    half_width: float = GRID_HALF_WIDTH,
    scale: float = PRIOR_SCALE,
) -> Grid:
    import numpy as np

    n = round(half_width / step)
    offsets = step * np.arange(-n, n + 1, dtype=np.float64)
    log_prior = -np.log1p((offsets / scale) ** 2)
    return Grid(log_effect=bound + offsets, log_prior=log_prior, center=n)


def _prefix_logsumexp(a: Array) -> Array:
    """log of the running sums of exp(a) along the last axis. Shifting by the row's
    maximum keeps every sum that includes the maximum exact; a sum of terms all more than
    about 700 below it comes out as -inf, which only ever weakens an e-value that was
    already far below 1 (the runs that decide always include the maximum)."""
    import numpy as np

    top = np.max(a, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.cumsum(np.exp(a - top), axis=-1)) + top


def _suffix_logsumexp(a: Array) -> Array:
    import numpy as np

    return np.flip(_prefix_logsumexp(np.flip(a, axis=-1)), axis=-1)


def log_e_upper(log_lik: Array, grid: Grid) -> Array:
    """log e-value, for every grid point j, of "effect <= u_j" against the mixture of the
    grid points above j (prior renormalised to them). -inf at the top point."""
    import numpy as np

    num = _suffix_logsumexp(grid.log_prior + log_lik)
    den = _suffix_logsumexp(grid.log_prior)
    out = np.full(log_lik.shape, -np.inf)
    out[..., :-1] = num[..., 1:] - den[1:] - log_lik[..., :-1]
    return out


def log_e_lower(log_lik: Array, grid: Grid) -> Array:
    """log e-value, for every grid point j, of "effect >= u_j" against the mixture of the
    grid points below j. -inf at the bottom point."""
    import numpy as np

    num = _prefix_logsumexp(grid.log_prior + log_lik)
    den = _prefix_logsumexp(grid.log_prior)
    out = np.full(log_lik.shape, -np.inf)
    out[..., 1:] = num[..., :-1] - den[:-1] - log_lik[..., 1:]
    return out


@dataclass(frozen=True)
class Bounds:
    """Confidence-sequence bounds on the log effect (each end holds with probability at
    least 1 - alpha at every reading), the log e-values of the tested bound, and the
    grid point of highest likelihood."""

    low: Array  # -inf when nothing is excluded below
    high: Array  # +inf when nothing is excluded above
    log_e_worse: Array  # evidence that the effect exceeds the bound
    log_e_better: Array  # evidence that the effect is below the bound
    estimate: Array


def bounds(log_lik: Array, grid: Grid, alpha: float) -> Bounds:
    """Invert the one-sided tests at every grid point.

    The lower bound is u_{J-1} where 0..J-1 are the grid points whose null "effect <= u_j"
    is rejected (a contiguous run from the bottom), so the effect exceeds it; symmetrically
    for the upper bound. A reading rejects the tested bound only as part of that run, so
    the decision and the printed bounds never disagree: the effect is shown to exceed the
    tested bound exactly when `low >= grid.log_effect[grid.center]`."""
    import numpy as np

    threshold = math.log(1.0 / alpha)
    up = log_e_upper(log_lik, grid)
    down = log_e_lower(log_lik, grid)
    rejected_below = up >= threshold
    rejected_above = down >= threshold
    k = log_lik.shape[-1]
    # length of the run of rejections from the bottom, and from the top
    run_low = np.where(rejected_below.all(axis=-1), k, np.argmin(rejected_below, axis=-1))
    flipped = np.flip(rejected_above, axis=-1)
    run_high = np.where(flipped.all(axis=-1), k, np.argmin(flipped, axis=-1))
    u = grid.log_effect
    low = np.where(run_low > 0, u[np.clip(run_low - 1, 0, k - 1)], -np.inf)
    high = np.where(run_high > 0, u[np.clip(k - run_high, 0, k - 1)], np.inf)
    c = grid.center
    return Bounds(
        low=np.asarray(low, dtype=np.float64),
        high=np.asarray(high, dtype=np.float64),
        log_e_worse=np.asarray(up[..., c], dtype=np.float64),
        log_e_better=np.asarray(down[..., c], dtype=np.float64),
        estimate=np.asarray(u[np.argmax(log_lik, axis=-1)], dtype=np.float64),
    )
