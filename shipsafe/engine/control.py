"""Use cases over the engine: start a deploy, and act on a rollout from any process."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from shipsafe import interrupts
from shipsafe.engine import rollback
from shipsafe.engine.context import EngineContext
from shipsafe.engine.driver import drive
from shipsafe.engine.events import EventBus
from shipsafe.engine.phases import phases_allowing
from shipsafe.engine.rollout import RolloutEngine
from shipsafe.errors import (
    ApprovalRefused,
    AuditError,
    ConfigurationError,
    LockedError,
    PolicyRefusal,
    PolicyViolation,
    PreflightError,
    RollbackFailed,
    ShipsafeError,
    UsageError,
    WrongPhase,
)
from shipsafe.plan.models import Plan
from shipsafe.records import Command, CommandKind, EventType, Phase, Reason, RolloutRecord
from shipsafe.store.base import LockOutcome

if TYPE_CHECKING:
    from shipsafe.policy import Decision, LoadedPolicy


def start_deploy(
    ctx: EngineContext,
    plan: Plan,
    *,
    parent_id: str | None = None,
    policy_digest: str | None = None,
    emergency: bool = False,
    emergency_reason: str | None = None,
    policy: LoadedPolicy | None = None,
    request_override: bool = False,
    witnessed_rollbacks: tuple[tuple[str, str, str | None], ...] = (),
    substitutions: list[str] | None = None,
) -> RolloutEngine:
    """Check the policy, create the rollout, take the lock, preflight, snapshot, step 1.

    `substitutions`: what `--set` and `${VAR}` put into the plan (already in its digest),
    recorded with the rollout's first event.

    With a policy (the CLI always passes one: the file given, or the built-in default), every
    finding is computed first; a deploy the policy refuses is recorded (and so audited) as
    an aborted rollout and raises PolicyViolation (exit 2) or PolicyRefusal (exit 6) before
    anything is touched. Raises LockedError (exit 6) while another rollout of the same
    target (its identity, whatever the plan's labels) holds a live lease; rolls back an
    abandoned one (expired lease) first, and says so.
    """
    decision = None
    if policy is not None:
        from shipsafe.policy import Request, decide

        request = Request(
            actor_kind=ctx.actor.kind.value,
            verified=ctx.actor.verified,
            verifier=ctx.approvals,
            emergency=emergency,
            reason=emergency_reason,
            parent_id=parent_id,
            request_override=request_override,
            witnessed_rollbacks=witnessed_rollbacks,
        )
        decision = decide(ctx.store, ctx.clock.now(), plan, policy, request)
        policy_digest = decision.policy_digest
    engine = RolloutEngine.new(
        ctx,
        plan,
        parent_id=parent_id,
        policy_digest=policy_digest,
        emergency=emergency,
        emergency_reason=emergency_reason,
        guardrails=decision.guardrails if decision else None,
    )
    if decision is not None and (decision.errors or decision.refusals):
        _refuse(ctx, engine, decision, substitutions or [])
    record = engine.record
    try:
        taken_from = _clear_the_way(ctx, record.lock_key, record.id)
        outcome = ctx.store.acquire_lock(
            record.lock_key, record.id, ctx.holder, ctx.clock.now(), ctx.lease_seconds
        )
    except LockedError as exc:
        _refuse_locked(ctx, engine, decision, substitutions or [], exc)
    ctx.store.create_rollout(record)
    engine.record = ctx.store.get_rollout(record.id)
    _created(engine, decision, substitutions or [])
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
    except (PreflightError, ConfigurationError, AuditError) as exc:
        ctx.store.release_lock(record.lock_key, record.id)
        with suppress(ShipsafeError):  # the store has the event even if the audit log broke
            engine.emit(EventType.LOCK_RELEASED, message=f"{record.lock_key} released")
        exc.rollout_id = record.id
        raise
    return engine


def _created(
    engine: RolloutEngine, decision: Decision | None, substitutions: list[str]
) -> None:
    record = engine.record
    rails = record.guardrails
    engine.emit(
        EventType.ROLLOUT_CREATED,
        message=f"{record.name} {record.version} to {record.environment} by "
        f"{record.actor.label()}"
        + (f" - EMERGENCY: {record.emergency_reason}" if record.emergency else "")
        + (f" (plan sha256:{record.plan_digest[:12]} with {', '.join(substitutions)})"
           if substitutions else ""),
        data={
            "substitutions": substitutions,
            "version": record.version,
            "environment": record.environment,
            "service": record.service,
            "plan_digest": record.plan_digest,
            "policy_digest": record.policy_digest,
            "policy": rails.policy,
            "trust_digest": rails.trust_digest,
            "actor": record.actor.model_dump(mode="json"),
            "parent": record.parent_id,
            "emergency": record.emergency,
            "emergency_reason": record.emergency_reason,
        },
    )
    if decision is None:
        return
    findings = [f.to_json() for f in decision.findings]
    engine.emit(
        EventType.POLICY_EVALUATED,
        message=f"policy {rails.policy} (sha256:{(record.policy_digest or '')[:12]}): "
        f"{len(decision.errors)} error(s), {len(decision.refusals)} refusal(s), "
        f"{len(decision.gates)} gate(s), {len(findings)} finding(s)"
        + "".join(f"; gate {g.name} first" for g in rails.gates)
        + (f"; review {rails.review_gate} after the fact" if rails.review_gate else ""),
        data={"findings": findings, "gates": [g.name for g in rails.gates]},
    )


def _refuse(
    ctx: EngineContext, engine: RolloutEngine, decision: Decision, substitutions: list[str]
) -> None:
    """Record the refused deploy (aborted before anything was touched) and raise."""
    from shipsafe.records import Guardrails

    engine.record.guardrails = Guardrails(
        policy=engine.record.guardrails.policy,
        trust_digest=engine.record.guardrails.trust_digest,
    )  # nothing to enforce or review: it never started
    ctx.store.create_rollout(engine.record)
    engine.record = ctx.store.get_rollout(engine.record.id)
    _created(engine, decision, substitutions)
    stopping = decision.errors or decision.refusals
    lines = [f.line() for f in stopping]
    violation = bool(decision.errors)
    reason = Reason.POLICY_VIOLATION if violation else Reason.FROZEN
    summary = (
        f"refused by policy {engine.record.guardrails.policy}: " + "; ".join(
            f.message for f in stopping
        )
    )
    engine.emit(
        EventType.DEPLOY_REFUSED,
        reason,
        summary,
        data={"findings": [f.to_json() for f in stopping], "exit_code": 2 if violation else 6},
    )
    engine.transition(Phase.ABORTED, reason, summary)
    engine.save()
    engine.emit(EventType.ROLLOUT_FINISHED, reason, summary, data={"phase": "aborted"})
    header = f"{engine.record.id}: deploy refused, nothing was changed"
    error = (PolicyViolation if violation else PolicyRefusal)(header, [*lines, header])
    error.rollout_id = engine.record.id
    raise error


def _refuse_locked(
    ctx: EngineContext,
    engine: RolloutEngine,
    decision: Decision | None,
    substitutions: list[str],
    exc: LockedError,
) -> NoReturn:
    """Record (and so audit) a deploy refused because another rollout holds the lock, then
    raise the LockedError (exit 6) naming the record."""
    from shipsafe.records import Guardrails

    engine.record.guardrails = Guardrails(
        policy=engine.record.guardrails.policy,
        trust_digest=engine.record.guardrails.trust_digest,
    )  # nothing to enforce or review: it never started
    ctx.store.create_rollout(engine.record)
    engine.record = ctx.store.get_rollout(engine.record.id)
    _created(engine, decision, substitutions)
    summary = f"refused: {exc.message}"
    engine.emit(EventType.DEPLOY_REFUSED, Reason.LOCKED, summary, data={"exit_code": 6})
    engine.transition(Phase.ABORTED, Reason.LOCKED, summary)
    engine.save()
    engine.emit(EventType.ROLLOUT_FINISHED, Reason.LOCKED, summary, data={"phase": "aborted"})
    exc.rollout_id = engine.record.id
    raise exc


def _clear_the_way(ctx: EngineContext, key: str, new_id: str) -> str | None:
    """Free the lock of a finished rollout; roll back an abandoned one (lease expired)."""
    info = ctx.store.get_lock(key)
    if info is None or info.rollout_id == new_id:
        return None
    now = ctx.clock.now()
    try:
        previous = ctx.store.get_rollout(info.rollout_id)
    except UsageError:
        # A lock without a rollout: another deploy that took the lock a moment ago and has
        # not written its record yet (live lease), or one that died in between (expired).
        if info.live(now):
            ctx.store.acquire_lock(key, new_id, ctx.holder, now, ctx.lease_seconds)
        ctx.store.release_lock(key, info.rollout_id)
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
    rollback.note_router_drift(old, restoring=True)
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


# commands that make sense per phase, derived from the one phase table (engine/phases.py);
# anything else is refused before it is recorded
_ALLOWED: dict[CommandKind, frozenset[Phase]] = {
    kind: phases_allowing(kind) for kind in CommandKind
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
    on_wait: Callable[[str, float, float], None] | None = None,
) -> CommandResult:
    """Record an intent on a rollout. If its driver is alive it acts at its next tick and we
    wait for the result; if not (lease expired or parked), we take the lease and drive.
    `on_wait(holder, lease_seconds_left, wait_seconds_left)` hears every wait step, so the
    caller can say whom it waits for and count down."""
    store = ctx.store
    record = store.get_rollout(rollout_id)
    gate = (args or {}).get("gate")
    if kind == CommandKind.APPROVE and gate and gate == record.guardrails.review_gate:
        return review(ctx, record.id, args or {})
    if record.phase not in _ALLOWED[kind]:
        raise WrongPhase(f"cannot {kind.value} rollout {record.id}: it is {record.phase.value}")
    if kind == CommandKind.ROLLBACK and record.phase == Phase.SUCCEEDED:
        _check_latest(ctx, record)
    now = ctx.clock.now()
    args = dict(args or {})
    if kind == CommandKind.PROMOTE and not args.get("full"):
        # promote skips the step it was issued at, and only that one: its signature covers
        # the step, so the row copied back into the store later cannot skip another
        args["step"] = record.step_index
    command = store.add_command(
        _signed(ctx, record, Command(rollout_id=record.id, kind=kind, actor=ctx.actor,
                                     created_at=now, args=args))
    )
    bus = EventBus(store, ctx.clock, ctx.actor.id, ctx.subscribers)
    bus.emit(
        record.id,
        EventType.COMMAND_RECEIVED,
        message=f"{kind.value} requested by {ctx.actor.label()}",
        data={"command": kind.value, "args": _public_args(args), "by": ctx.actor.id,
              "identity": ctx.actor.identity, "kind": ctx.actor.kind.value,
              "key_id": ctx.actor.key_id, "signed": bool(command.proof)},
    )
    settled = _wait_while_driven_elsewhere(ctx, record.id, command, kind, wait_seconds, on_wait)
    if settled is not None:
        return settled
    lock = store.get_lock(record.lock_key)
    now = ctx.clock.now()
    record = store.get_rollout(record.id)
    if record.phase.terminal and kind != CommandKind.ROLLBACK:
        assert command.id is not None
        store.mark_command_applied(command.id, f"refused: it is {record.phase.value}", now)
        raise WrongPhase(f"rollout {record.id} is {record.phase.value}")
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
    ends = kind in (CommandKind.ROLLBACK, CommandKind.ABORT)
    rollback.note_router_drift(engine, restoring=ends or record.phase == Phase.ROLLING_BACK)
    phase = driver(engine, detach=detach)
    applied = store.get_command(command.id) if command.id is not None else command
    return CommandResult(record.id, applied, True, phase, applied.result)


def review(ctx: EngineContext, rollout_id: str, args: dict[str, Any]) -> CommandResult:
    """The after-the-fact approval of an emergency rollout: verified and recorded at once by
    this process (no driver needed; the rollout may be long finished)."""
    store = ctx.store
    record = store.get_rollout(rollout_id)
    gate = str(record.guardrails.review_gate)
    now = ctx.clock.now()
    command = store.add_command(
        Command(rollout_id=record.id, kind=CommandKind.APPROVE, actor=ctx.actor, created_at=now,
                args=args)
    )
    bus = EventBus(store, ctx.clock, ctx.actor.id, ctx.subscribers)
    try:
        approval = ctx.approvals.verify(record, gate, command, now)
    except ApprovalRefused as exc:
        result = f"refused: {exc}"
        bus.emit(
            record.id,
            EventType.APPROVAL_REFUSED,
            message=f"review {gate} by {ctx.actor.label()} refused: {exc}",
            data={"gate": gate, "by": ctx.actor.id, "reason": str(exc)},
        )
    else:
        store.add_approval(approval)
        result = f"approved {gate}"
        bus.emit(
            record.id,
            EventType.APPROVAL_ACCEPTED,
            Reason.APPROVED,
            f"emergency review {gate} approved by {approval.signer or ctx.actor.id}",
            data={"gate": gate, "by": ctx.actor.id, "signer": approval.signer,
                  "key_id": approval.payload.get("key_id")},
        )
    assert command.id is not None
    store.mark_command_applied(command.id, result, now)
    return CommandResult(record.id, store.get_command(command.id), True, record.phase, result)


def _driven_elsewhere(ctx: EngineContext, rollout_id: str, key: str) -> bool:
    lock = ctx.store.get_lock(key)
    return (
        lock is not None
        and lock.rollout_id == rollout_id
        and lock.lease_expires_at is not None
        and lock.lease_expires_at > ctx.clock.now()
        and lock.holder != ctx.holder
    )


def _wait_while_driven_elsewhere(
    ctx: EngineContext,
    rollout_id: str,
    command: Command,
    kind: CommandKind,
    wait_seconds: float,
    on_wait: Callable[[str, float, float], None] | None = None,
) -> CommandResult | None:
    """While another process drives the rollout, wait for it to apply the command (and, for
    rollback/abort, to finish). None when nobody drives it (any more): the caller takes over.
    A driver that dies while we wait stops renewing its lease, and we take over then."""
    assert command.id is not None
    deadline = ctx.clock.now() + timedelta(seconds=wait_seconds)
    ends_rollout = kind in (CommandKind.ROLLBACK, CommandKind.ABORT)
    key = ctx.store.get_rollout(rollout_id).lock_key
    while True:
        applied = ctx.store.get_command(command.id)
        record = ctx.store.get_rollout(rollout_id)
        settled = applied.applied_at is not None and (
            not ends_rollout or record.phase.terminal or (applied.result or "").startswith("ref")
        )
        if settled:
            return CommandResult(rollout_id, applied, False, record.phase, applied.result)
        if not _driven_elsewhere(ctx, rollout_id, key):
            return None
        if interrupts.INTERRUPTS.take_request() is not None:
            raise KeyboardInterrupt  # stop waiting; the command stays recorded for the driver
        now = ctx.clock.now()
        if now >= deadline:
            raise ShipsafeError(
                f"the driver of {rollout_id} has not acted on {kind.value} within "
                f"{wait_seconds:g}s; the command stays recorded"
            )
        lock = ctx.store.get_lock(key) if on_wait is not None else None
        if on_wait is not None and lock is not None and lock.lease_expires_at is not None:
            on_wait(
                lock.holder,
                (lock.lease_expires_at - now).total_seconds(),
                (deadline - now).total_seconds(),
            )
        ctx.clock.sleep(0.2)


def _check_latest(ctx: EngineContext, record: RolloutRecord) -> None:
    """A succeeded rollout may be rolled back only while it is the latest that moved traffic
    on its target (whatever environment or service the later plans named)."""
    for other in ctx.store.list_rollouts(limit=200):
        if other.id == record.id:
            return
        if other.lock_key == record.lock_key and ctx.store.get_snapshot(other.id) is not None:
            raise LockedError(
                f"rollout {other.id} ({other.environment}/{other.service}) came after "
                f"{record.id} on the same target; roll that one back instead (restoring an "
                f"older snapshot would skip it)"
            )


def _signed(ctx: EngineContext, record: RolloutRecord, command: Command) -> Command:
    """The command signed with the acting key (SHIPSAFE_KEY), as approvals are; the driver
    that applies it verifies the signature against the trust root."""
    from shipsafe.approvals import COMMAND_PURPOSE, command_body

    proof = ctx.proofs.sign(COMMAND_PURPOSE, command_body(record, command))
    return command.model_copy(update={"proof": proof or {}})


def _public_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in {"signature", "token"}}
