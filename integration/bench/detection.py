"""Detection to rollback: switch on 5xx on the canary at 10% weight and time how long until
HAProxy's canary weight reads 0 (read over the runtime API every 20 ms), over N runs.

    python -m integration.bench.detection [--runs 10] [--interval 1] [--failure-limit 0]

The plan is plans/local-canary.yaml with its steps replaced by `setWeight 10, pause 10m`
and its breakers' interval / failureLimit set from the command line. Target: p50 no more
than scrape interval + analysis interval + 1 s.
"""

from __future__ import annotations

import argparse
import sys
import time

from integration.bench.common import machine, percentile, summary
from integration.rig import Rig
from integration.rig.prometheus import SCRAPE_INTERVAL
from integration.rig.waiting import wait_until
from integration.shipsafe_cli import ShipsafeCLI


def tune(plan: dict, interval: float, failure_limit: int) -> dict:
    for template in plan["analysis"].values():
        template["interval"] = f"{interval:g}s"
        template["failureLimit"] = failure_limit
    plan["steps"] = [{"setWeight": 10}, {"pause": {"duration": "10m"}}]
    return plan


def one_run(rig: Rig, cli: ShipsafeCLI, interval: float, failure_limit: int, share: float) -> float:
    rig.reset()
    plan = rig.write_plan(tune(rig.plan(), interval, failure_limit), name="detection.yaml")
    running = cli.deploy(plan)
    try:
        # the breakers are measuring and content: the canary is live at 10%
        running.wait_for_type("measurement", timeout=30, run="breakers", phase="successful")
        assert rig.haproxy.weights() == {"stable": 90, "canary": 10}
        rig.canary.set_faults(error_share=share)
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
    parser.add_argument("--interval", type=float, default=1.0, help="breaker interval, s")
    parser.add_argument("--failure-limit", type=int, default=0)
    parser.add_argument("--error-share", type=float, default=1.0)
    args = parser.parse_args()

    print(f"machine: {machine()}")
    with Rig() as rig:
        cli = ShipsafeCLI(rig.workdir / "state.db", actor="bench")
        times = []
        for i in range(args.runs):
            t = one_run(rig, cli, args.interval, args.failure_limit, args.error_share)
            times.append(t)
            print(f"run {i + 1:2}: {t:.3f}s", flush=True)
    scrape = float(SCRAPE_INTERVAL.rstrip("s"))
    target = scrape + args.interval + 1.0
    print(
        f"detection to rollback over {len(times)} runs (s): {summary(times)}\n"
        f"scrape interval {scrape:g}s, breaker interval {args.interval:g}s, "
        f"failureLimit {args.failure_limit}, error share {args.error_share:g}, "
        f"query window 10s, load {rig.load_rate:g} req/s\n"
        f"target p50 <= {target:g}s: " + ("met" if percentile(times, 50) <= target else "MISSED")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
