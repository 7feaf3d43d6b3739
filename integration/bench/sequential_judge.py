"""False rollbacks, time to detect and users hurt: static breaker, Kayenta, sequential, oracle.

    python -m integration.bench.sequential_judge [--runs 200] [--latency-runs 100]
        [--aa-runs 1000] [--aa-seconds 600] [--aa-latency-runs 100] [--aa-latency-seconds 300]
        [--max-seconds 1800] [--seed 2026] [--skip-aa]

Simulated streams, fixed seeds; every judge looks at the same stream every second.
Traffic: Poisson requests at a mean rate times a daily shape (1 + 0.5 sin over 24 h, each
rollout starting at a random time of day) times a burst factor drawn every minute
(lognormal, sd 0.3), split to the canary with probability equal to its weight.
Each request to the baseline fails with 0.5 %, to the canary with the row's rate; latency
is lognormal (median 100 ms, sigma 0.5) on both sides, plus the row's shift on the canary.

Columns (all at alpha 0.01 where they have one):
- static: the breaker plans write today, `result < 0.05` on the canary's 5xx ratio over
  the last 10 s (latency: p95 over 10 s `< 0.25` s), failureLimit 1, noData: fail, one
  measurement a second.
- kayenta: shipsafe.judge.kayenta.classify_metric (NetflixACAJudge-v1.0) every 5 minutes on
  that window's 10-second canary and baseline 5xx ratios (latency: means), direction
  increase; rolls back on High.
- sequential: shipsafe.judge.sequential_counts (latency: sequential_latency), tolerance 0.
- oracle: Wald's SPRT told both true rates (latency: both distributions), alpha = beta =
  0.01, fed the same per-second readings; "oracle/request" is the same test fed one
  request at a time (the count the issue quotes: ~1, 78, 390 canary requests).

Figures per cell: share of runs rolled back within --max-seconds, mean seconds to the
rollback, mean canary requests served by then, mean users hurt by then (canary 5xx served;
latency: canary requests served slow).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from integration.bench.common import machine
from shipsafe.judge import sequential_counts as sc
from shipsafe.judge import sequential_latency as sl
from shipsafe.judge.kayenta import Classification, MetricConfig, classify_metric

ALPHA = 0.01
BASELINE_ERRORS = 0.005
STATIC_LIMIT = 0.05
STATIC_LATENCY_LIMIT = 250.0  # ms
STATIC_WINDOW = 10  # s
STATIC_FAILURE_LIMIT = 1
KAYENTA_WINDOW = 300  # s
KAYENTA_BUCKET = 10  # s
LATENCY_MEDIAN, LATENCY_SIGMA = 100.0, 0.5
WALD_UPPER = math.log((1 - ALPHA) / ALPHA)
WALD_LOWER = math.log(ALPHA / (1 - ALPHA))
METHODS = ("static", "kayenta", "sequential", "oracle")


@dataclass
class Outcome:
    """Per method: second of the rollback (-1: none yet), requests and users hurt by then."""

    runs: int
    at: dict[str, np.ndarray] = field(default_factory=dict)
    requests: dict[str, np.ndarray] = field(default_factory=dict)
    hurt: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in METHODS:
            self.at[m] = np.full(self.runs, -1)
            self.requests[m] = np.zeros(self.runs)
            self.hurt[m] = np.zeros(self.runs)

    def record(self, method: str, t: int, fired: np.ndarray, requests, hurt) -> None:
        new = fired & (self.at[method] < 0)
        self.at[method][new] = t
        self.requests[method][new] = np.asarray(requests, dtype=float)[new]
        self.hurt[method][new] = np.asarray(hurt, dtype=float)[new]

    def decided(self, method: str) -> np.ndarray:
        return self.at[method] >= 0


class Traffic:
    """Requests per second for a batch of rollouts: daily shape times minute bursts."""

    def __init__(self, rng: np.random.Generator, runs: int, rps: float) -> None:
        self.rng = rng
        self.rps = rps
        self.start = rng.uniform(0, 86400, runs)
        self.burst = np.ones(runs)

    def requests(self, t: int) -> np.ndarray:
        if t % 60 == 0:
            self.burst = np.exp(0.3 * self.rng.standard_normal(self.start.size) - 0.045)
        daily = 1 + 0.5 * np.sin(2 * math.pi * (self.start + t) / 86400)
        return self.rng.poisson(self.rps * daily * self.burst)


def kayenta_high(canary: np.ndarray, baseline: np.ndarray) -> bool:
    config = MetricConfig(name="m", direction="increase")
    result = classify_metric(config, canary, baseline, rng=np.random.default_rng(0))
    return result.classification == Classification.HIGH


# --- error rate ------------------------------------------------------------------------


def wald_llr_errors(p1: float, p0: float) -> tuple[float, float]:
    return math.log(p1 / p0), (math.log((1 - p1) / (1 - p0)) if p1 < 1 else -math.inf)


def simulate_errors(
    rng: np.random.Generator,
    runs: int,
    seconds: int,
    weight: float,
    rps: float,
    canary_rate: float,
    oracle_rate: float,
) -> Outcome:
    """Every method on the same streams. `oracle_rate` is the alternative the oracle is
    told (the true canary rate; for A/A runs the row's alternative)."""
    out = Outcome(runs)
    traffic = Traffic(rng, runs, rps)
    state = sc.start(0.0, ALPHA)
    ll = np.zeros((runs, state.grid.log_effect.size))
    low = np.full(runs, -np.inf)
    high = np.full(runs, np.inf)
    bound = state.grid.log_effect[state.grid.center]
    w_err, w_ok = wald_llr_errors(oracle_rate, BASELINE_ERRORS)
    wald = np.zeros(runs)
    wald_done = np.zeros(runs, dtype=bool)
    window = deque(maxlen=STATIC_WINDOW)
    static_failures = np.zeros(runs)
    buckets_c, buckets_b, acc = [], [], np.zeros((4, runs))
    served = np.zeros(runs)
    hurt = np.zeros(runs)
    for t in range(1, seconds + 1):
        n = traffic.requests(t)
        nc = rng.binomial(n, weight)
        nb = n - nc
        x = rng.binomial(nc, canary_rate)
        y = rng.binomial(nb, BASELINE_ERRORS)
        served += nc
        hurt += x
        # sequential
        ll, low, high = sc.step(ll, low, high, state.grid, ALPHA, x, y, nc, nb)
        out.record("sequential", t, low >= bound, served, hurt)
        # oracle, one reading a second
        if w_ok == -math.inf:
            llr = np.where(nc - x > 0, -np.inf, x * w_err)
        else:
            llr = x * w_err + (nc - x) * w_ok
        wald = np.where(wald_done, wald, wald + llr)
        out.record("oracle", t, (wald >= WALD_UPPER) & ~wald_done, served, hurt)
        wald_done |= (wald >= WALD_UPPER) | (wald <= WALD_LOWER)
        # static breaker: canary 5xx ratio over the last 10 s < 0.05, noData fails
        window.append((nc, x))
        reqs = sum(w[0] for w in window)
        errs = sum(w[1] for w in window)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(reqs > 0, errs / np.maximum(reqs, 1), np.nan)
        static_failures += ~(ratio < STATIC_LIMIT)  # NaN (no data) fails too
        out.record("static", t, static_failures > STATIC_FAILURE_LIMIT, served, hurt)
        # kayenta: 10-second ratios, judged every 5 minutes on that window
        acc += np.stack([nc, x, nb, y])
        if t % KAYENTA_BUCKET == 0:
            with np.errstate(invalid="ignore", divide="ignore"):
                buckets_c.append(np.where(acc[0] > 0, acc[1] / acc[0], np.nan))
                buckets_b.append(np.where(acc[2] > 0, acc[3] / acc[2], np.nan))
            acc = np.zeros((4, runs))
        if t % KAYENTA_WINDOW == 0:
            c = np.stack(buckets_c, axis=1)
            b = np.stack(buckets_b, axis=1)
            fired = np.array(
                [not out.decided("kayenta")[i] and kayenta_high(c[i], b[i]) for i in range(runs)]
            )
            out.record("kayenta", t, fired, served, hurt)
            buckets_c, buckets_b = [], []
        if all(out.decided(m).all() for m in METHODS):
            break
    return out


def oracle_per_request_errors(rng: np.random.Generator, p1: float, runs: int = 4000) -> float:
    """Mean canary requests Wald's SPRT needs, one request at a time (true rate p1)."""
    w_err, w_ok = wald_llr_errors(p1, BASELINE_ERRORS)
    needed = []
    for _ in range(runs):
        llr, n = 0.0, 0
        while WALD_LOWER < llr < WALD_UPPER:
            n += 1
            llr += w_err if rng.random() < p1 else w_ok
        needed.append(n)
    return float(np.mean(needed))


# --- latency ---------------------------------------------------------------------------


def lognormal_logpdf(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(x) - math.log(LATENCY_MEDIAN)) / LATENCY_SIGMA
        return np.where(x > 0, -0.5 * z * z - np.log(np.where(x > 0, x, 1.0)), -np.inf)


def latency_llr(x: np.ndarray, shift: float) -> np.ndarray:
    return lognormal_logpdf(x - shift) - lognormal_logpdf(x)


def latencies(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    return LATENCY_MEDIAN * np.exp(LATENCY_SIGMA * rng.standard_normal(n)) + shift


def simulate_latency(
    rng: np.random.Generator,
    runs: int,
    seconds: int,
    weight: float,
    rps: float,
    shift: float,
    oracle_shift: float,
) -> Outcome:
    out = Outcome(runs)
    traffic = Traffic(rng, runs, rps)
    for i in range(runs):
        state = sl.start(0.5, 0.0, ALPHA)
        seq_done = False
        wald, wald_done = 0.0, False
        window: deque[np.ndarray] = deque(maxlen=STATIC_WINDOW)
        failures = 0
        bucket_c: list[np.ndarray] = []
        bucket_b: list[np.ndarray] = []
        means_c: list[float] = []
        means_b: list[float] = []
        served = 0
        for t in range(1, seconds + 1):
            n = int(traffic.requests(t)[i])
            nc = int(rng.binomial(n, weight))
            c = latencies(rng, nc, shift)
            b = latencies(rng, n - nc)
            served += nc
            hurt = served if shift > 0 else 0
            one = np.zeros(runs, dtype=bool)
            one[i] = True
            req = np.full(runs, served)
            hurt_a = np.full(runs, hurt)
            if not seq_done:
                state = sl.update(state, sl.LatencyReading(c, b))
                if sl.result(state).worse:
                    out.record("sequential", t, one, req, hurt_a)
                    seq_done = True
            if not wald_done:
                wald += float(latency_llr(c, oracle_shift).sum()) if nc else 0.0
                if wald >= WALD_UPPER:
                    out.record("oracle", t, one, req, hurt_a)
                wald_done = wald >= WALD_UPPER or wald <= WALD_LOWER
            window.append(c)
            recent = np.concatenate(window)
            p95 = float(np.percentile(recent, 95)) if recent.size else math.nan
            failures += not (p95 < STATIC_LATENCY_LIMIT)
            if failures > STATIC_FAILURE_LIMIT:
                out.record("static", t, one, req, hurt_a)
            bucket_c.append(c)
            bucket_b.append(b)
            if t % KAYENTA_BUCKET == 0:
                cc, bb = np.concatenate(bucket_c), np.concatenate(bucket_b)
                means_c.append(float(cc.mean()) if cc.size else math.nan)
                means_b.append(float(bb.mean()) if bb.size else math.nan)
                bucket_c, bucket_b = [], []
            if t % KAYENTA_WINDOW == 0:
                if kayenta_high(np.array(means_c), np.array(means_b)):
                    out.record("kayenta", t, one, req, hurt_a)
                means_c, means_b = [], []
            if all(out.at[m][i] >= 0 for m in METHODS) or (
                seq_done and wald_done and t >= KAYENTA_WINDOW and out.at["static"][i] >= 0
            ):
                break
    return out


def oracle_per_request_latency(rng: np.random.Generator, shift: float, runs: int = 4000) -> float:
    needed = []
    for _ in range(runs):
        llr, n = 0.0, 0
        while WALD_LOWER < llr < WALD_UPPER:
            n += 1
            llr += float(latency_llr(latencies(rng, 1, shift), shift)[0])
        needed.append(n)
    return float(np.mean(needed))


# --- report ----------------------------------------------------------------------------


def cell(out: Outcome, method: str) -> str:
    d = out.decided(method)
    if not d.any():
        return "0 %"
    return (
        f"{100 * d.mean():.0f} %, {out.at[method][d].mean():.0f} s, "
        f"{out.requests[method][d].mean():.0f} req, {out.hurt[method][d].mean():.0f} hurt"
    )


def judge_speed(rng: np.random.Generator, metrics: int = 50, points: int = 1000) -> None:
    """One judge_counts call per metric on 1,000 readings each, as the engine calls it."""
    from shipsafe.judge.base import Counts
    from shipsafe.judge.sequential import judge_counts

    data = []
    for _ in range(metrics):
        nc = rng.poisson(50, points)
        nb = rng.poisson(950, points)
        data.append(
            Counts(
                canary_events=rng.binomial(nc, 0.006).astype(float).tolist(),
                canary_trials=nc.astype(float).tolist(),
                baseline_events=rng.binomial(nb, 0.005).astype(float).tolist(),
                baseline_trials=nb.astype(float).tolist(),
            )
        )
    judge_counts(data[0])  # warm-up
    walls, cpus = [], []
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        for d in data:
            judge_counts(d)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(
        f"\nSequential count judge, {metrics} metrics x {points} readings: "
        f"wall p50 {1000 * sorted(walls)[2]:.0f} ms, CPU p50 {1000 * sorted(cpus)[2]:.0f} ms "
        f"(5 runs; load average {os.getloadavg()[0]:.1f})"
    )


def mean_requests(out: Outcome, method: str) -> float:
    d = out.decided(method)
    return float(out.requests[method][d].mean()) if d.any() else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--latency-runs", type=int, default=100)
    parser.add_argument("--aa-runs", type=int, default=1000)
    parser.add_argument("--aa-seconds", type=int, default=600)
    parser.add_argument("--aa-latency-runs", type=int, default=100)
    parser.add_argument("--aa-latency-seconds", type=int, default=300)
    parser.add_argument("--max-seconds", type=int, default=1800)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip-aa", action="store_true")
    args = parser.parse_args()
    began = time.process_time()
    print(machine())
    weights, rates = (0.05, 0.10), (10, 100, 1000)

    if not args.skip_aa:
        print(
            f"\n## False rollbacks: A/A, {args.aa_runs} rollouts of {args.aa_seconds} s, "
            "a look every second\n"
        )
        print("| weight | req/s | static | kayenta | sequential | oracle |")
        print("|---|---|---|---|---|---|")
        for k, (w, r) in enumerate((w, r) for w in weights for r in rates):
            rng = np.random.default_rng(args.seed + 100 + k)
            out = simulate_errors(rng, args.aa_runs, args.aa_seconds, w, r, BASELINE_ERRORS, 0.02)
            row = " | ".join(f"{100 * out.decided(m).mean():.1f} %" for m in METHODS)
            print(f"| {w:.0%} | {r} | {row} |", flush=True)
        print(f"\nLatency A/A, {args.aa_latency_runs} rollouts of {args.aa_latency_seconds} s:\n")
        print("| weight | req/s | static | kayenta | sequential | oracle |")
        print("|---|---|---|---|---|---|")
        for k, (w, r) in enumerate((w, 100) for w in weights):
            rng = np.random.default_rng(args.seed + 200 + k)
            out = simulate_latency(
                rng, args.aa_latency_runs, args.aa_latency_seconds, w, r, 0.0, 50.0
            )
            row = " | ".join(f"{100 * out.decided(m).mean():.1f} %" for m in METHODS)
            print(f"| {w:.0%} | {r} | {row} |", flush=True)

    rng = np.random.default_rng(args.seed)
    per_request = {p: oracle_per_request_errors(rng, p) for p in (1.0, 0.05, 0.02)}
    per_request_latency = oracle_per_request_latency(rng, 50.0)
    print(
        "\nOracle (Wald's SPRT, one request at a time), mean canary requests: "
        + ", ".join(f"{p:.0%} 5xx {n:.1f}" for p, n in per_request.items())
        + f", +50 ms {per_request_latency:.1f}"
    )

    print(
        f"\n## Time to detect and users hurt, {args.runs} runs a row "
        f"(latency {args.latency_runs}), up to {args.max_seconds} s\n"
    )
    print("Each cell: rolled back, mean s to rollback, mean canary requests, mean users hurt.\n")
    print(
        "| canary | weight | req/s | static `< 0.05` | kayenta (5 min) | sequential | oracle "
        "| seq/oracle req, same looks | seq/oracle req, per request |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    k = 0
    for effect in ("100 % 5xx", "5 % 5xx", "2 % 5xx", "+50 ms"):
        for w in weights:
            for r in rates:
                k += 1
                rng = np.random.default_rng(args.seed + k)
                if effect == "+50 ms":
                    out = simulate_latency(
                        rng, args.latency_runs, args.max_seconds, w, r, 50.0, 50.0
                    )
                    oracle_n = per_request_latency
                else:
                    p = float(effect.split()[0]) / 100
                    out = simulate_errors(rng, args.runs, args.max_seconds, w, r, p, p)
                    oracle_n = per_request[p]
                seq = mean_requests(out, "sequential")
                looks = seq / mean_requests(out, "oracle")
                cells = " | ".join(cell(out, m) for m in METHODS)
                print(
                    f"| {effect} | {w:.0%} | {r} | {cells} | {looks:.2f} | {seq / oracle_n:.2f} |",
                    flush=True,
                )
    judge_speed(np.random.default_rng(args.seed))
    print(f"\nCPU time: {time.process_time() - began:.0f} s")


if __name__ == "__main__":
    main()
