"""Kayenta's Mann-Whitney confidence interval and estimate, number for number.

Kayenta (kayenta-mannwhitney, MannWhitney.scala) computes the interval R's
`wilcox.test(x, y, conf.int=TRUE, correct=TRUE)` gives with the *normal approximation*,
always, and finds it by root-finding on a step function:

    f(mu, q) = (dz - sign(dz)/2) / sigma - q
    dz       = sum of the ranks of (x - mu) among (x - mu) ++ y  -  nx(nx+1)/2  -  nx*ny/2
    sigma    = sqrt(nx*ny/12 * ((nx+ny+1) - sum(t^3 - t) / ((nx+ny)(nx+ny-1))))

over the search interval [min(x) - max(y), max(x) - min(y)], with R's zeroin (Brent's
method, absolute tolerance 1e-4). The lower bound is the root of f(., +z), the upper the root
of f(., -z), z = Phi^-1(alpha/2) < 0; an endpoint where f already has the right sign is
returned as it is. The estimate is the root of f(., 0) by the same solver.

Because f is a step function, Brent's method stops somewhere inside a plateau and the
"interval" can come out inverted (lower > upper) on heavily tied data; Kayenta classifies
on those numbers literally, so this module reproduces the solver's path exactly rather
than computing the textbook Walsh-average interval (which would differ on ties).

Speed: ranks are never sorted per evaluation. With y sorted once and x sorted once
(x - mu stays sorted, floating-point subtraction being monotone), the rank sum of x is
nx(nx+1)/2 + sum over x of (#y below + #y equal / 2), two `searchsorted` calls; the tie
groups of the pooled sample come from the runs of x - mu plus the y values they meet.
The result is the same double Kayenta computes: every quantity is an integer or a half.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used, never at CLI start-up
    import numpy as np

# R's zeroin as Kayenta ports it (BrentSolver.java)
MAX_ITERATIONS = 1000
TOLERANCE = 1e-4
EPSILON = 2.220446049250313e-16
_MIN_SUBNORMAL = 5e-324


class AllTiedError(ValueError):
    """Kayenta's "cannot compute confidence interval when all observations are tied"."""


@dataclass(frozen=True)
class MannWhitneyResult:
    lower: float
    upper: float
    estimate: float


def _is_zero(value: float) -> bool:
    """commons-math `Precision.equals(value, 0)`: within one ulp of zero, never NaN."""
    return -_MIN_SUBNORMAL <= value <= _MIN_SUBNORMAL


def z_quantile(confidence: float) -> float:
    """Phi^-1(alpha/2) for alpha = 1 - confidence (negative: -2.326348 at 0.98)."""
    alpha = 1.0 - confidence
    return NormalDist().inv_cdf(alpha / 2)


