"""Rollback: restore the stored snapshot, read the router back, compare; then undo
migrations. One fixed order, and it needs nothing but the snapshot in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipsafe.engine import bluegreen, migrations
from shipsafe.errors import BlueCheckFailed, ProviderError
from shipsafe.providers.traffic.base import TrafficRouter
from shipsafe.records import EventType, OperationOutcome, Phase, Reason, Snapshot

if TYPE_CHECKING:
    from shipsafe.engine.rollout import RolloutEngine


def router_for_restore(engine: RolloutEngine) -> TrafficRouter:
    """Built from the stored snapshot alone (not the plan): rollback needs nothing else."""
    snapshot = engine.ctx.store.get_snapshot(engine.record.id)
    if snapshot is None:
        return engine.router
    return engine.ctx.providers.router(snapshot.router, snapshot.config)


def run(engine: RolloutEngine) -> None:
    """Restore the snapshot, read the router back, compare. Fixed order, like Flagger."""
    end = engine.runtime.end_phase or Phase.ROLLED_BACK
    snapshot = engine.ctx.store.get_snapshot(engine.record.id)
    if snapshot is None:
        message = "nothing to restore: no traffic had moved"
        engine.transition(end, Reason.RESTORED, message)
        engine.emit(EventType.ROLLBACK_FINISHED, Reason.RESTORED, message)
        return
    router = engine.ctx.providers.router(snapshot.router, snapshot.config)
    op = engine.operation("restore", {"checksum": snapshot.checksum})
    try:
        if snapshot.blue and not _router_equals(router, snapshot):
            bluegreen.still_blue(engine, snapshot)  # never cut back to a changed blue
        router.restore(snapshot.state)
        actual = router.read_state()
    except ProviderError as exc:
        engine.finish(op, OperationOutcome.ERROR, str(exc))
        engine.runtime.restore_attempts += 1
        if engine.runtime.restore_attempts < engine.ctx.restore_attempts:
            engine.provider_error("router", exc)
            return  # try again next tick
        failed(engine, Reason.RESTORE_ERROR, f"cannot restore the snapshot: {exc}")
        return
    except BlueCheckFailed as exc:
        engine.finish(op, OperationOutcome.ERROR, exc.message)
        failed(engine, exc.reason, exc.message)
        return
    if Snapshot.checksum_of(snapshot.router, snapshot.config, actual) != snapshot.checksum:
        engine.finish(op, OperationOutcome.ERROR, f"router reads {actual}")
        failed(
            engine,
            Reason.RESTORE_MISMATCH,
            f"after restore the router reads {actual}, the snapshot says {snapshot.state}",
        )
        return
    engine.finish(op, OperationOutcome.OK, "router equals the snapshot")
    engine.runtime.canary_weight = None
    engine.runtime.step = None
    data_not_back = migrations.undo(engine)
    if data_not_back is not None:
        failed(engine, Reason.MIGRATION_FAILED, data_not_back)
        return
    message = f"traffic restored to the snapshot and verified ({snapshot.checksum[:12]})"
    engine.transition(end, Reason.RESTORED, message)
    engine.emit(
        EventType.ROLLBACK_FINISHED,
        Reason.RESTORED,
        message,
        data={"state": actual, "cause": engine.runtime.rollback_message},
    )
    engine.emit(
        EventType.ROLLOUT_FINISHED,
        engine.runtime.rollback_reason,
        engine.runtime.rollback_message,
        data={"phase": end.value},
    )


def _router_equals(router: TrafficRouter, snapshot: Snapshot) -> bool:
    try:
        state = router.read_state()
    except ProviderError:
        return False
    return Snapshot.checksum_of(snapshot.router, snapshot.config, state) == snapshot.checksum


def failed(engine: RolloutEngine, reason: Reason, message: str) -> None:
    engine.transition(Phase.ROLLBACK_FAILED, reason, message)
    engine.emit(EventType.ROLLBACK_FAILED, reason, message + " - page a human")
    engine.emit(
        EventType.ROLLOUT_FINISHED, reason, message, data={"phase": Phase.ROLLBACK_FAILED.value}
    )


def note_router_drift(engine: RolloutEngine, restoring: bool) -> None:
    """On taking a rollout over: compare the router with what the store recorded (the last
    verified canary weight, or the snapshot before any). A difference means something else
    wrote to it - a previous driver's late write, a human - and is said out loud; whatever
    it is, a rollback still restores the snapshot."""
    runtime = engine.runtime
    snapshot = engine.ctx.store.get_snapshot(engine.record.id)
    if snapshot is None:
        return
    router = engine.ctx.providers.router(snapshot.router, snapshot.config)
    try:
        if runtime.canary_weight is not None:
            actual = router.get_weight()
            if actual == runtime.canary_weight:
                return
            recorded = runtime.canary_weight
            found = f"the router reads canary {actual}%, the store recorded {recorded}%"
        else:
            if _router_equals(router, snapshot):
                return
            found = (
                f"the router reads {router.read_state()}, the store recorded the snapshot "
                f"{snapshot.state}"
            )
    except ProviderError as exc:
        found = f"the router cannot be read ({exc})"
    end = (
        "restoring the snapshot anyway"
        if restoring
        else "the rollout goes on from the router as it reads now"
    )
    engine.emit(
        EventType.NOTICE,
        message=f"taking over: {found}; something else wrote to it; {end}",
        data={"router_drift": True, "recorded_weight": runtime.canary_weight},
    )
