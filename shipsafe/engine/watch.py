"""Between ticks: measure a built-in errorRate breaker as soon as the router counts new errors.

A breaker is measured on its interval (250 ms in the quick start). HAProxy pushes nothing, but
reading its counters costs about 0.4 ms, so while the driver waits for the next tick it asks
every WATCH_SECONDS whether the canary answered new errors since the breaker's last reading;
when it did, the breaker is due now. A healthy canary adds no measurement (only a read), and
every early reading is an ordinary one: same window, same condition, same limits, so the
evidence a trip needs is unchanged; only the wait for the next interval goes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from shipsafe.engine import analysis
from shipsafe.providers.metrics.base import ErrorWatch

if TYPE_CHECKING:
    from shipsafe.engine.rollout import RolloutEngine

# how often the driver asks the router's counters for new errors while it waits
WATCH_SECONDS = 0.05


def _watched(engine: RolloutEngine) -> list[str]:
    """Breakers that are running, have read once (past their warm-up), are not due yet and
    are a built-in errorRate."""
    from shipsafe.engine.rollout import WATCHED

    run = engine.runtime.breakers
    if run is None or engine.record.phase not in WATCHED:
        return []
    now = engine.now()
    return [
        name
        for name, m in run.metrics.items()
        if engine.plan.analysis[name].builtin == "errorRate"
        and m.measured > 0
        and m.next_due is not None
        and m.next_due > now
    ]


def watching(engine: RolloutEngine) -> bool:
    return bool(_watched(engine))


def errors_arrived(engine: RolloutEngine) -> bool:
    """Make every watched breaker whose subject answered new errors due now; True if any."""
    names = _watched(engine)
    run = engine.runtime.breakers
    if not names or run is None:
        return False
    now, variables, arrived = engine.now(), engine.plan.variables(), False
    for name in names:
        template = engine.plan.analysis[name]
        source = engine.source(template.source_key)
        query = analysis.query_for(template, variables)
        if isinstance(source, ErrorWatch) and source.errors_since_last_reading(query):
            run.metrics[name].next_due = now
            arrived = True
    return arrived


def sleep(engine: RolloutEngine, seconds: float, interrupted: Callable[[], bool]) -> None:
    """The driver's wait between ticks: in WATCH_SECONDS slices while a built-in errorRate
    breaker is watched, ending early when errors arrive (or `interrupted()`)."""
    clock = engine.ctx.clock
    if seconds <= WATCH_SECONDS or not watching(engine):
        clock.sleep(seconds)
        return
    until = clock.now() + timedelta(seconds=seconds)
    while True:
        left = (until - clock.now()).total_seconds()
        if left <= 0:
            return
        clock.sleep(min(WATCH_SECONDS, left))
        if interrupted() or errors_arrived(engine):
            return
