"""The driver: ticks a rollout until it ends (or waits for a human, when detached),
holding and renewing the (environment, service) lease as it goes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from shipsafe.engine.rollout import RolloutEngine
from shipsafe.records import EventType, Phase, Reason
from shipsafe.runner import PARENT_ENV


@contextmanager
def parent_marker(rollout_id: str) -> Iterator[None]:
    """While a rollout is driven, every command shipsafe starts (exec router, migrations,
    hooks) inherits SHIPSAFE_PARENT_ROLLOUT: a deploy started from inside knows its parent."""
    before = os.environ.get(PARENT_ENV)
    os.environ[PARENT_ENV] = rollout_id
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = before


def drive(engine: RolloutEngine, detach: bool = False) -> Phase:
    with parent_marker(engine.record.id):
        return _drive(engine, detach)


def _drive(engine: RolloutEngine, detach: bool) -> Phase:
    """Tick until the rollout is over; with `detach`, also stop when a human is needed.

    On the way out the lock is released (the rollout is over), parked (it waits for a human;
    nobody else may deploy meanwhile) or kept parked after a failed rollback (the target
    state is in doubt: new deploys stay refused until a human acts).
    """
    ctx = engine.ctx
    key = engine.record.lock_key
    while True:
        wake = engine.tick()
        phase = engine.record.phase
        if phase == Phase.ROLLBACK_FAILED:
            ctx.store.park_lock(key, ctx.holder)
            return phase
        if phase.terminal:
            ctx.store.release_lock(key, engine.record.id)
            engine.emit(EventType.LOCK_RELEASED, message=f"{key} released")
            return phase
        if detach and engine.waiting_for_human:
            ctx.store.park_lock(key, ctx.holder)
            return phase
        now = ctx.clock.now()
        ctx.store.renew_lock(key, ctx.holder, now, ctx.lease_seconds)
        delay = ctx.poll_seconds
        if wake is not None:
            delay = min(max((wake - now).total_seconds(), 0.0), ctx.poll_seconds)
        ctx.clock.sleep(delay)


def interrupt(engine: RolloutEngine, why: str) -> None:
    """Roll back on the first Ctrl-C / SIGTERM (the caller then drives to the end)."""
    record = engine.record
    if record.phase.terminal or record.phase == Phase.ROLLING_BACK:
        return
    engine.begin_rollback(Reason.MANUAL_ABORT, why, Phase.ABORTED)
    engine.save()
