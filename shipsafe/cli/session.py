"""One CLI invocation's wiring: identity, store, renderer, audit log, engine context; and
driving a rollout to its end (SIGINT, SIGTERM and SIGHUP turned into a rollback request by
shipsafe.interrupts; a second one within 5 s leaves the rollout for `shipsafe rollback`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer

from shipsafe import interrupts
from shipsafe.audit.file import FileAuditLog
from shipsafe.cli.common import Settings, open_audit, witness_of
from shipsafe.clock import Clock, SystemClock
from shipsafe.engine.context import EngineContext, ProviderFactory
from shipsafe.engine.driver import drive, interrupt
from shipsafe.engine.rollout import RolloutEngine
from shipsafe.errors import (
    ExitCode,
    LeaseLost,
    PolicyViolation,
    RollbackFailed,
    ShipsafeError,
    StoreError,
    TimedOut,
)
from shipsafe.identity import resolve_actor
from shipsafe.records import EventType, Phase, Reason, RolloutRecord
from shipsafe.render.human import HumanRenderer
from shipsafe.render.json_lines import JsonLinesRenderer
from shipsafe.store import open_store

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRoot


@dataclass
class Session:
    settings: Settings
    ctx: EngineContext
    renderer: HumanRenderer | JsonLinesRenderer
    audit: FileAuditLog
    root: TrustRoot | None = None
    # the trust root or the store's pinned policy did not verify: everything that moves
    # traffic forward or grants anything refuses with it (rollback and abort still work)
    trust_error: PolicyViolation | None = None
    # rollouts whose rollback, journaled while the store was locked, was recorded (and
    # finished) as this session opened the store (cli/locked_rollback.py)
    journal_applied: list[str] = field(default_factory=list)

    def require_trust(self) -> None:
        if self.trust_error is not None:
            raise self.trust_error

    def say(self, text: str, style: str = "") -> None:
        """A human line (JSON mode: nothing; the events and the result line say it all)."""
        if isinstance(self.renderer, HumanRenderer):
            self.renderer.print(text, style)


@contextmanager
def session(
    settings: Settings,
    *,
    clock: Clock | None = None,
    providers: ProviderFactory | None = None,
    create_store: bool = True,
    render_events: bool = True,
) -> Iterator[Session]:
    from shipsafe.audit.s3 import mirrors_from_env  # no boto3 unless SHIPSAFE_AUDIT_S3
    from shipsafe.notify import WebhookNotifier, env_hook
    from shipsafe.policy import verifier_for
    from shipsafe.policy.pin import effective_root
    from shipsafe.providers.registry import Registry
    from shipsafe.trust.loading import load_root

    store = open_store(settings.state, create=create_store)
    root: TrustRoot | None = None
    trust_error: PolicyViolation | None = None
    try:
        root = effective_root(store, load_root())
    except PolicyViolation as exc:
        trust_error = exc
    try:
        credentials = resolve_actor(settings.actor, settings.agent, root)
    except BaseException:
        store.close()
        raise
    actor = credentials.actor
    notifier = None
    renderer: HumanRenderer | JsonLinesRenderer | None = None
    try:
        renderer = JsonLinesRenderer() if settings.json else HumanRenderer(utc=settings.utc)
        witness = witness_of(root)
        audit = open_audit(settings, store, list(mirrors_from_env()), witness,
                           signer=credentials.proofs)
        # data-snapshot records of keyless deploys are checked against it (engine/data.py)
        credentials.proofs.witness = witness
        audit.on_mirror_error = _warn
        notifier = WebhookNotifier(store, on_error=_warn, extra=env_hook())
        subscribers: list[Any] = [audit, notifier]
        clock = clock or SystemClock()
        if isinstance(renderer, HumanRenderer):
            clock = ProgressClock(clock, renderer.heartbeat)
        ctx = EngineContext(
            store=store,
            clock=clock,
            providers=providers or Registry(),
            actor=actor,
            subscribers=subscribers,
            lease_store=lambda: open_store(settings.state, create=False),
            approvals=verifier_for(root),
            proofs=credentials.proofs,
        )
        from shipsafe.cli.locked_rollback import apply_journal

        # before anything else; its events go to the store, the audit and the webhooks (one
        # line on stderr says it), not into this command's own output
        applied = apply_journal(ctx, _warn)
        if render_events:
            subscribers.append(renderer)
        yield Session(settings, ctx, renderer, audit, root, trust_error, applied)
    finally:
        if isinstance(renderer, HumanRenderer):
            renderer.close()
        if notifier is not None:
            notifier.close()
        store.close()


def _warn(text: str) -> None:
    typer.echo(f"shipsafe: warning: {text}", err=True)


class ProgressClock:
    """The session's clock, telling the renderer the time at every sleep between ticks: in
    a log the renderer prints where the rollout is every few seconds, even in a long pause."""

    def __init__(self, inner: Clock, heartbeat: Callable[[datetime], None]) -> None:
        self.inner = inner
        self.heartbeat = heartbeat

    def now(self) -> datetime:
        return self.inner.now()

    def sleep(self, seconds: float) -> None:
        self.heartbeat(self.inner.now())
        self.inner.sleep(seconds)


class DeadlineClock:
    """The session's clock, whose sleep between ticks raises TimedOut once the deadline has
    passed: the driver sleeps only between ticks, so a timeout never cuts a step in half."""

    def __init__(self, inner: Clock, seconds: float, label: str) -> None:
        self.inner = inner
        self.deadline = inner.now() + timedelta(seconds=seconds)
        self.label = label
        self.armed = True

    def now(self) -> datetime:
        return self.inner.now()

    def sleep(self, seconds: float) -> None:
        if self.armed:
            left = (self.deadline - self.inner.now()).total_seconds()
            if left <= 0:
                self.armed = False  # the rollback that follows runs to its end
                raise TimedOut(self.label)
            seconds = min(seconds, left)
        self.inner.sleep(seconds)


def drive_to_end(s: Session, engine: RolloutEngine, detach: bool) -> Phase:
    """Drive; a signal's rollback request is handled by the driver between ticks, and a
    `deploy --timeout` that runs out rolls back too. What stops this process from writing
    becomes exit 5 with the command that finishes the job."""
    rollout_id = engine.record.id
    try:
        try:
            return drive(engine, detach=detach)
        except TimedOut as exc:
            s.say(f"--timeout {exc} ran out: rolling back to the snapshot", "yellow")
            engine.record = engine.ctx.store.get_rollout(engine.record.id)
            interrupt(engine, f"deploy --timeout {exc} ran out before the rollout ended")
            return drive(engine, detach=False)
    except LeaseLost as exc:
        error: ShipsafeError = LeaseLost(
            f"{exc}; `shipsafe status {rollout_id}` shows what the new driver does"
        )
    except StoreError as exc:
        # the driver cannot record what it does, so it must stop doing anything
        error = RollbackFailed(
            f"the state store failed while driving {rollout_id} ({exc}); traffic may "
            f"be mid-step: shipsafe rollback {rollout_id} once the store answers"
        )
    except interrupts.LeaveNow as signalled:
        error = RollbackFailed(_left_by_signal(s, engine, signalled.signal_name))
    error.rollout_id = rollout_id  # the JSON error line names it
    raise error


def _left_by_signal(s: Session, engine: RolloutEngine, signal_name: str) -> str:
    """A second signal: leave the rollout for `rollback` (its lock parked, so that command
    takes over at once rather than after the lease runs out), and say so."""
    ctx = engine.ctx
    rollout_id = engine.record.id
    where = ""
    try:
        record = ctx.store.get_rollout(rollout_id)
        weight = record.runtime.canary_weight
        where = f" {record.phase.value}" + (f" with the canary at {weight}%" if weight else "")
        if not record.phase.terminal:
            ctx.store.park_lock(record.lock_key, ctx.holder)
            engine.emit(
                EventType.NOTICE,
                message=f"{signal_name} again: left{where} for `shipsafe rollback {rollout_id}`",
                data={"signal": signal_name},
            )
    except (StoreError, LeaseLost):
        pass  # the message below is what matters now
    return (
        f"{signal_name} again within {interrupts.SECOND_SIGNAL_SECONDS:g}s: stopped driving "
        f"{rollout_id}, left{where} with nobody driving it; finish it with "
        f"`shipsafe rollback {rollout_id}`"
    )


def exit_code_for(record: RolloutRecord, *, asked_to_end: bool = False) -> int:
    """DESIGN.md's contract. `asked_to_end`: the caller asked for this rollback/abort."""
    phase = record.phase
    if phase == Phase.SUCCEEDED:
        return ExitCode.OK
    if phase in (Phase.ROLLED_BACK, Phase.ABORTED):
        if asked_to_end:
            return ExitCode.OK
        return ExitCode.ROLLED_BACK
    if phase == Phase.ROLLBACK_FAILED:
        return ExitCode.ROLLBACK_FAILED
    if phase == Phase.PAUSED and record.runtime.pause_reason == Reason.TARGET_CHANGED:
        return ExitCode.REFUSED  # another writer moved the target: stopped, nothing written
    if phase.waiting_for_human:
        return ExitCode.WAITING
    # left mid-way (a second Ctrl-C, or another process drives it now): nobody can vouch for
    # the target's state from here
    return ExitCode.ROLLBACK_FAILED


