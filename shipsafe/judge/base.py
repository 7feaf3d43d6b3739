"""What every statistical judge takes and returns.

A judge is a pure function: the readings of one metric for the canary and for its baseline
go in, a `Verdict` comes out. Nothing here does I/O or imports numpy, so the engine, the
plan and the CLI can import this module for free; each judge imports its heavy libraries
inside the function that needs them.

Two shapes of input:

* `Samples` - values of a metric (latencies, per-interval error rates, CPU...), one
  sequence for the canary and one for the baseline. NaN marks a missing reading.
* `Counts` - events and trials per reading (errors and requests in each interval), the
  increments since the previous reading, oldest first, for each side.

A `Verdict` says pass, marginal (a human decides), fail, or undecided (a sequential test
that has not yet seen enough evidence either way; look again later).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    MARGINAL = "marginal"
    FAIL = "fail"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Samples:
    """One metric's values for the canary (the experiment) and the baseline (the control)."""

    canary: Sequence[float]
    baseline: Sequence[float]


@dataclass(frozen=True)
class Counts:
    """Events out of trials per reading, for each side; increments, oldest first."""

    canary_events: Sequence[float]
    canary_trials: Sequence[float]
    baseline_events: Sequence[float]
    baseline_trials: Sequence[float]


@dataclass(frozen=True)
class Interval:
    """A confidence interval (or sequence) for the effect the judge measures."""

    low: float
    high: float
    effect: str  # what the bounds are about: "rate ratio", "shift", "median shift"...

    def __str__(self) -> str:
        return f"{self.effect} in [{self.low:.6g}, {self.high:.6g}]"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    interval: Interval | None = None
    estimate: float | None = None
    score: float | None = None  # Kayenta's summary score (0..100); None for other judges


class Judge(Protocol):
    """A judge: canary and baseline readings in, a verdict out. Pure: no I/O, no clock."""

    def __call__(self, data: Samples | Counts) -> Verdict: ...
