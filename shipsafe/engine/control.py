"""Use cases over the engine: start a deploy, and act on a rollout from any process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shipsafe.engine.context import EngineContext
from shipsafe.engine.driver import drive
from shipsafe.engine.events import EventBus
from shipsafe.engine.rollout import RolloutEngine
from shipsafe.errors import (
    ConfigurationError,
    LockedError,
    PreflightError,
    RollbackFailed,
    ShipsafeError,
    UsageError,
)
from shipsafe.plan.models import Plan
from shipsafe.records import Command, CommandKind, EventType, Phase, Reason
from shipsafe.store.base import LockOutcome


def start_deploy(
    ctx: EngineContext,
    plan: Plan,
    *,
    parent_id: str | None = None,
    policy_digest: str | None = None,
    emergency: bool = False,
    emergency_reason: str | None = None,
) -> RolloutEngine:
    """Create the rollout, take the lock, preflight, snapshot and start step 1.

    Raises LockedError (exit 6) while another rollout of the same service and environment
    holds a live lease; rolls back an abandoned one (expired lease) first, and says so.
    """
    engine = RolloutEngine.new(
        ctx,
        plan,
        parent_id=parent_id,
        policy_digest=policy_digest,
        emergency=emergency,
        emergency_reason=emergency_reason,
    )
    record = engine.record
    taken_from = _clear_the_way(ctx, record.lock_key, record.id)
    outcome = ctx.store.acquire_lock(
        record.lock_key, record.id, ctx.holder, ctx.clock.now(), ctx.lease_seconds
    )
    ctx.store.create_rollout(record)
    engine.record = ctx.store.get_rollout(record.id)
    engine.emit(
        EventType.ROLLOUT_CREATED,
        message=f"{record.name} {record.version} to {record.environment} by "
        f"{record.actor.label()}",
        data={
            "version": record.version,
            "plan_digest": record.plan_digest,
            "policy_digest": record.policy_digest,
            "actor": record.actor.model_dump(mode="json"),
            "parent": record.parent_id,
            "emergency": record.emergency,
        },
    )
    if outcome == LockOutcome.TAKEN_OVER or taken_from:
        engine.emit(
            EventType.LOCK_TAKEN_OVER,
            message=f"{record.lock_key}: took over the expired lease of {taken_from}",
            data={"from": taken_from},
        )
    else:
        engine.emit(EventType.LOCK_ACQUIRED, message=f"{record.lock_key} locked")
    try:
        engine.start()
    except (PreflightError, ConfigurationError):
        ctx.store.release_lock(record.lock_key, record.id)
        raise
    return engine


def _clear_the_way(ctx: EngineContext, key: str, new_id: str) -> str | None:
    """Free the lock of a finished rollout; roll back an abandoned one (lease expired)."""
    info = ctx.store.get_lock(key)
    if info is None or info.rollout_id == new_id:
        return None
    now = ctx.clock.now()
    try:
        previous = ctx.store.get_rollout(info.rollout_id)
    except UsageError:
        ctx.store.release_lock(key, info.rollout_id)  # a lock without a rollout: stale
        return info.rollout_id
    if previous.phase.terminal and previous.phase != Phase.ROLLBACK_FAILED:
        ctx.store.release_lock(key, previous.id)
        return None
    if info.live(now):
        # acquire_lock raises the precise LockedError (who holds it, for how long)
        ctx.store.acquire_lock(key, new_id, ctx.holder, now, ctx.lease_seconds)
    # Abandoned: its driver died. Roll it back from its snapshot before anything else moves.
    ctx.store.acquire_lock(key, previous.id, ctx.holder, now, ctx.lease_seconds)
    old = RolloutEngine.load(ctx, previous.id)
    old.emit(
        EventType.LOCK_TAKEN_OVER,
        message=f"lease of {info.holder} expired; taken over by a new deploy ({new_id})",
        data={"holder": info.holder},
    )
    old.reconcile()
    old.begin_rollback(
        Reason.ABANDONED,
        f"abandoned (driver {info.holder} stopped renewing its lease); rolled back before "
        f"deploy {new_id}",
    )
    if drive(old) == Phase.ROLLBACK_FAILED:
        raise RollbackFailed(
            f"abandoned rollout {previous.id} could not be rolled back: {old.record.message}"
        )
    return previous.id


@dataclass
class CommandResult:
    record_id: str
    command: Command
    driven_here: bool
    phase: Phase
    result: str | None


# commands that make sense per phase; anything else is refused before it is recorded
_ALLOWED: dict[CommandKind, frozenset[Phase]] = {
    CommandKind.PROMOTE: frozenset({Phase.PROGRESSING, Phase.PAUSED}),
    CommandKind.PAUSE: frozenset({Phase.PROGRESSING}),
    CommandKind.RESUME: frozenset(
        {Phase.PROGRESSING, Phase.PAUSED, Phase.AWAITING_APPROVAL, Phase.PROMOTING}
    ),
    CommandKind.ABORT: frozenset(
        {
            Phase.PENDING,
            Phase.PROGRESSING,
            Phase.PAUSED,
            Phase.AWAITING_APPROVAL,
            Phase.PROMOTING,
            Phase.ROLLING_BACK,
        }
    ),
    CommandKind.ROLLBACK: frozenset(
        {
            Phase.PENDING,
            Phase.PROGRESSING,
            Phase.PAUSED,
            Phase.AWAITING_APPROVAL,
            Phase.PROMOTING,
            Phase.ROLLING_BACK,
            Phase.SUCCEEDED,
            Phase.ROLLBACK_FAILED,
        }
    ),
    CommandKind.APPROVE: frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.AWAITING_APPROVAL}),
}


def submit_command(
    ctx: EngineContext,
    rollout_id: str,
    kind: CommandKind,
    args: dict[str, Any] | None = None,
    *,
    wait_seconds: float = 120.0,
    detach: bool = False,
    driver: Callable[..., Phase] = drive,
) -> CommandResult:
    """Record an intent on a rollout. If its driver is alive it acts at its next tick and we
    wait for the result; if not (lease expired or parked), we take the lease and drive."""
    store = ctx.store
    record = store.get_rollout(rollout_id)
    if record.phase not in _ALLOWED[kind]:
        raise UsageError(f"cannot {kind.value} rollout {record.id}: it is {record.phase.value}")
    if kind == CommandKind.ROLLBACK and record.phase == Phase.SUCCEEDED:
        _check_latest(ctx, record.id, record.environment, record.service)
    now = ctx.clock.now()
    command = store.add_command(
        Command(rollout_id=record.id, kind=kind, actor=ctx.actor, created_at=now, args=args or {})
    )
    bus = EventBus(store, ctx.clock, ctx.actor.id, ctx.subscribers)
    bus.emit(
        record.id,
        EventType.COMMAND_RECEIVED,
        message=f"{kind.value} requested by {ctx.actor.label()}",
        data={"command": kind.value, "args": _public_args(args or {}), "by": ctx.actor.id},
    )
    lock = store.get_lock(record.lock_key)
    driven_elsewhere = (
        lock is not None
        and lock.rollout_id == record.id
        and lock.lease_expires_at is not None
        and lock.lease_expires_at > now
        and lock.holder != ctx.holder
    )
    if driven_elsewhere:
        return _wait_for_driver(ctx, record.id, command, kind, wait_seconds)
    if record.phase.terminal and kind != CommandKind.ROLLBACK:
        raise UsageError(f"rollout {record.id} is {record.phase.value}")
    outcome = store.acquire_lock(record.lock_key, record.id, ctx.holder, now, ctx.lease_seconds)
    engine = RolloutEngine.load(ctx, record.id)
    if outcome == LockOutcome.TAKEN_OVER and lock is not None:
        state = "parked" if lock.lease_expires_at is None else "expired"
        engine.emit(
            EventType.LOCK_TAKEN_OVER,
            message=f"taking over the {state} lease of {lock.holder} to drive the rollout",
            data={"holder": lock.holder, "lease": state},
        )
    engine.reconcile()
    phase = driver(engine, detach=detach)
    applied = store.get_command(command.id) if command.id is not None else command
    return CommandResult(record.id, applied, True, phase, applied.result)


def _wait_for_driver(
    ctx: EngineContext, rollout_id: str, command: Command, kind: CommandKind, wait_seconds: float
) -> CommandResult:
    assert command.id is not None
    deadline = ctx.clock.now() + timedelta(seconds=wait_seconds)
    ends_rollout = kind in (CommandKind.ROLLBACK, CommandKind.ABORT)
    while True:
        applied = ctx.store.get_command(command.id)
        record = ctx.store.get_rollout(rollout_id)
        settled = applied.applied_at is not None and (
            not ends_rollout or record.phase.terminal or (applied.result or "").startswith("ref")
        )
        if settled:
            return CommandResult(rollout_id, applied, False, record.phase, applied.result)
        if ctx.clock.now() >= deadline:
            raise ShipsafeError(
                f"the driver of {rollout_id} has not acted on {kind.value} within "
                f"{wait_seconds:g}s; the command stays recorded"
            )
        ctx.clock.sleep(0.2)


def _check_latest(ctx: EngineContext, rollout_id: str, environment: str, service: str) -> None:
    """A succeeded rollout may be rolled back only while it is the latest that moved traffic."""
    for other in ctx.store.list_rollouts(environment=environment, service=service, limit=20):
        if other.id == rollout_id:
            return
        if ctx.store.get_snapshot(other.id) is not None:
            raise LockedError(
                f"rollout {other.id} of {environment}/{service} came after {rollout_id}; "
                f"roll that one back instead (restoring an older snapshot would skip it)"
            )


def _public_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in {"signature", "token"}}
