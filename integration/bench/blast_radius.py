"""Blast radius: for the same bad release (5xx on the canary) and the same breakers, count
the failed requests users received during the rollout under shipsafe's canary (first weight
5%) and under an all-at-once switch (100% at once), then their ratio.

    python -m integration.bench.blast_radius [--runs 3] [--interval 1] [--failure-limit 0]
    python -m integration.bench.blast_radius --default-plan [--runs 10]

Both plans are plans/local-canary.yaml with the same analysis and breakers (interval and
failureLimit from the command line, as in the detection benchmark); only the steps differ:
`setWeight 5, pause 10m` versus `setWeight 100, pause 10m`. Failed requests are counted by
the load generator from just before `shipsafe deploy` starts until it exits (rolled back).
Target: canary <= 1.5 x (5 / 100) x all-at-once.

`--default-plan` counts instead the failed requests users saw with plans/local-canary.yaml
exactly as it ships (first weight 5%, its built-in error-rate breaker and analysis), the
same fault from the start. Target: <= 5 failed requests.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from integration.bench.common import machine
from integration.rig import Rig
from integration.shipsafe_cli import ShipsafeCLI

FIRST_WEIGHT = 5


def plan_for(rig: Rig, weight: int, interval: float, failure_limit: int) -> dict:
    plan = rig.plan()
    for template in plan["analysis"].values():
        template["interval"] = f"{interval:g}s"
        template["failureLimit"] = failure_limit
    plan["steps"] = [{"setWeight": weight}, {"pause": {"duration": "10m"}}]
    return plan


def failed_requests(
    rig: Rig, cli: ShipsafeCLI, weight: int, interval: float, failure_limit: int, share: float
) -> int:
    rig.reset()
    rig.wait_canary_idle()  # earlier runs' canary traffic must not dilute the error rate
    rig.canary.set_faults(error_share=share)
    plan = rig.write_plan(plan_for(rig, weight, interval, failure_limit), name="blast.yaml")
    mark = rig.load.now()
    finished = cli.deploy(plan).wait(timeout=90)
    if finished.code != 3:
        raise AssertionError(f"expected a rollback (3), got {finished.code}")
    return rig.load.tally(since=mark, until=rig.load.now()).total_errors


def default_plan_failures(rig: Rig, cli: ShipsafeCLI, share: float) -> tuple[int, str]:
    """Failed requests, and what rolled the canary back."""
    rig.reset()
    rig.wait_canary_idle()
    rig.canary.set_faults(error_share=share)
    plan = rig.write_plan(name="default.yaml")
    mark = rig.load.now()
    finished = cli.deploy(plan).wait(timeout=90)
    if finished.code != 3:
        raise AssertionError(f"expected a rollback (3), got {finished.code}")
    cause = str(finished.result.get("message", "")).split(" - ", 1)[-1][:70]
    return rig.load.tally(since=mark, until=rig.load.now()).total_errors, cause


def main_default_plan(runs: int, share: float) -> int:
    print(f"machine: {machine()}")
    counts: list[int] = []
    with Rig() as rig:
        cli = ShipsafeCLI(rig.workdir / "state.db", actor="bench")
        for i in range(runs):
            failed, cause = default_plan_failures(rig, cli, share)
            counts.append(failed)
            print(f"run {i + 1:2}: {failed} failed requests ({cause})", flush=True)
        rate = rig.load_rate
    mean = statistics.fmean(counts)
    print(
        f"failed requests users received with plans/local-canary.yaml as shipped (first "
        f"weight {FIRST_WEIGHT}%), every canary answer 5xx from the start, load {rate:g} "
        f"req/s, {runs} runs: mean {mean:.1f}, max {max(counts)}, each {counts}\n"
        "target <= 5: " + ("met" if mean <= 5 else "MISSED")
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0, help="breaker interval, s")
    parser.add_argument("--failure-limit", type=int, default=0)
    parser.add_argument("--error-share", type=float, default=1.0)
    parser.add_argument("--default-plan", action="store_true")
    args = parser.parse_args()
    if args.default_plan:
        return main_default_plan(args.runs, args.error_share)

    print(f"machine: {machine()}")
    counts: dict[str, list[int]] = {"canary": [], "all-at-once": []}
    with Rig() as rig:
        cli = ShipsafeCLI(rig.workdir / "state.db", actor="bench")
        for i in range(args.runs):
            for mode, weight in (("canary", FIRST_WEIGHT), ("all-at-once", 100)):
                n = failed_requests(
                    rig, cli, weight, args.interval, args.failure_limit, args.error_share
                )
                counts[mode].append(n)
                print(f"run {i + 1} {mode:11}: {n} failed requests", flush=True)
        rate = rig.load_rate
    canary = statistics.fmean(counts["canary"])
    at_once = statistics.fmean(counts["all-at-once"])
    ratio = canary / at_once if at_once else float("nan")
    bound = 1.5 * FIRST_WEIGHT / 100
    print(
        f"failed requests users received (mean of {args.runs}): canary (first weight "
        f"{FIRST_WEIGHT}%) {canary:.1f}, all-at-once {at_once:.1f}, ratio {ratio:.3f}\n"
        f"breaker interval {args.interval:g}s, failureLimit {args.failure_limit}, the plan's "
        f"breakerWarmup, error share {args.error_share:g}, load {rate:g} req/s\n"
        f"target ratio <= 1.5 x {FIRST_WEIGHT}/100 = {bound:.3f}: "
        + ("met" if ratio <= bound else "MISSED")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
