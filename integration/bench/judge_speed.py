"""Kayenta judge speed: one judgement of 50 metrics, each with 1,000 canary and 1,000
baseline points, from readings to summary score.

    python -m integration.bench.judge_speed [--runs 20] [--metrics 50] [--points 1000]

The metrics are a mix shaped like what a canary config holds: continuous latencies
(lognormal), error ratios that are mostly exactly 0 (heavy ties), and CPU readings rounded
to one decimal (ties across both samples); every fifth canary is shifted upwards. Timed
from the raw readings (NaN handling, outlier removal for a third of them, Mann-Whitney,
effect sizes, scoring) after one warm-up judgement that pays numpy's import.
Target: < 50 ms per judgement (p50 of wall time). CPU time of the process is printed
beside it, and the load average, because the machine is shared: a loaded machine
stretches wall time (the process waits for a core) far more than CPU time.
"""

from __future__ import annotations

import argparse
import os
import time

from integration.bench.common import machine, summary


def metrics(count: int, points: int):
    import numpy as np

    from shipsafe.judge.kayenta import MetricConfig, MetricInput

    rng = np.random.default_rng(2026)
    out = []
    for i in range(count):
        shift = 1.3 if i % 5 == 0 else 1.0
        kind = i % 3
        if kind == 0:  # latency, continuous
            baseline = rng.lognormal(3.0, 0.4, points)
            canary = rng.lognormal(3.0, 0.4, points) * shift
        elif kind == 1:  # error ratio: mostly exact zeros
            baseline = np.where(rng.random(points) < 0.9, 0.0, rng.random(points) * 0.02)
            canary = np.where(rng.random(points) < 0.9, 0.0, rng.random(points) * 0.02 * shift)
        else:  # CPU, rounded: ties within and across the samples
            baseline = np.round(rng.normal(40.0, 5.0, points), 1)
            canary = np.round(rng.normal(40.0 * shift, 5.0, points), 1)
        config = MetricConfig(
            f"metric-{i}",
            groups=(("latency", "errors", "resources")[kind],),
            outlier_strategy="remove" if kind == 0 else "none",
        )
        out.append(MetricInput(config, canary, baseline))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--points", type=int, default=1000)
    args = parser.parse_args()

    from shipsafe.judge.kayenta import Thresholds, judge

    inputs = metrics(args.metrics, args.points)
    thresholds = Thresholds(pass_score=95, marginal=75)
    first = judge(inputs, thresholds)  # warm-up (imports numpy)
    times, cpu = [], []
    for _ in range(args.runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = judge(inputs, thresholds)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert result == first
    labels: dict[str, int] = {}
    for r in first.results:
        labels[r.classification.value] = labels.get(r.classification.value, 0) + 1
    print(f"machine: {machine()}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.metrics} metrics x {args.points} points each side, {args.runs} runs")
    print(
        f"classifications: {labels}; score {first.score.summary:g} ({first.classification.value})"
    )
    print(f"judgement, wall (ms): {summary(times)}")
    print(f"judgement, CPU of this process (ms): {summary(cpu)}")
    p50 = sorted(times)[len(times) // 2]
    print(f"target p50 < 50 ms (wall): {'met' if p50 < 50 else 'MISSED'} ({p50:.1f} ms)")


if __name__ == "__main__":
    main()
