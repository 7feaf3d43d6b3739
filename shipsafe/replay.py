"""`shipsafe replay`: a plan's checks, breakers and judges run over recorded data.

The rollout engine runs exactly as in a live deploy - the same preflight, steps, analysis,
breakers, judges and rollback - with three things swapped: a fake clock that starts at
`--from`, a router that lives in memory, and metric sources that answer from recorded data
(a capture) as of the fake clock. Nothing outside the process is touched.

A capture holds, for every query the plan can send, the series recorded over the replayed
range: `{"version": 1, "resolution": s, "series": {query: [[unix_s, value], ...]}}`. An
instant query at time t answers the last point at or before t that is at most `STALENESS`
old (Prometheus's own look-back rule), a range query the same at every step of its grid.
A capture is read from a file, or fetched from Prometheus range queries (and may be saved).
"""

from __future__ import annotations

import json
import math
import tempfile
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shipsafe.errors import ConfigurationError, PlanError, ProviderError
from shipsafe.plan.models import Plan, render_query
from shipsafe.plan.steps import step_kind
from shipsafe.providers.metrics.base import MetricQuery, QueryResult, RangeResult, RangeSource
from shipsafe.records import Event, Phase

STALENESS = 300.0  # seconds: a point older than this is no data (Prometheus' default)
MAX_POINTS = 10_000  # per range request (Prometheus refuses more than 11,000)
UNSUPPORTED_STEPS = {"snapshot", "migrate", "cutover"}


@dataclass
class Capture:
    """Recorded series by query text."""

    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    resolution: float = 1.0

    def value_at(self, text: str, t: float) -> float | None:
        points = self.series.get(text)
        if points is None:
            raise ProviderError(f"replay: query {text!r} is not in the capture")
        i = bisect_right(points, (t, math.inf))
        if i == 0 or t - points[i - 1][0] > STALENESS:
            return None
        value = points[i - 1][1]
        return None if math.isnan(value) else value

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "version": 1,
                    "resolution": self.resolution,
                    "series": {q: [list(p) for p in pts] for q, pts in self.series.items()},
                }
            )
        )

    @classmethod
    def load(cls, path: Path) -> Capture:
        try:
            raw = json.loads(path.read_text())
            series = {
                str(q): sorted((float(t), float(v)) for t, v in pts)
                for q, pts in raw["series"].items()
            }
            return cls(series=series, resolution=float(raw.get("resolution", 1.0)))
        except OSError as exc:
            raise ConfigurationError(f"replay: cannot read capture {path}: {exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(
                f"replay: {path} is not a capture file ({type(exc).__name__}: {exc})"
            ) from None


class CapturedSource:
    """A metric source answering from a capture as of the replay clock."""

    def __init__(self, name: str, capture: Capture, now: Any) -> None:
        self.name = name
        self.capture = capture
        self._now = now

    def query(self, query: MetricQuery) -> QueryResult:
        t = self._now().timestamp()
        return QueryResult(self.capture.value_at(query.text, t), sent=f"{query.text} @ {t:.0f}")

    def query_range(self, text: str, start: float, end: float, step: float) -> RangeResult:
        points = []
        t = start
        while t <= end + 1e-9:
            value = self.capture.value_at(text, t)
            if value is not None:
                points.append((t, value))
            t += step
        return RangeResult(tuple(points), sent=f"{text} @ [{start:.0f}, {end:.0f}] step {step:g}")

    def check(self) -> None:
        return None


class MemoryRouter:
    """Two targets whose weights live in this process only."""

    name = "replay"

    def __init__(self) -> None:
        self.canary = 0

    def check(self) -> None:
        return None

    def get_weight(self) -> int:
        return self.canary

    def set_weight(self, canary_percent: int) -> None:
        self.canary = canary_percent

    def promote(self) -> None:
        self.canary = 100

    def read_state(self) -> dict[str, Any]:
        return {"canary": self.canary}

    def restore(self, state: dict[str, Any]) -> None:
        self.canary = int(state["canary"])

    def config(self) -> dict[str, Any]:
        return {"router": "replay (in memory)"}


class ReplayProviders:
    def __init__(self, capture: Capture, now: Any) -> None:
        self.router_instance = MemoryRouter()
        self.capture = capture
        self._now = now

    def router(self, name: str, config: dict[str, Any]) -> MemoryRouter:
        return self.router_instance

    def metric_source(self, name: str, config: dict[str, Any]) -> CapturedSource:
        return CapturedSource(name, self.capture, self._now)

    def data_snapshot(self, name: str, config: dict[str, Any]) -> Any:
        raise ConfigurationError("replay takes no data snapshots")


def check_replayable(plan: Plan) -> None:
    kinds = sorted({step_kind(s) for s in plan.effective_steps()} & UNSUPPORTED_STEPS)
    if kinds or plan.blue_green:
        what = ", ".join(kinds) if kinds else "a blue/green cutover"
        raise PlanError(
            f"replay runs weights, pauses, analysis, breakers and judges; this plan has {what}"
        )


