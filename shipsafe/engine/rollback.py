"""Rollback: restore the stored snapshot, read the router back, compare; then undo
migrations. One fixed order, and it needs nothing but the snapshot in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipsafe.engine import bluegreen, migrations
from shipsafe.errors import BlueCheckFailed, ProviderError
from shipsafe.providers.traffic.base import TrafficRouter
from shipsafe.records import EventType, OperationOutcome, Phase, Reason, Snapshot

if TYPE_CHECKING:
    from shipsafe.engine.effects import Effects


def router_for_restore(fx: Effects) -> TrafficRouter:
    """Built from the stored snapshot alone (not the plan): rollback needs nothing else."""
    snapshot = fx.stored_snapshot()
    if snapshot is None:
        return fx.router
    return fx.router_from(snapshot.router, snapshot.config)


def run(fx: Effects) -> None:
    """Restore the snapshot, read the router back, compare. Fixed order, like Flagger."""
    end = fx.runtime.end_phase or Phase.ROLLED_BACK
    snapshot = fx.stored_snapshot()
    if snapshot is None:
        message = "nothing to restore: no traffic had moved"
        fx.transition(end, Reason.RESTORED, message)
        fx.emit(EventType.ROLLBACK_FINISHED, Reason.RESTORED, message)
        return
    router = fx.router_from(snapshot.router, snapshot.config)
    op = fx.operation("restore", {"checksum": snapshot.checksum})
    try:
        if snapshot.blue and not _router_equals(router, snapshot):
            bluegreen.still_blue(fx, snapshot)  # never cut back to a changed blue
        router.restore(snapshot.state)
        actual = router.read_state()
    except ProviderError as exc:
        fx.finish(op, OperationOutcome.ERROR, str(exc))
        fx.runtime.restore_attempts += 1
        if fx.runtime.restore_attempts < fx.restore_attempts:
            fx.provider_error("router", exc)
            return  # try again next tick
        failed(fx, Reason.RESTORE_ERROR, f"cannot restore the snapshot: {exc}")
        return
    except BlueCheckFailed as exc:
        fx.finish(op, OperationOutcome.ERROR, exc.message)
        failed(fx, exc.reason, exc.message)
        return
    if Snapshot.checksum_of(snapshot.router, snapshot.config, actual) != snapshot.checksum:
        fx.finish(op, OperationOutcome.ERROR, f"router reads {actual}")
        failed(
            fx,
            Reason.RESTORE_MISMATCH,
            f"after restore the router reads {actual}, the snapshot says {snapshot.state}",
        )
        return
    fx.finish(op, OperationOutcome.OK, "router equals the snapshot")
    fx.runtime.canary_weight = None
    fx.runtime.step = None
    data_not_back = migrations.undo(fx)
    if data_not_back is not None:
        failed(fx, Reason.MIGRATION_FAILED, data_not_back)
        return
    message = f"traffic restored to the snapshot and verified ({snapshot.checksum[:12]})"
    fx.transition(end, Reason.RESTORED, message)
    fx.emit(
        EventType.ROLLBACK_FINISHED,
        Reason.RESTORED,
        message,
        data={"state": actual, "cause": fx.runtime.rollback_message},
    )
    fx.emit(
        EventType.ROLLOUT_FINISHED,
        fx.runtime.rollback_reason,
        fx.runtime.rollback_message,
        data={"phase": end.value},
    )


def _router_equals(router: TrafficRouter, snapshot: Snapshot) -> bool:
    try:
        state = router.read_state()
    except ProviderError:
        return False
    return Snapshot.checksum_of(snapshot.router, snapshot.config, state) == snapshot.checksum


def failed(fx: Effects, reason: Reason, message: str) -> None:
    fx.transition(Phase.ROLLBACK_FAILED, reason, message)
    fx.emit(EventType.ROLLBACK_FAILED, reason, message + " - page a human")
    fx.emit(
        EventType.ROLLOUT_FINISHED, reason, message, data={"phase": Phase.ROLLBACK_FAILED.value}
    )


def note_router_drift(fx: Effects, restoring: bool) -> None:
    """On taking a rollout over: compare the router with what the store recorded (the last
    verified canary weight, or the snapshot before any). A difference means something else
    wrote to it - a previous driver's late write, a human - and is said out loud; whatever
    it is, a rollback still restores the snapshot."""
    runtime = fx.runtime
    snapshot = fx.stored_snapshot()
    if snapshot is None:
        return
    router = fx.router_from(snapshot.router, snapshot.config)
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
    fx.emit(
        EventType.NOTICE,
        message=f"taking over: {found}; something else wrote to it; {end}",
        data={"router_drift": True, "recorded_weight": runtime.canary_weight},
    )
