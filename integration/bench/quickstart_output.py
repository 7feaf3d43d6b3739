"""How much the quick start prints: its whole output, and the lines that are one measurement
each (issue 12 counted 45 of 121 before measurements were folded into one line per check).

    python -m integration.bench.quickstart_output

Runs the quick start (the rig, a good release promoted, a bad one rolled back, the report)
with its output to a pipe, as a CI log sees it, and prints the counts. About a minute.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

# one measurement a line: "error-rate = 0.001 (result < 0.05) successful [breaker]" (before),
# "error-rate failing: 0.27 (result < 0.05) [breaker]" (a check changing state, now)
MEASUREMENT = re.compile(
    r"( = \S+ .*\[(breaker|step-\d+)\]$)|( (failing|erroring|passing again): )"
)


def main() -> int:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "integration.quickstart"], capture_output=True,
                          text=True, timeout=600)
    lines = done.stdout.splitlines()
    measurements = [line for line in lines if MEASUREMENT.search(line)]
    print(f"quick start exit {done.returncode} in {time.monotonic() - started:.0f}s")
    print(f"output lines: {len(lines)}")
    print(f"lines that are one measurement: {len(measurements)}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
