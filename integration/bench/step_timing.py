"""Step timing after a slow weight change, on the rig: HAProxy's runtime API refuses
connections for `--block` seconds while `setWeight 20` is due, then a `pause: 3s` and an
analysis with `initialDelay: 4s` follow. Printed per run, from shipsafe's own events:

  - the weight change: from its intent to the router reading it back (the block),
  - the pause: from the read-back of 20% to the next weight intent (target: >= 3 s),
  - step_started.until minus the event's own time (target: never negative),
  - the analysis' first measurement after the read-back of 30% (target: >= 4 s).

    python -m integration.bench.step_timing [--runs 3] [--block 6]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from integration.bench.common import machine, summary
from integration.rig import Rig
from integration.shipsafe_cli import Event, Finished, ShipsafeCLI

PAUSE = 3.0
INITIAL_DELAY = 4.0


def at(event: Event) -> datetime:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00"))


def first(finished: Finished, type_: str, **data: Any) -> Event:
    return next(
        e for e in finished.of_type(type_)
        if all((e.get("data") or {}).get(k) == v for k, v in data.items())
    )


def one_run(rig: Rig, cli: ShipsafeCLI, block: float) -> dict[str, float]:
    rig.reset()
    plan = rig.plan(RIG_HAPROXY_SOCKET=str(rig.gate.path))
    # checks on Prometheus only: the built-in error rate reads the refused runtime API too
    plan["breakers"] = [{"analysis": "latency-p95"}]
    plan["analysis"]["latency-p95"]["initialDelay"] = f"{INITIAL_DELAY:g}s"
    plan["steps"] = [
        {"setWeight": 10},
        {"pause": {"duration": "1s"}},
        {"setWeight": 20},
        {"pause": {"duration": f"{PAUSE:g}s"}},
        {"setWeight": 30},
        {"analysis": {"templates": ["latency-p95"]}},
    ]
    running = cli.deploy(rig.write_plan(plan, name="step-timing.yaml"))
    running.wait_for_type("step_started", timeout=30, step=2, kind="pause")
    rig.gate.refuse_for(block + 4.0)  # setWeight 20 comes ~4 s on (breaker evidence at 10%)
    finished = running.wait(timeout=120)
    if finished.code != 0:
        raise AssertionError(finished.transcript())
    read_20 = first(finished, "weight_verified", weight=20)
    read_30 = first(finished, "weight_verified", weight=30)
    measured = [
        e for e in finished.of_type("measurement")
        if e["data"]["run"].startswith("step-6") and at(e) >= at(read_30)
    ]
    untils = [
        (datetime.fromisoformat(e["data"]["until"]) - at(e)).total_seconds()
        for e in finished.of_type("step_started") if "until" in e["data"]
    ]
    return {
        "weight change (s)": (at(read_20) - at(first(finished, "weight_intent", weight=20)))
        .total_seconds(),
        "pause from read-back (s)": (at(first(finished, "weight_intent", weight=30))
                                     - at(read_20)).total_seconds(),
        "until - now, lowest (s)": min(untils),
        "1st analysis after read-back (s)": (at(measured[0]) - at(read_30)).total_seconds(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--block", type=float, default=6.0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"block {args.block:g} s, pause {PAUSE:g} s, initialDelay {INITIAL_DELAY:g} s")
    rows: dict[str, list[float]] = {}
    with Rig() as rig, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            cli = ShipsafeCLI(Path(tmp) / f"state-{i}.db", actor="bench")
            started = time.monotonic()
            figures = one_run(rig, cli, args.block)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
                  + f" ({time.monotonic() - started:.0f} s)", flush=True)
            for key, value in figures.items():
                rows.setdefault(key, []).append(value)
    for key, values in rows.items():
        print(f"{key:34} {summary(values)}")
    ok = (
        min(rows["pause from read-back (s)"]) >= PAUSE
        and min(rows["until - now, lowest (s)"]) >= 0
        and min(rows["1st analysis after read-back (s)"]) >= INITIAL_DELAY
    )
    print("targets " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
