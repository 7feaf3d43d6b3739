"""CLI start-up: wall time of `shipsafe --help` and `shipsafe validate plans/local-canary.yaml`
against `python -c pass`, over repeated runs (the installed console script, as users run it).

    python -m integration.bench.startup [--runs 20]

Target: under 0.3 s above the bare interpreter (heavy libraries imported only where used).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from integration.bench.common import machine, percentile, summary
from integration.rig.plans import LOCAL_CANARY

TARGET_ABOVE_BARE = 0.3


def shipsafe_command() -> list[str]:
    beside = Path(sys.executable).with_name("shipsafe")
    found = str(beside) if beside.exists() else shutil.which("shipsafe")
    return [found] if found else [sys.executable, "-m", "shipsafe"]


def wall_times(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise AssertionError(f"{argv} exited {done.returncode}: {done.stderr[-500:]!r}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    print(f"machine: {machine()}")
    shipsafe = shipsafe_command()
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "shipsafe --help": [*shipsafe, "--help"],
        # the plan's release.version is ${RIG_RELEASE}, expanded by shipsafe: give it one
        "shipsafe validate": [*shipsafe, "validate", str(LOCAL_CANARY),
                              "--set", "release.version=1.0.0"],
    }
    wall_times(cases["shipsafe --help"], 2)  # warm the page cache and .pyc files
    medians = {}
    for name, argv in cases.items():
        times = wall_times(argv, args.runs)
        medians[name] = percentile(times, 50)
        print(f"{name:18} over {args.runs} runs (s): {summary(times)}", flush=True)
    bare = medians["python -c pass"]
    for name in ("shipsafe --help", "shipsafe validate"):
        above = medians[name] - bare
        verdict = "met" if above < TARGET_ABOVE_BARE else "MISSED"
        print(f"{name}: {above:.3f}s above the bare interpreter (p50); target < 0.3s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
