"""The metric source Protocol: run a query, get one number or "no data"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class MetricQuery:
    """A query after variable substitution, with what the provider may need besides it."""

    text: str
    window_seconds: float = 60.0
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryResult:
    """`value` None means the source answered but had no data (fail closed upstream).
    `readings`: what a built-in check read of each side (canary, stable), for conditions
    that compare them."""

    value: float | None
    sent: str
    detail: str = ""
    readings: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class RangeResult:
    """One series over a time range: (unix seconds, value) points, oldest first; no points
    means no data. NaN marks a point the source reported as not a number."""

    points: tuple[tuple[float, float], ...]
    sent: str


class RangeSource(Protocol):
    """A source that can also answer a query over a time range (judge checks need it)."""

    def query_range(self, text: str, start: float, end: float, step: float) -> RangeResult:
        """The query's single series from `start` to `end` (unix seconds) every `step` s.

        Raises ProviderError when the source fails or the query returns several series.
        """
        ...


@runtime_checkable
class ErrorWatch(Protocol):
    """A source that can say cheaply whether the subject of `query` answered new errors since
    the source's last reading of it (the router's own cumulative counters): the engine then
    measures that breaker at once instead of at its next interval."""

    def errors_since_last_reading(self, query: MetricQuery) -> bool:
        """True when the subject's error count grew since the last `query`; False when it
        did not, when nothing was read yet, or when the read fails (the next measurement
        reports errors for itself)."""
        ...


class MetricSource(Protocol):
    name: str

    def query(self, query: MetricQuery) -> QueryResult:
        """One number for the query, or value=None for no data.

        Raises ProviderError when the source is unreachable or answers an error, and when
        the query returns several series (name the query in the message).
        """
        ...

    def check(self) -> None:
        """Is the source online? Raises ProviderError otherwise."""
        ...


def bearer_headers(env_name: str | None, where: str) -> dict[str, str]:
    """An Authorization header from the environment variable a plan names (never the plan)."""
    if not env_name:
        return {}
    import os

    from shipsafe.errors import ProviderError

    token = os.environ.get(env_name)
    if not token:
        raise ProviderError(f"{where}: environment variable {env_name} is not set")
    return {"Authorization": f"Bearer {token}"}
