"""Detection to rollback, built-in HAProxy errorRate breaker beside the Prometheus breaker:
switch on 5xx for every canary answer at 10% weight and time how long until HAProxy's canary
weight reads 0 (read over the runtime API every 20 ms). Both breakers run in turn in one
invocation, on the same rig and load, and are printed side by side.

    python -m integration.bench.detection [--runs 10] [--interval 1] [--failure-limit 0]
                                          [--weight 10] [--healthy 0]

`--weight W --healthy S`: the canary at W% answers well for S seconds after the breaker's
first successful reading before the fault (issue 8's harder case: `--weight 5 --healthy 10`,
a canary whose windows are full of healthy answers when it turns bad).

Both plans are plans/local-canary.yaml with steps `setWeight 10, pause 10m` and one breaker:

    builtin     the plan's own `error-rate` (builtin: errorRate, HAProxy's counters read every
                250 ms over a 2 s window, failureLimit 0)
    prometheus  HAProxy's exporter scraped every 1 s, the canary's 5xx share over [10s]
                (the query the plan used before the built-in check), `--interval` and
                `--failure-limit` from the command line

Targets: built-in p50 <= 0.5 s and p95 <= 1 s; Prometheus p50 <= scrape + interval + 1 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import Any

from integration.bench.common import machine, percentile, summary
from integration.rig import Rig
from integration.rig.prometheus import SCRAPE_INTERVAL
from integration.rig.waiting import wait_until
from integration.shipsafe_cli import ShipsafeCLI

PROMETHEUS_QUERY = (
    'sum(rate(haproxy_server_http_responses_total{proxy="demo",server="{{canary}}",'
    'code="5xx"}[10s])) / sum(rate(haproxy_server_http_responses_total{proxy="demo",'
    'server="{{canary}}"}[10s]))'
)
BREAKERS = ("builtin", "prometheus")


def tune(
    plan: dict[str, Any], breaker: str, interval: float, failure_limit: int, window: float | None,
    weight: int = 10,
) -> dict:
    if breaker == "builtin":
        plan["analysis"]["error-rate"]["failureLimit"] = 0
        if window is not None:
            plan["analysis"]["error-rate"]["window"] = f"{window:g}s"
        name = "error-rate"
    else:
        name = "prom-error-rate"
        plan["analysis"][name] = {
            "source": "prom",
            "query": PROMETHEUS_QUERY,
            "successCondition": "result < 0.05",
            "interval": f"{interval:g}s",
            "initialDelay": "4s",
            "failureLimit": failure_limit,
            "noData": "fail",
        }
    plan["breakers"] = [{"analysis": name}]
    plan["steps"] = [{"setWeight": weight}, {"pause": {"duration": "10m"}}]
    return plan


def one_run(
    rig: Rig, cli: ShipsafeCLI, breaker: str, interval: float, limit: int, window: float | None,
    weight: int = 10, healthy: float = 0.0,
) -> float:
    rig.reset()
    plan = rig.write_plan(
        tune(rig.plan(), breaker, interval, limit, window, weight), name="detection.yaml"
    )
    running = cli.deploy(plan)
    try:
        # the breaker is measuring and content: the canary is live at its weight
        running.wait_for_type("measurement", timeout=30, run="breakers", phase="successful")
        assert rig.haproxy.weights() == {"stable": 100 - weight, "canary": weight}
        if healthy > 0:
            time.sleep(healthy)
            if running.popen.poll() is not None or rig.haproxy.weight("canary") != weight:
                raise AssertionError(f"the healthy canary was rolled back:\n{running.transcript()}")
        rig.canary.set_faults(error_share=1.0)
        fault_on, fault_wall = time.monotonic(), time.time()
        wait_until(lambda: rig.haproxy.weight("canary") == 0, "canary weight 0", 60, 0.02)
        detected = time.monotonic() - fault_on
        finished = running.wait(timeout=30)
        if finished.code != 3:
            raise AssertionError(f"expected a rollback (3), got {finished.code}")
        where(finished, fault_wall)
        return detected
    finally:
        running.kill()


def where(finished: Any, fault_wall: float) -> None:
    """Where the time went, from shipsafe's own events (wall clock, same machine): the
    failing reading and the end of the rollback (weights restored and read back)."""

    def after(event: dict[str, Any]) -> str:
        at = datetime.fromisoformat(str(event["time"])).timestamp() - fault_wall
        return f"{at:+.3f}s"

    failing = [
        e for e in finished.of_type("measurement")
        if (e.get("data") or {}).get("run") == "breakers" and e["data"].get("phase") == "failed"
    ]
    if not failing:
        return
    first = finished.events.index(failing[0])
    chain = [failing[0]] + [
        e for e in finished.events[first + 1:]
        if e.get("type") in ("breaker_tripped", "rollback_started", "rollback_finished")
    ]
    print("       " + ", ".join(f"{e['type']} {after(e)}" for e in chain)
          + f" (reading {failing[0]['data'].get('value'):.3f})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0, help="prometheus breaker, s")
    parser.add_argument("--failure-limit", type=int, default=0, help="prometheus breaker")
    parser.add_argument("--window", type=float, help="builtin breaker window, s (plan: 2)")
    parser.add_argument("--only", choices=BREAKERS, help="run one breaker only")
    parser.add_argument("--weight", type=int, default=10, help="canary weight, %%")
    parser.add_argument("--healthy", type=float, default=0.0,
                        help="seconds the canary answers well before the fault")
    args = parser.parse_args()
    breakers = [args.only] if args.only else list(BREAKERS)

    print(f"machine: {machine()}")
    times: dict[str, list[float]] = {b: [] for b in BREAKERS}
    with Rig() as rig:
        cli = ShipsafeCLI(rig.workdir / "state.db", actor="bench")
        for i in range(args.runs):
            for breaker in breakers:  # alternated, so both meet the same machine load
                t = one_run(rig, cli, breaker, args.interval, args.failure_limit, args.window,
                            args.weight, args.healthy)
                times[breaker].append(t)
                print(f"run {i + 1:2} {breaker:10}: {t:.3f}s", flush=True)
        load = rig.load_rate
    scrape = float(SCRAPE_INTERVAL.rstrip("s"))
    prom_target = scrape + args.interval + 1.0
    window = f"{args.window:g}s" if args.window is not None else "2s"
    labels = {
        "builtin": f"builtin errorRate (show stat every 250ms, window {window})",
        "prometheus": f"prometheus (scrape {scrape:g}s, interval {args.interval:g}s, [10s])",
    }
    print(
        f"detection to rollback over {args.runs} runs each (s), fault: every canary answer "
        f"5xx at {args.weight}% after {args.healthy:g}s healthy, load {load:g} req/s\n"
        f"  {'breaker':<56} {'p50':>7} {'p95':>7} {'min':>7} {'max':>7}"
    )
    for breaker in breakers:
        t = times[breaker]
        print(
            f"  {labels[breaker]:<56} {percentile(t, 50):7.3f} {percentile(t, 95):7.3f} "
            f"{min(t):7.3f} {max(t):7.3f}"
        )
    for breaker in breakers:
        print(f"{breaker}: {summary(times[breaker])}")
    if times["builtin"]:
        b = times["builtin"]
        met = percentile(b, 50) <= 0.5 and percentile(b, 95) <= 1.0
        print("target builtin p50 <= 0.5s and p95 <= 1s: " + ("met" if met else "MISSED"))
    if times["prometheus"]:
        p50 = percentile(times["prometheus"], 50)
        print(
            f"target prometheus p50 <= {prom_target:g}s: "
            + ("met" if p50 <= prom_target else "MISSED")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
