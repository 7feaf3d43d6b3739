"""What a router's own counters say of one target, and the Protocol of their readers.

Kept apart from router_counters.py (the metric source built on them) so the readers
(haproxy_stats.py, cloudwatch_counters.py) and the source import this leaf, not each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Counters:
    """One target's counts (cumulative, or summed over a window) and its mean latency in s."""

    requests: float
    errors: float
    latency: float | None = None


class CounterReader(Protocol):
    """Reads both targets' counters from the router (or its metrics service)."""

    # True: counters grow from the router's start and readings are their deltas;
    # False: read() already sums over the window it is given
    cumulative: bool
    servers: tuple[str, str]  # (stable, canary) as the plan's {{stable}} / {{canary}} name them

    def read(self, window_seconds: float) -> dict[str, Counters]:
        """Counters of both servers. Raises ProviderError (or ConfigurationError)."""
        ...
