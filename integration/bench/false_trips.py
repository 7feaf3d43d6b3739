"""False trips of the quick-start plan's built-in error-rate breaker on a healthy canary, and
how fast the same breaker catches a canary that answers only 5xx.

    python -m integration.bench.false_trips [--rollouts 100] [--minutes 5] [--runs 200]
                                            [--rig-minutes 0] [--weights 5,10,25,50,100]
                                            [--no-watch] [--seed 8]

Simulated (seeded; seconds of CPU, no servers): 100 req/s arriving at random (Poisson), split
between the servers by HAProxy's weighted round robin, every request failing independently
with 0.5 % on both servers. HAProxy's cumulative counters are read every `interval` through
shipsafe's own RouterCounters (the `show stat` deltas over `window`) and judged by
shipsafe.conditions, as the engine measures a breaker; the template is the `error-rate` of
plans/local-canary.yaml as shipped (condition, interval, window, failureLimit, noData). A
rollout holding a weight for `--minutes` trips falsely when more readings fail than the
template's failureLimit allows. Printed beside the bare `result < 0.05` on the same readings.

Detection: the canary healthy for 10 s, then every canary answer a 5xx from a random moment;
seconds from the fault to the first failing reading (the engine restores in milliseconds
after it: `integration.bench.detection` measures that on the rig).

`--rig-minutes N` also holds a canary at 5 % on the real rig for N minutes with the shipped
plan (steps: setWeight 5, pause) while both demo services answer 0.5 % 5xx (the rig's demo
service fails evenly: every 200th answer), and once more with the bare threshold.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from integration.bench.common import machine, percentile
from shipsafe.conditions import evaluate
from shipsafe.durations import parse_duration
from shipsafe.engine.watch import WATCH_SECONDS
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.counters import Counters
from shipsafe.providers.metrics.router_counters import RouterCounters

PLAN = Path(__file__).resolve().parents[2] / "plans" / "local-canary.yaml"
RATE = 100.0
ERROR_SHARE = 0.005
BARE = "result < 0.05"
WEIGHTS = (5, 10, 25, 50, 100)


@dataclass
class Template:
    condition: str
    interval: float
    window: float
    failure_limit: int


def shipped() -> Template:
    t = yaml.safe_load(PLAN.read_text())["analysis"]["error-rate"]
    return Template(
        condition=t["successCondition"],
        interval=parse_duration(str(t.get("interval", "250ms"))),
        window=parse_duration(str(t.get("window", "2s"))),
        failure_limit=int(t.get("failureLimit", 0)),
    )


class SimulatedHAProxy:
    """Cumulative counters of both servers; `advance` serves `seconds` of traffic."""

    cumulative = True
    servers = ("stable", "canary")

    def __init__(self, rng: np.random.Generator, weight: int) -> None:
        self.rng, self.weight = rng, weight
        self.counts = {s: [0, 0] for s in self.servers}
        self.share = {"stable": ERROR_SHARE, "canary": ERROR_SHARE}
        self._carry = 0.0

    def advance(self, seconds: float) -> None:
        arrivals = int(self.rng.poisson(RATE * seconds))
        self._carry += arrivals * self.weight / 100  # round robin: an exact share, in turn
        canary = int(self._carry)
        self._carry -= canary
        for server, n in (("canary", canary), ("stable", arrivals - canary)):
            self.counts[server][0] += n
            self.counts[server][1] += int(self.rng.binomial(n, self.share[server])) if n else 0

    def read(self, window_seconds: float) -> dict[str, Counters]:
        return {s: Counters(float(r), float(e), 0.01) for s, (r, e) in self.counts.items()}


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def readings(
    rng: np.random.Generator, weight: int, template: Template, seconds: float,
    fault_at: float | None = None, watch: bool = True,
) -> Any:
    """Yield (time, failed under the shipped condition, failed under the bare threshold).

    As the engine measures: on the template's interval and, with `watch` (the engine's
    default, shipsafe/engine/watch.py), also as soon as a look every WATCH_SECONDS finds new
    canary errors since the last reading; the next reading is then an interval after it."""
    haproxy, clock = SimulatedHAProxy(rng, weight), Clock()
    source = RouterCounters(haproxy, "haproxy demo", monotonic=clock)
    source.check()
    query = MetricQuery("errorRate", window_seconds=template.window)
    offset = float(rng.uniform(0, template.interval))  # readings fall anywhere in the second
    clock.t = offset
    haproxy.advance(offset)
    step = WATCH_SECONDS if watch else template.interval
    next_due, measured = offset, False
    while clock.t < seconds:
        if fault_at is not None and clock.t < fault_at <= clock.t + step:
            haproxy.advance(fault_at - clock.t)
            haproxy.share["canary"] = 1.0
            haproxy.advance(clock.t + step - fault_at)
        else:
            haproxy.advance(step)
        clock.t += step
        due = clock.t >= next_due - 1e-9
        if not due and watch and measured:
            due = source.errors_since_last_reading(query)
        if not due:
            continue
        next_due = clock.t + template.interval
        if clock.t < template.window:  # the breaker's warm-up: a full window first
            continue
        measured = True
        result = source.query(query)
        if result.value is None:  # no canary request in the window: noData fail
            yield clock.t, True, True
            continue
        context = result.readings
        yield (
            clock.t,
            not evaluate(template.condition, result.value, context),
            not evaluate(BARE, result.value, context),
        )


def false_trips(rng: np.random.Generator, weight: int, template: Template, rollouts: int,
                seconds: float, watch: bool = True) -> tuple[float, float]:
    """Share of rollouts held `seconds` at `weight` that trip (shipped, bare)."""
    tripped = [0, 0]
    for _ in range(rollouts):
        failed = [0, 0]
        for _, shipped_failed, bare_failed in readings(rng, weight, template, seconds,
                                                       watch=watch):
            failed[0] += shipped_failed
            failed[1] += bare_failed
            if failed[0] > template.failure_limit and failed[1] > template.failure_limit:
                break
        tripped[0] += failed[0] > template.failure_limit
        tripped[1] += failed[1] > template.failure_limit
    return tripped[0] / rollouts, tripped[1] / rollouts


def detection(rng: np.random.Generator, weight: int, template: Template, runs: int,
              watch: bool = True) -> list[float]:
    """Seconds from every canary answer turning 5xx to the shipped condition's first failure
    (healthy readings before the fault that fail count as a false trip and are skipped)."""
    times: list[float] = []
    while len(times) < runs:
        fault_at = 10.0 + float(rng.uniform(0, 1))
        for t, shipped_failed, _ in readings(rng, weight, template, 20.0, fault_at=fault_at,
                                            watch=watch):
            if shipped_failed:
                if t >= fault_at:
                    times.append(t - fault_at)
                break
    return times


def on_the_rig(minutes: float) -> list[str]:
    from integration.rig import Rig
    from integration.shipsafe_cli import ShipsafeCLI

    lines = []
    with Rig() as rig:
        cli = ShipsafeCLI(rig.workdir / "state.db", actor="bench")
        for label, condition in (("shipped", None), ("bare", BARE)):
            rig.reset()
            rig.stable.set_faults(error_share=ERROR_SHARE)
            rig.canary.set_faults(error_share=ERROR_SHARE)
            plan = rig.plan()
            if condition is not None:
                plan["analysis"]["error-rate"]["successCondition"] = condition
            plan["breakers"] = [{"analysis": "error-rate"}]
            plan["steps"] = [{"setWeight": 5}, {"pause": {"duration": f"{minutes:g}m"}}]
            mark = rig.load.now()
            finished = cli.deploy(rig.write_plan(plan, name=f"hold-{label}.yaml")).wait(
                timeout=minutes * 60 + 120
            )
            tally = rig.load.tally(since=mark)
            outcome = finished.result.get("phase")
            cause = finished.result.get("message", "") if outcome != "succeeded" else ""
            lines.append(f"  rig, 5% for {minutes:g} min, {label:7}: {outcome} ({tally}) {cause}")
            print(lines[-1], flush=True)
        rig.stable.set_faults(error_share=0.0)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=100, help="simulated holds a weight")
    parser.add_argument("--minutes", type=float, default=5.0, help="each hold, simulated")
    parser.add_argument("--runs", type=int, default=200, help="simulated detections a weight")
    parser.add_argument("--rig-minutes", type=float, default=0.0, help="0: no rig run")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--weights", default=",".join(map(str, WEIGHTS)),
                        help="canary weights (%%), comma-separated")
    parser.add_argument("--no-watch", action="store_true",
                        help="readings on the interval only (the engine before 2026-12-01 20:00Z)")
    args = parser.parse_args()

    template = shipped()
    rng = np.random.default_rng(args.seed)
    watch = not args.no_watch
    print(f"machine: {machine()}")
    print(f"plan: {PLAN.name} error-rate: {template.condition!r}, every "
          f"{template.interval:g}s over {template.window:g}s, failureLimit "
          f"{template.failure_limit}; traffic {RATE:g} req/s (Poisson), both servers "
          f"{ERROR_SHARE:.1%} errors at random; "
          + ("interval only" if args.no_watch else
             f"also measured when a look every {WATCH_SECONDS:g}s finds new canary errors"))
    print(f"false trips: share of {args.rollouts} simulated rollouts holding the weight "
          f"{args.minutes:g} min that roll back a canary as good as stable")
    print(f"  {'weight':>6} {'shipped':>9} {'bare ' + BARE:>20}")
    weights = [int(w) for w in args.weights.split(",")]
    for weight in weights:
        shipped_rate, bare_rate = false_trips(rng, weight, template, args.rollouts,
                                              args.minutes * 60, watch)
        print(f"  {weight:>5}% {shipped_rate:>9.1%} {bare_rate:>20.1%}", flush=True)
    print(f"detection: every canary answer 5xx, {args.runs} simulated runs a weight, "
          "seconds from the fault to the first failing reading (shipped condition)")
    for weight in weights:
        times = detection(rng, weight, template, args.runs, watch)
        print(f"  {weight:>5}%  p50 {percentile(times, 50):.3f}  p95 {percentile(times, 95):.3f}"
              f"  max {max(times):.3f}", flush=True)
    if args.rig_minutes > 0:
        on_the_rig(args.rig_minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
