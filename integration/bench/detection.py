"""Detection to rollback, built-in HAProxy errorRate breaker beside the Prometheus breaker:
switch on 5xx for every canary answer at 10% weight and time how long until HAProxy's canary
weight reads 0 (read over the runtime API every 20 ms). Both breakers run in turn in one
invocation, on the same rig and load, and are printed side by side.

    python -m integration.bench.detection [--runs 10] [--interval 1] [--failure-limit 0]

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


def tune(plan: dict[str, Any], breaker: str, interval: float, failure_limit: int) -> dict:
    if breaker == "builtin":
        plan["analysis"]["error-rate"]["failureLimit"] = 0
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
    plan["steps"] = [{"setWeight": 10}, {"pause": {"duration": "10m"}}]
    return plan


def one_run(rig: Rig, cli: ShipsafeCLI, breaker: str, interval: float, limit: int) -> float:
    rig.reset()
    plan = rig.write_plan(tune(rig.plan(), breaker, interval, limit), name="detection.yaml")
    running = cli.deploy(plan)
    try:
        # the breaker is measuring and content: the canary is live at 10%
        running.wait_for_type("measurement", timeout=30, run="breakers", phase="successful")
        assert rig.haproxy.weights() == {"stable": 90, "canary": 10}
        rig.canary.set_faults(error_share=1.0)
        fault_on = time.monotonic()
        wait_until(lambda: rig.haproxy.weight("canary") == 0, "canary weight 0", 60, 0.02)
        detected = time.monotonic() - fault_on
        finished = running.wait(timeout=30)
        if finished.code != 3:
            raise AssertionError(f"expected a rollback (3), got {finished.code}")
        return detected
    finally:
        running.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0, help="prometheus breaker, s")
    parser.add_argument("--failure-limit", type=int, default=0, help="prometheus breaker")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    times: dict[str, list[float]] = {b: [] for b in BREAKERS}
    with Rig() as rig:
        cli = ShipsafeCLI(rig.workdir / "state.db", actor="bench")
        for i in range(args.runs):
            for breaker in BREAKERS:  # alternated, so both meet the same machine load
                t = one_run(rig, cli, breaker, args.interval, args.failure_limit)
                times[breaker].append(t)
                print(f"run {i + 1:2} {breaker:10}: {t:.3f}s", flush=True)
        load = rig.load_rate
    scrape = float(SCRAPE_INTERVAL.rstrip("s"))
    prom_target = scrape + args.interval + 1.0
    builtin, prom = times["builtin"], times["prometheus"]
    met = percentile(builtin, 50) <= 0.5 and percentile(builtin, 95) <= 1.0
    print(
        f"detection to rollback over {args.runs} runs each (s), fault: every canary answer "
        f"5xx at 10%, load {load:g} req/s\n"
        f"  {'breaker':<44} {'p50':>7} {'p95':>7} {'min':>7} {'max':>7}\n"
        f"  {'builtin errorRate (haproxy show stat, 250ms/2s)':<44} "
        f"{percentile(builtin, 50):7.3f} {percentile(builtin, 95):7.3f} "
        f"{min(builtin):7.3f} {max(builtin):7.3f}\n"
        f"  {f'prometheus (scrape {scrape:g}s, interval {args.interval:g}s, [10s])':<44} "
        f"{percentile(prom, 50):7.3f} {percentile(prom, 95):7.3f} "
        f"{min(prom):7.3f} {max(prom):7.3f}\n"
        f"builtin: {summary(builtin)}\nprometheus: {summary(prom)}\n"
        f"target builtin p50 <= 0.5s and p95 <= 1s: " + ("met" if met else "MISSED") + "\n"
        f"target prometheus p50 <= {prom_target:g}s: "
        + ("met" if percentile(prom, 50) <= prom_target else "MISSED")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