class WilcoxonDiff:
    """f(mu, q) for fixed samples x (canary) and y (baseline), as Kayenta computes it.

    No per-evaluation ranking. x and y are sorted once; x - mu stays sorted (floating-point
    subtraction is monotone), so only how x - mu interleaves with y matters:

    * continuous samples (no value repeated): the pooled order is one merge of two sorted
      runs (a stable argsort, linear for timsort). With y first, the i-th x - mu lands at
      position i + #(y <= x_i - mu); ties, if any, are runs of equal values in the merge;
    * tied samples (counts, rounded readings): the distinct values of x, shifted, are
      looked up among the distinct values of y; a tie group is a distinct x value, a
      distinct y value, or both meeting, and its size is what their counts add up to.

    Every quantity is an integer or a half, so dz and the tie sum are the very doubles
    Kayenta adds up. Values are cached by mu: the three root searches share end points.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        import numpy as np

        self._np = np
        self.x = np.sort(np.asarray(x, dtype=np.float64))
        self.y = np.sort(np.asarray(y, dtype=np.float64))
        self.nx = float(len(self.x))
        self.ny = float(len(self.y))
        self._values: dict[float, float] = {}
        self._ux, self._cx = _distinct_counts(self.x)
        self._uy, self._cy = _distinct_counts(self.y)
        self._tied = len(self._ux) < len(self.x) or len(self._uy) < len(self.y)
        if self._tied:
            self._below_y = np.concatenate(([0.0], np.cumsum(self._cy)))
            # a sentinel past the last distinct y, so a lookup never runs off the end
            self._uy_end = np.append(self._uy, math.inf)
            self._cy_end = np.append(self._cy, 0.0)
            self._x_ties = float(np.sum(self._cx**3 - self._cx))
            self._y_ties = float(np.sum(self._cy**3 - self._cy))
            gaps = np.diff(self._ux)
            self._x_min_gap = float(gaps.min()) if len(gaps) else math.inf
        self._positions = np.arange(len(self.x) + len(self.y), dtype=np.float64)
        self._pooled = np.empty(len(self.x) + len(self.y), dtype=np.float64)
        self._pooled[: len(self.y)] = self.y
        self._x_offset = self.nx * (self.nx - 1) / 2  # sum of i over the x positions

    def __call__(self, mu: float, quantile: float) -> float:
        return self.statistic(mu) - quantile

    def statistic(self, mu: float) -> float:
        """(dz - sign(dz)/2) / sigma at mu; raises AllTiedError where sigma is 0."""
        cached = self._values.get(mu)
        if cached is not None:
            return cached
        counted = self._by_distinct_values(mu) if self._tied else None
        upto, crossing, ties = counted if counted is not None else self._by_merge(mu)
        nx, ny = self.nx, self.ny
        dz = (upto - crossing / 2) - nx * ny / 2
        correction = (0.0 if dz == 0 else math.copysign(1.0, dz)) * 0.5
        sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - ties / ((nx + ny) * (nx + ny - 1))))
        if sigma == 0:
            raise AllTiedError("cannot compute confidence interval when all observations are tied")
        value = (dz - correction) / sigma
        self._values[mu] = value
        return value

    def _by_merge(self, mu: float) -> tuple[float, float, float]:
        """(sum over x of #(y <= x - mu), #(x, y) pairs tied, sum of t^3 - t) by merging."""
        np = self._np
        pooled = self._pooled
        np.subtract(self.x, mu, out=pooled[len(self.y) :])
        order = np.argsort(pooled, kind="stable")
        is_x = order >= len(self.y)
        upto = float(np.dot(self._positions, is_x)) - self._x_offset
        merged = pooled[order]
        same = merged[1:] == merged[:-1]
        if not same.any():
            return upto, 0.0, 0.0
        starts = np.flatnonzero(np.concatenate(([True], ~same)))
        sizes = np.diff(np.append(starts, len(merged))).astype(np.float64)
        xs_in_group = np.add.reduceat(is_x, starts).astype(np.float64)
        crossing = float(xs_in_group @ (sizes - xs_in_group))
        return upto, crossing, float(np.sum(sizes**3 - sizes))

    def _by_distinct_values(self, mu: float) -> tuple[float, float, float] | None:
        """The same three numbers over distinct values; None where two distinct x could
        round to one x - mu (then the merge decides)."""
        np = self._np
        reach = max(abs(float(self.x[0]) - mu), abs(float(self.x[-1]) - mu))
        if self._x_min_gap <= 2 * math.ulp(reach):
            return None
        d = self._ux - mu
        at = np.searchsorted(self._uy, d, side="left")
        cx = self._cx
        below = float(cx @ self._below_y[at])  # sum over x of #(y < x - mu)
        meets = self._uy_end[at] == d
        if not meets.any():  # the usual case: no x - mu equals a y
            return below, 0.0, self._x_ties + self._y_ties
        equal = self._cy_end[at] * meets  # how many y each distinct x - mu equals
        crossing = float(cx @ equal)
        upto = below + crossing
        # a group where cx x meet cy y: (cx+cy)^3-(cx+cy) = own terms + 3 cx cy (cx+cy)
        ties = self._x_ties + self._y_ties + 3 * float(np.sum(cx * equal * (cx + equal)))
        return upto, crossing, ties


def _distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs (as floats)."""
    import numpy as np

    if len(values) == 0:
        return values, np.zeros(0)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, len(values))).astype(np.float64)
    return values[starts], counts


def brent_solve(
    ax: float, bx: float, fa: float, fb: float, func: Callable[[float], float]
) -> float:
    """R's zeroin as Kayenta runs it: tolerance 1e-4, at most 1000 iterations, no check
    that the endpoints bracket a root, and the last iterate returned if it gives up."""
    a, b = ax, bx
    c, fc = a, fa
    if _is_zero(fa):
        return a
    if _is_zero(fb):
        return b
    for _ in range(MAX_ITERATIONS + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * EPSILON * abs(b) + TOLERANCE / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or _is_zero(fb):
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:  # linear interpolation
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:  # inverse quadratic interpolation
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = func(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def search_interval(f: WilcoxonDiff) -> tuple[float, float]:
    return float(f.x[0] - f.y[-1]), float(f.x[-1] - f.y[0])


def confidence_interval(
    x: np.ndarray, y: np.ndarray, confidence: float = 0.95
) -> MannWhitneyResult:
    """Kayenta's `mannWhitneyUTest(x, y, confidence)`: x is the canary, y the baseline.

    Raises AllTiedError when the pooled sample is all one value at a point the solver
    evaluates (Kayenta then classifies the metric `Error`).
    """
    f = WilcoxonDiff(x, y)
    mu_min, mu_max = search_interval(f)
    z = z_quantile(confidence)

    def root(quantile: float) -> float:
        f_low = f(mu_min, quantile)
        f_high = f(mu_max, quantile)
        if f_low <= 0:
            return mu_min
        if f_high >= 0:
            return mu_max
        return brent_solve(mu_min, mu_max, f_low, f_high, lambda mu: f(mu, quantile))

    lower = root(-z)
    upper = root(z)
    estimate = brent_solve(mu_min, mu_max, f(mu_min, 0.0), f(mu_max, 0.0), lambda mu: f(mu, 0.0))
    return MannWhitneyResult(lower=lower, upper=upper, estimate=estimate)
