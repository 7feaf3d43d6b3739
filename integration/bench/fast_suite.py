"""The fast suite's time: wall and CPU (user + sys of pytest and everything it started) of
`python -m pytest -q tests`, with the load average before and after (other work on the
machine stretches the wall time; the CPU time is the steadier figure).

    python -m integration.bench.fast_suite [--workers auto|N|0] [--ci] [--runs 1]

--workers: pytest-xdist workers (scripts/test's `-n auto`); 0 runs without xdist, as
`pytest -p no:xdist tests`. --ci sets CI=true (the hypothesis "ci" profile of
tests/conftest.py: 1,200-2,800 derandomised examples per property).

Target (issue 8): under 60 s wall on an idle machine, and the test count never falls.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from integration.bench.common import machine

TARGET_IDLE_WALL = 60.0
ROOT = Path(__file__).resolve().parents[2]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_once(workers: str, ci: bool) -> tuple[float, float, str]:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    argv += ["-p", "no:xdist"] if workers == "0" else ["-n", workers]
    env = {**os.environ, "CI": "true"} if ci else {
        k: v for k, v in os.environ.items() if k != "CI"
    }
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode != 0:
        raise SystemExit(f"pytest exited {done.returncode}: {last}\n{done.stdout[-3000:]}")
    return wall, cpu, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="auto", help="xdist workers; 0: no xdist")
    parser.add_argument("--ci", action="store_true", help="CI=true (hypothesis ci profile)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"workers: {args.workers}; CI={'true' if args.ci else 'unset'}")
    for n in range(1, args.runs + 1):
        before = load()
        wall, cpu, last = run_once(args.workers, args.ci)
        counted = re.search(r"(\d+) passed", last)
        print(
            f"run {n}: wall {wall:.1f} s, cpu (user+sys) {cpu:.1f} s, "
            f"tests passed {counted[1] if counted else '?'}; "
            f"load average before {before}, after {load()}  [{last}]",
            flush=True,
        )
    print(f"target: under {TARGET_IDLE_WALL:.0f} s wall on an idle machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