def without_builtin(plan: Plan) -> Plan:
    """The plan without its built-in checks: they read the router's live counters, which a
    capture does not hold, so a replay judges the rollout on its queries and judges alone."""
    builtin = {name for name, t in plan.analysis.items() if t.builtin is not None}
    if not builtin:
        return plan
    data = plan.canonical()
    data["analysis"] = {k: v for k, v in data["analysis"].items() if k not in builtin}
    data["breakers"] = [b for b in data.get("breakers", []) if b["analysis"] not in builtin]
    steps = []
    for step in data["steps"]:
        spec = step.get("analysis") if isinstance(step, dict) else None
        if isinstance(spec, dict) and "templates" in spec:
            kept = [t for t in spec["templates"] if t not in builtin]
            if not kept:
                continue
            step = {**step, "analysis": {**spec, "templates": kept}}
        steps.append(step)
    data["steps"] = steps
    return Plan.model_validate(data)


def queries(plan: Plan) -> dict[str, set[str]]:
    """Every query text the plan can send, by metric source: rendered for the canary, and
    for the stable target as preflight sends them."""
    variables = plan.variables()
    as_stable = {**variables, "canary": plan.target.stable_name}
    out: dict[str, set[str]] = {}
    for template in plan.analysis.values():
        texts = [template.query] if template.query else []
        if template.judge is not None:
            texts += [q for m in template.judge.metrics for q in m.queries().values()]
        for text in texts:
            for v in (variables, as_stable):
                out.setdefault(template.source_key, set()).add(render_query(text, v))
    return out


def resolution_for(plan: Plan) -> float:
    """The finest time a check looks at: its interval, or a judge's step (at least 1 s)."""
    times = [t.effective_interval for t in plan.analysis.values()]
    times += [t.judge.step for t in plan.analysis.values() if t.judge is not None]
    return max(1.0, min(times, default=10.0))


def fetch(
    plan: Plan,
    sources: dict[str, RangeSource],
    start: datetime,
    end: datetime,
    resolution: float,
) -> Capture:
    """Record every query of the plan from its (Prometheus) sources over [start, end]."""
    capture = Capture(resolution=resolution)
    t0, t1 = start.timestamp(), end.timestamp()
    for source, texts in queries(plan).items():
        if source not in sources:
            raise ConfigurationError(
                f"replay: metric source {source!r} cannot answer range queries; record a "
                "capture file instead (--capture)"
            )
        for text in sorted(texts):
            points: list[tuple[float, float]] = []
            chunk_start = t0
            while chunk_start <= t1:
                chunk_end = min(t1, chunk_start + resolution * (MAX_POINTS - 1))
                result = sources[source].query_range(text, chunk_start, chunk_end, resolution)
                points += [p for p in result.points if not points or p[0] > points[-1][0]]
                chunk_start = chunk_end + resolution
            capture.series[text] = points
    return capture


@dataclass
class ReplayResult:
    phase: Phase
    stopped: str  # why the replay ended
    events: list[Event]
    started_at: datetime


@contextmanager
def _store() -> Iterator[Any]:
    from shipsafe.store.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory(prefix="shipsafe-replay-") as tmp:
        store = SQLiteStore.open(Path(tmp) / "replay.db")
        try:
            yield store
        finally:
            store.close()


def run(plan: Plan, capture: Capture, start: datetime, end: datetime) -> ReplayResult:
    """Drive the plan from `start` with the fake clock until it ends, needs a human, or
    the recorded data ends (`end`)."""
    import socket

    from shipsafe.clock import FakeClock
    from shipsafe.engine.context import EngineContext, RecordedApprovals
    from shipsafe.engine.control import start_deploy
    from shipsafe.records import Actor, ActorKind

    check_replayable(plan)
    plan = without_builtin(plan)
    clock = FakeClock(start)
    events: list[Event] = []
    with _store() as store:
        ctx = EngineContext(
            store=store,
            clock=clock,
            providers=ReplayProviders(capture, clock.now),
            actor=Actor(id="replay", kind=ActorKind.HUMAN, host=socket.gethostname()),
            subscribers=[events.append],
            approvals=RecordedApprovals(),
        )
        engine = start_deploy(ctx, plan)
        key = engine.record.lock_key
        while True:
            wake = engine.tick()
            phase = engine.record.phase
            if phase.terminal or phase == Phase.ROLLBACK_FAILED:
                stopped = f"the rollout ended: {phase.value}"
                break
            if engine.waiting_for_human:
                stopped = f"the rollout waits for a human ({phase.value}); replay stops here"
                break
            now = clock.now()
            if now >= end:
                stopped = f"the recorded data ends at {end:%Y-%m-%d %H:%M:%S}Z"
                break
            store.renew_lock(key, ctx.holder, now, ctx.lease_seconds)
            delay = ctx.poll_seconds
            if wake is not None:
                delay = min(max((wake - now).total_seconds(), 0.0), ctx.poll_seconds)
            clock.sleep(min(delay, (end - now).total_seconds()) or ctx.poll_seconds)
        return ReplayResult(engine.record.phase, stopped, events, start)


def offset(event: Event, start: datetime) -> str:
    seconds = int((event.time - start) / timedelta(seconds=1))
    return f"+{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
