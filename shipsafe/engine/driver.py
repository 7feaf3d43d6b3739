"""The driver: ticks a rollout until it ends (or waits for a human, when detached), holding
the target's lease as it goes (engine/lease.py: a heartbeat, fenced writes).

One invariant is enforced here, at the top: once traffic has moved, no exception ends the
process without a rollback attempt. An unexpected error becomes a rollback with reason
`internal_error` (its traceback stored with the rollout's events, not printed); only the
errors that make writing impossible or forbidden pass through: the store failing, the lease
lost to another process, a second signal (the CLI turns each into exit 5 naming what to do).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shipsafe import interrupts
from shipsafe.engine import analysis, rollback, watch
from shipsafe.engine.lease import Lease
from shipsafe.engine.rollout import WATCHED, RolloutEngine
from shipsafe.errors import LeaseLost, LeaveNow, StopDriving, StoreError
from shipsafe.records import EventType, Phase, Reason
from shipsafe.runner import PARENT_ENV

# a router call retries at least this long, however soon a breaker is due, and at most this
# long while the rollout goes forward (the engine retries at the next tick)
MIN_RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 2.0


# errors after which this process must not (or cannot) write anything more
STOPS_WRITING: tuple[type[BaseException], ...] = (LeaseLost, StoreError, LeaveNow)


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


@contextmanager
def holding_lease(engine: RolloutEngine) -> Iterator[Lease]:
    """The lease for as long as the rollout is driven: a heartbeat thread on a store handle
    of its own when the context can open one, renewed by the driver every tick otherwise."""
    ctx = engine.ctx
    fence = ctx.store.fence
    handle = ctx.lease_store() if ctx.lease_store is not None and fence is not None else None
    if handle is not None:
        handle.fence_to(fence)
    lease = Lease(handle or ctx.store, fence, ctx.holder, ctx.lease_seconds, ctx.clock)
    outer, ctx.lease = ctx.lease, lease
    outer_budget, ctx.router_retry_budget = ctx.router_retry_budget, retry_budget(engine)
    if handle is not None:
        lease.start()
    try:
        yield lease
    finally:
        lease.stop()
        ctx.lease = outer
        ctx.router_retry_budget = outer_budget
        if handle is not None:
            handle.close()


def retry_budget(engine: RolloutEngine) -> Callable[[], float | None]:
    """While breakers are watched (and while promoting), a router call retries only until
    the next breaker measurement is due, and never longer than the shortest breaker interval
    nor MAX_RETRY_SECONDS: the tick that waits for it would otherwise leave the breakers
    unmeasured (a refused HAProxy socket held them up for 10 s) and overrun the
    weight-confirmation timeout (42 s for 30 s). The engine retries at the next tick instead,
    breakers measured in between. A rollback's restore keeps the router's own, longer retry:
    nothing is measured then, and the restore must get through."""
    intervals = [
        engine.plan.analysis[b.analysis].effective_interval
        for b in engine.plan.breakers
        if b.analysis in engine.plan.analysis
    ]
    ceiling = max(min([*intervals, MAX_RETRY_SECONDS]), MIN_RETRY_SECONDS)
    bounded = WATCHED | {Phase.PROMOTING}

    def budget() -> float | None:
        if engine.record.phase not in bounded:
            return None
        due = analysis.next_due(engine.runtime.breakers)
        if due is None:
            return ceiling
        until_due = (due - engine.ctx.clock.now()).total_seconds()
        return min(max(until_due, MIN_RETRY_SECONDS), ceiling)

    return budget


def drive(engine: RolloutEngine, detach: bool = False) -> Phase:
    with parent_marker(engine.record.id), holding_lease(engine) as lease:
        try:
            return _drive(engine, detach, lease)
        except STOPS_WRITING:
            raise
        except StopDriving:
            raise
        except Exception as exc:  # the invariant: a rollback attempt, never a silent exit
            return _roll_back_after(engine, exc, lease)


def _drive(engine: RolloutEngine, detach: bool, lease: Lease) -> Phase:
    """Tick until the rollout is over; with `detach`, also stop when a human is needed.

    On the way out the lock is released (the rollout is over), parked (it waits for a human;
    nobody else may deploy meanwhile) or kept parked after a failed rollback (the target
    state is in doubt: new deploys stay refused until a human acts).
    """
    ctx = engine.ctx
    key = engine.record.lock_key
    while True:
        safe_point(engine, lease)
        wake = engine.tick()
        lease.alive()
        phase = engine.record.phase
        if phase == Phase.ROLLBACK_FAILED:
            ctx.store.park_lock(key, ctx.holder)
            return phase
        if phase.terminal:
            engine.emit(EventType.LOCK_RELEASED, message=f"{key} released")
            ctx.store.release_lock(key, engine.record.id)
            return phase
        fenced = phase == Phase.PAUSED and engine.runtime.pause_reason == Reason.TARGET_CHANGED
        if ((detach and engine.waiting_for_human) or fenced) and not _signalled(engine):
            ctx.store.park_lock(key, ctx.holder)
            return phase
        now = ctx.clock.now()
        if not lease.heartbeat_running:  # no heartbeat thread: renew here, every tick
            lease.beat()
        delay = ctx.poll_seconds
        if wake is not None:
            delay = min(max((wake - now).total_seconds(), 0.0), ctx.poll_seconds)
        if not _signalled(engine):
            watch.sleep(engine, delay, lambda: _signalled(engine))


def _signalled(engine: RolloutEngine) -> bool:
    """A rollback was asked for by a signal: act on it now rather than sleep or park."""
    return interrupts.INTERRUPTS.requested is not None


def safe_point(engine: RolloutEngine, lease: Lease) -> None:
    """Between two ticks (no transaction open, no intent without its outcome): a lost
    lease stops the driver; a signal's rollback request begins the rollback."""
    lease.check()
    interrupts.INTERRUPTS.leave_if_asked()
    signal_name = interrupts.INTERRUPTS.take_request()
    if signal_name is not None:
        interrupt(
            engine, f"interrupted ({signal_name}) by {engine.ctx.actor.label()}", signal_name
        )


