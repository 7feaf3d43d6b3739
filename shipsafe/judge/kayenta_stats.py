"""The small statistics Kayenta's judge uses, computed the way Kayenta computes them.

Means follow commons-math (`StatUtils.mean`: a sequential sum, then a correction pass),
percentiles are R-7 (linear interpolation, commons-math `Percentile` with `R_7`), CLES
counts ties as one half. The judge compares effect sizes with `>=` against thresholds
such as 1.0, so the last bit of a mean can decide a classification: these functions
reproduce the order of Kayenta's floating-point operations, not just the formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def _sequential_sum(values: np.ndarray) -> float:
    """Left-to-right sum, as a Java loop adds (numpy's sum is pairwise)."""
    import numpy as np

    return float(np.cumsum(values)[-1]) if len(values) else 0.0


def mean(values: np.ndarray) -> float:
    """commons-math's mean: NaN for no values."""
    n = len(values)
    if n == 0:
        return math.nan
    xbar = _sequential_sum(values) / n
    correction = _sequential_sum(values - xbar)
    return xbar + correction / n


def variance(values: np.ndarray) -> float:
    """commons-math's bias-corrected variance (0 for one value, NaN for none)."""
    n = len(values)
    if n == 0:
        return math.nan
    if n == 1:
        return 0.0
    m = mean(values)
    dev = values - m
    accum = _sequential_sum(dev * dev)
    accum2 = _sequential_sum(dev)
    return (accum - (accum2 * accum2 / n)) / (n - 1.0)


def percentile(values: np.ndarray, p: float) -> float:
    """R-7 percentile, p in (0, 100]; NaN for no values, the value itself for one."""
    import numpy as np

    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    n = len(values)
    if n == 0:
        return math.nan
    if n == 1:
        return float(values[0])
    work = np.sort(values)
    q = p / 100
    pos = float(n) if q == 1.0 else 1 + (n - 1) * q
    if pos < 1:
        return float(work[0])
    if pos >= n:
        return float(work[n - 1])
    floor = math.floor(pos)
    lower = float(work[floor - 1])
    upper = float(work[floor])
    return lower + (pos - floor) * (upper - lower)


@dataclass(frozen=True)
class Summary:
    """What Kayenta reports for each side of a metric (empty sample: all zeros)."""

    count: int
    mean: float
    std: float
    min: float
    max: float


def summary(values: np.ndarray) -> Summary:
    if len(values) == 0:
        return Summary(0, 0.0, 0.0, 0.0, 0.0)
    return Summary(
        count=len(values),
        mean=mean(values),
        std=math.sqrt(variance(values)),
        min=float(values.min()),
        max=float(values.max()),
    )


def mean_ratio(canary: np.ndarray, baseline: np.ndarray) -> float:
    """mean(canary) / mean(baseline); NaN when either mean is 0."""
    baseline_mean = mean(baseline)
    canary_mean = mean(canary)
    if baseline_mean == 0.0 or canary_mean == 0.0:
        return math.nan
    return canary_mean / baseline_mean


def cles(canary: np.ndarray, baseline: np.ndarray) -> float:
    """Common-language effect size: P(canary value > baseline value), ties counting 1/2.

    Kayenta ranks canary ++ baseline and computes (2 R_canary - m(m+1)) / (2 n m); that
    numerator is twice the number of (canary, baseline) pairs won, ties counting one
    half, which is what is counted here (an integer, so the same double).
    """
    import numpy as np

    m, n = len(canary), len(baseline)
    ordered = np.sort(baseline)
    below = np.searchsorted(ordered, canary, side="left")
    upto = np.searchsorted(ordered, canary, side="right")
    twice_wins = float(np.sum(below) + np.sum(upto))
    return twice_wins / (2 * n * m)


def remove_nans(values: np.ndarray) -> np.ndarray:
    import numpy as np

    return values[~np.isnan(values)]


def replace_nans(values: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.where(np.isnan(values), 0.0, values)


def iqr_outliers(values: np.ndarray, factor: float, reduce_sensitivity: bool) -> np.ndarray:
    """Which values the IQR detector flags (a boolean mask).

    Fences at P25 - factor*IQR and P75 + factor*IQR; with `reduce_sensitivity` (the judge
    always sets it) the fences widen to at least P1 and P99. A value outside, strictly,
    is an outlier.
    """
    import numpy as np

    if factor <= 0:
        raise ValueError("outlierFactor must be greater than zero")
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    p25, p75 = percentile(values, 25), percentile(values, 75)
    iqr = p75 - p25
    lower, upper = p25 - factor * iqr, p75 + factor * iqr
    if reduce_sensitivity:
        lower = min(percentile(values, 1), lower)
        upper = max(percentile(values, 99), upper)
    return (values > upper) | (values < lower)
