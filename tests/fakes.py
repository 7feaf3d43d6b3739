"""Fakes beside the real things: a router, metric sources and a provider factory.

They satisfy the same Protocols as the real providers and pass the same contract suite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.providers.metrics.base import MetricQuery, QueryResult, RangeResult


class FakeRouter:
    """Two servers with weights; failures can be injected per operation."""

    name = "fake"

    def __init__(self, stable: int = 100, canary: int = 0) -> None:
        self.weights = {"stable": stable, "canary": canary}
        self.calls: list[tuple[str, Any]] = []
        self.fail: dict[str, Exception] = {}  # operation -> exception to raise
        self.fail_times: dict[str, int] = {}  # operation -> how many calls fail
        self.ignore_sets = False  # accept set_weight but do not apply it
        self.restore_corrupts = False  # restore writes something else
        self.on_set: Callable[[int], None] | None = None

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail:
            left = self.fail_times.get(op)
            if left is None or left > 0:
                if left is not None:
                    self.fail_times[op] = left - 1
                raise self.fail[op]

    def check(self) -> None:
        self._maybe_fail("check")

    def get_weight(self) -> int:
        self._maybe_fail("get")
        s, c = self.weights["stable"], self.weights["canary"]
        if s + c == 0:
            raise ProviderError("both weights 0")
        return round(100 * c / (s + c))

    def set_weight(self, canary_percent: int) -> None:
        self.calls.append(("set", canary_percent))
        self._maybe_fail("set")
        if not self.ignore_sets:
            self.weights = {"stable": 100 - canary_percent, "canary": canary_percent}
        if self.on_set:
            self.on_set(canary_percent)

    def read_state(self) -> dict[str, Any]:
        self._maybe_fail("read")
        return {"weights": dict(self.weights)}

    def restore(self, state: dict[str, Any]) -> None:
        self.calls.append(("restore", state))
        self._maybe_fail("restore")
        self.weights = dict(state["weights"])
        if self.restore_corrupts:
            self.weights["canary"] += 1

    def config(self) -> dict[str, Any]:
        return {"fake": True}


class FakeMetrics:
    """Answers queries from a function of the query text (value, None for no data, or raise)."""

    def __init__(self, answer: Callable[[str], float | None] | float | None = 0.0) -> None:
        self.answer = answer
        self.queries: list[str] = []
        self.args: list[dict[str, Any]] = []
        self.down = False

    def query(self, query: MetricQuery) -> QueryResult:
        self.queries.append(query.text)
        self.args.append(dict(query.args))
        if self.down:
            raise ProviderError("fake metrics unreachable")
        value = self.answer(query.text) if callable(self.answer) else self.answer
        return QueryResult(value=value, sent=query.text)

    def check(self) -> None:
        if self.down:
            raise ProviderError("fake metrics unreachable")

    # range queries (judge checks): `series(text, start, end, step)` gives the values at
    # start, start + step, ... up to end; None for a point, or a whole None, is missing
    series: Callable[[str, float, float, float], list[float | None] | None] | None = None

    def query_range(self, text: str, start: float, end: float, step: float) -> RangeResult:
        self.queries.append(text)
        if self.down:
            raise ProviderError("fake metrics unreachable")
        values = self.series(text, start, end, step) if self.series else None
        points = tuple((start + i * step, v) for i, v in enumerate(values or []) if v is not None)
        return RangeResult(points=points, sent=text)


class FakeProviders:
    """A ProviderFactory handing out the same fake instances, whatever the plan says."""

    def __init__(
        self,
        router: FakeRouter | None = None,
        metrics: FakeMetrics | None = None,
        sources: dict[str, Any] | None = None,
    ):
        self.router_instance = router or FakeRouter()
        self.metrics_instance = metrics or FakeMetrics()
        self.sources = sources or {}  # metric source name -> its instance (else `metrics`)
        self.routers_built: list[tuple[str, dict[str, Any]]] = []
        self.sources_built: list[tuple[str, dict[str, Any]]] = []

    def router(self, name: str, config: dict[str, Any]) -> FakeRouter:
        self.routers_built.append((name, config))
        return self.router_instance

    def metric_source(self, name: str, config: dict[str, Any]) -> Any:
        self.sources_built.append((name, config))
        return self.sources.get(name, self.metrics_instance)

    def data_snapshot(self, name: str, config: dict[str, Any]) -> Any:
        raise ConfigurationError(f"no fake data snapshot provider {name}")


class FakeDataSnapshots:
    """Data snapshots kept in memory: `snapshots` maps an id to the data it holds; a test
    alters or deletes one there. `down` makes every call fail as a translated error does."""

    name = "fake"

    def __init__(self, data: str = "orders v1") -> None:
        self.data = data
        self.snapshots: dict[str, str] = {}
        self.down = False

    def take(self, label: str) -> dict[str, Any]:
        if self.down:
            raise ProviderError("fake snapshots unreachable")
        snapshot_id = f"fake-{len(self.snapshots) + 1}-{label.replace(' ', '-')}"
        self.snapshots[snapshot_id] = self.data
        return {"provider": "fake", "id": snapshot_id, "status": "available", "data": self.data}

    def verify(self, record: dict[str, Any]) -> None:
        if self.down:
            raise ProviderError("fake snapshots unreachable")
        held = self.snapshots.get(str(record.get("id")))
        if held is None:
            raise ProviderError(f"fake snapshot {record.get('id')} is gone")
        if held != record.get("data"):
            raise ProviderError(f"fake snapshot {record.get('id')} changed since it was taken")

    def restore_hint(self, record: dict[str, Any]) -> str:
        return f"restore the fake data from snapshot {record.get('id')}"