def outcome_line(record: RolloutRecord) -> str:
    phase = record.phase
    if phase == Phase.SUCCEEDED:
        return f"{record.id}: {record.version} promoted"
    if phase in (Phase.ROLLED_BACK, Phase.ABORTED):
        cause = record.runtime.rollback_message or record.message
        return f"{record.id}: {phase.value} - {cause}"
    if phase == Phase.ROLLBACK_FAILED:
        return f"{record.id}: ROLLBACK FAILED - {record.message} - page a human"
    if phase.waiting_for_human:
        what = "awaiting approval" if phase == Phase.AWAITING_APPROVAL else "paused"
        return f"{record.id}: {what} - {record.runtime.pause_message or record.message}"
    return f"{record.id}: {phase.value} - {record.message}"


def outcome_style(record: RolloutRecord) -> str:
    if record.phase == Phase.SUCCEEDED:
        return "bold green"
    if record.phase == Phase.ROLLBACK_FAILED:
        return "bold white on red"
    if record.phase in (Phase.ROLLED_BACK, Phase.ABORTED):
        return "bold yellow"
    return "bold"


def rolled_back_by_request(record: RolloutRecord) -> bool:
    return record.runtime.rollback_reason in (Reason.MANUAL_ROLLBACK, Reason.MANUAL_ABORT)
