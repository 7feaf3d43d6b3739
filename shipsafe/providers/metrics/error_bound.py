"""The lowest error rate a count of failures is consistent with: a reading's `errorRateLow`.

A built-in check reads a short window (2 s on HAProxy): at 5 % of 100 req/s that is ten
canary requests, and one unlucky failure among them reads as 10 %, for every reading the
window holds it. `errorRateLow` is the one-sided Clopper-Pearson lower bound at 95 %
confidence: the smallest failure probability under which seeing this many failures (or
more) out of this many requests still has a chance of at least 5 %. A condition such as
`canary.errorRateLow < 0.05` therefore fails only when the counts *show* the canary worse
than 5 % — three failures out of three requests (0.37), or three out of ten (0.087) — and
not on one failure out of ten (0.005). Pure Python: no scipy at CLI start-up.
"""

from __future__ import annotations

import math

CONFIDENCE = 0.95
_ITERATIONS = 50  # bisection on [0, errors/requests]: far below any threshold's precision


def error_rate_low(errors: float, requests: float, confidence: float = CONFIDENCE) -> float:
    """Lower bound of the failure probability behind `errors` of `requests` (0 when no
    request failed). Counts are rounded to whole requests; errors beyond requests count as
    requests."""
    n = max(0, round(requests))
    k = min(max(0, round(errors)), n)
    if k == 0:
        return 0.0
    alpha = 1.0 - confidence
    if k == n:  # every request failed: P(all n fail | p) = p**n
        return float(alpha ** (1.0 / n))
    low, high = 0.0, k / n
    for _ in range(_ITERATIONS):
        mid = (low + high) / 2
        if _upper_tail(k, n, mid) < alpha:
            low = mid
        else:
            high = mid
    return low


def _upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), 0 < k < n, 0 < p <= k/n: summed from k upwards in
    log space (terms fall away past the mode, which is at most k here)."""
    if p <= 0.0:
        return 0.0
    log_term = (
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        + k * math.log(p) + (n - k) * math.log1p(-p)
    )
    term, total = math.exp(log_term), 0.0
    odds = p / (1.0 - p)
    for i in range(k, n + 1):
        total += term
        if i > n * p and term <= total * 1e-15:
            break
        term *= (n - i) / (i + 1) * odds
    return total
