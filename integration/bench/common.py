"""What every benchmark prints: the machine, the date, and percentiles."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.3f}  p95 {percentile(values, 95):.3f}  "
        f"min {min(values):.3f}  max {max(values):.3f}  mean {statistics.fmean(values):.3f}"
    )


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "?"


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                "?",
            )
    except OSError:
        pass
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z; {platform.system()} {platform.release()}; "
        f"{os.cpu_count()} CPUs ({cpu}); Python {platform.python_version()}; "
        f"{_version(['haproxy', '-v'])}; {_version(['prometheus', '--version'])}"
    )