def interrupt(engine: RolloutEngine, why: str, signal_name: str | None = None) -> None:
    """Roll back on request: the first SIGINT / SIGTERM / SIGHUP, or a deploy --timeout that
    ran out (the driver then drives to the end)."""
    record = engine.record
    leave = (
        f"; a second signal within {interrupts.SECOND_SIGNAL_SECONDS:g}s leaves it for "
        f"`shipsafe rollback {record.id}`"
        if signal_name
        else ""
    )
    data = {"signal": signal_name} if signal_name else {}
    if record.phase.terminal or record.phase == Phase.ROLLING_BACK:
        engine.emit(
            EventType.NOTICE, message=f"{why}: already {record.phase.value}{leave}", data=data
        )
        return
    engine.emit(
        EventType.NOTICE,
        Reason.MANUAL_ABORT,
        f"{why}: rolling back to the snapshot{leave}",
        data=data,
    )
    engine.begin_rollback(Reason.MANUAL_ABORT, why, Phase.ABORTED)
    engine.save()


def _roll_back_after(engine: RolloutEngine, exc: Exception, lease: Lease) -> Phase:
    """An unexpected error while driving: record it (traceback in the store), then roll back
    from the stored state. If the rollback itself fails the same way, say so: exit 5."""
    ctx = engine.ctx
    trace = traceback.format_exc()
    message = f"internal error: {type(exc).__name__}: {exc}"
    # the in-memory record may be half-changed by the tick that failed: the store's is whole
    engine.record = ctx.store.get_rollout(engine.record.id)
    engine.bus.take_failures()
    engine.emit(
        EventType.NOTICE,
        Reason.INTERNAL_ERROR,
        f"{message}; rolling back (the traceback is stored with this event)",
        data={"traceback": trace, "error": type(exc).__name__},
    )
    phase = engine.record.phase
    if phase.terminal and phase != Phase.ROLLBACK_FAILED:
        return phase  # it had ended already (the error came after)
    if phase != Phase.ROLLING_BACK:
        engine.begin_rollback(Reason.INTERNAL_ERROR, message)
        engine.save()
    try:
        return _drive(engine, detach=False, lease=lease)
    except STOPS_WRITING:
        raise
    except Exception as again:
        engine.record = ctx.store.get_rollout(engine.record.id)
        engine.emit(
            EventType.NOTICE,
            Reason.INTERNAL_ERROR,
            f"the rollback met an internal error too: {type(again).__name__}: {again}",
            data={"traceback": traceback.format_exc(), "error": type(again).__name__},
        )
        if engine.record.phase != Phase.ROLLING_BACK:
            engine.begin_rollback(Reason.INTERNAL_ERROR, message)
        rollback.failed(
            engine,
            Reason.INTERNAL_ERROR,
            f"{message}; the rollback failed too ({type(again).__name__}: {again})",
        )
        engine.save()
        ctx.store.park_lock(engine.record.lock_key, ctx.holder)
        return Phase.ROLLBACK_FAILED
