"""Commands from any process (promote, pause, resume, abort, rollback, approve), decided
at the rollout's next tick. Each command returns a Decision: the result said to its caller
and the intents (engine/intents.py) the rollout applies, in order, in one place
(RolloutEngine.apply). Nothing here changes the rollout itself."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shipsafe.engine import evidence
from shipsafe.engine.intents import (
    Announce,
    ClearHolds,
    CompleteStep,
    Decision,
    Intent,
    PauseIntent,
    RecordApproval,
    RequestRollback,
    ResetInconclusiveBreakers,
    RestartStep,
    Transition,
    Waive,
)
from shipsafe.engine.phases import ON_COMMAND
from shipsafe.errors import ApprovalRefused, UsageError
from shipsafe.plan.steps import AnalysisStep, ApprovalStep, PromoteStep
from shipsafe.records import (
    AnalysisPhase,
    Command,
    CommandKind,
    EventType,
    Phase,
    Reason,
    RolloutRecord,
)

if TYPE_CHECKING:
    from shipsafe.engine.context import ApprovalVerifier
    from shipsafe.engine.effects import RolloutView


def proven(
    approvals: ApprovalVerifier, record: RolloutRecord, command: Command, now: datetime
) -> tuple[Command, str | None]:
    """The command with the actor its signature proves (verified here, where it is applied:
    a row written into the store by hand is an unverified agent's), and why that actor may
    not give it (None: it may). An approval carries its own signature, checked when counted."""
    if command.kind == CommandKind.APPROVE:
        return command, None
    actor = approvals.command_actor(record, command, now)
    command = command.model_copy(update={"actor": actor})
    try:
        approvals.check_command(record, command.kind, actor)
    except ApprovalRefused as exc:
        return command, str(exc)
    return command, None


def decide(engine: RolloutView, command: Command, now: datetime) -> Decision:
    """What `command` does to the rollout as it is now; UsageError: refused (said so)."""
    phase = engine.record.phase
    kind = command.kind
    who = command.actor.label()
    if kind not in ON_COMMAND[phase]:  # the phase moved on since the command was recorded
        if kind == CommandKind.PROMOTE and phase == Phase.AWAITING_APPROVAL:
            raise UsageError("promote cannot pass an approval gate: use shipsafe approve")
        raise UsageError(f"the rollout is {phase.value}")
    if kind in (CommandKind.ROLLBACK, CommandKind.ABORT):
        if phase == Phase.ROLLING_BACK:
            return Decision("already rolling back")
        end = Phase.ABORTED if kind == CommandKind.ABORT else Phase.ROLLED_BACK
        reason = Reason.MANUAL_ABORT if kind == CommandKind.ABORT else Reason.MANUAL_ROLLBACK
        why = command.args.get("reason") or ""
        message = f"{kind.value} by {who}" + (f": {why}" if why else "")
        return Decision(f"{kind.value} started", (RequestRollback(reason, message, end),))
    if kind == CommandKind.PAUSE:
        return Decision(
            "paused", (PauseIntent(Phase.PAUSED, Reason.MANUAL_PAUSE, f"paused by {who}"),)
        )
    if kind == CommandKind.RESUME:
        return _resume(engine, phase, who, now)
    if kind == CommandKind.PROMOTE:
        _issued_here(engine, command)
        return _promote(engine, bool(command.args.get("full")), who, now)
    if kind == CommandKind.APPROVE:
        return _approve(engine, command, now)
    raise UsageError(f"unknown command {kind}")


def _issued_here(engine: RolloutView, command: Command) -> None:
    """A promote skips the step it was issued at: refused once the rollout has moved on
    (the step it meant is done; skipping the next one was never asked for)."""
    at = command.args.get("step")
    now_at = engine.record.step_index
    if at is not None and at != now_at:
        raise UsageError(
            f"promote was issued at step {int(at) + 1}; the rollout is at step {now_at + 1} "
            "now (run promote again to skip this one)"
        )


def _resume(engine: RolloutView, phase: Phase, who: str, now: datetime) -> Decision:
    if phase != Phase.PAUSED:
        return Decision(f"nothing to resume: the rollout is {phase.value}")
    reason = engine.runtime.pause_reason
    if reason == Reason.STEP_PAUSE:
        raise UsageError("this pause step waits for promote: shipsafe promote ID")
    intents: list[Intent] = []
    if reason == Reason.ANALYSIS_INCONCLUSIVE:
        intents += restart_inconclusive(engine, now)
    intents += [ClearHolds(), Transition(Phase.PROGRESSING, Reason.RESUMED, f"resumed by {who}")]
    return Decision("resumed", tuple(intents))


def restart_inconclusive(engine: RolloutView, now: datetime) -> list[Intent]:
    """Measure an inconclusive step analysis, and inconclusive breakers, afresh from now."""
    intents: list[Intent] = []
    state = engine.runtime.step
    if state and state.analysis and state.analysis.phase == AnalysisPhase.INCONCLUSIVE:
        intents.append(RestartStep(state.index, now))
    if _breakers_inconclusive(engine):
        intents.append(ResetInconclusiveBreakers(now))
    return intents


def _breakers_inconclusive(engine: RolloutView) -> bool:
    breakers = engine.runtime.breakers
    return breakers is not None and breakers.phase == AnalysisPhase.INCONCLUSIVE


def _waive_current_analysis(engine: RolloutView, who: str) -> list[Intent]:
    """Promoting past a running or inconclusive analysis step accepts it without evidence:
    recorded as a waiver naming the human (breakers are never waived)."""
    step = engine.current_step
    if isinstance(step, AnalysisStep):
        return [Waive(tuple(step.analysis.templates), who)]
    return []


def _promote(engine: RolloutView, full: bool, who: str, now: datetime) -> Decision:
    phase = engine.record.phase
    if phase == Phase.AWAITING_APPROVAL:
        raise UsageError("promote cannot pass an approval gate: use shipsafe approve")
    if isinstance(engine.current_step, PromoteStep) and phase == Phase.PROGRESSING:
        missing = evidence.missing(engine.runtime.evidence)
        return Decision("already promoting" + (
            f"; it waits for evidence at this weight: {', '.join(missing)}" if missing else ""
        ))
    intents: list[Intent] = []
    if full:
        for i in range(engine.record.step_index, len(engine.steps)):
            step = engine.steps[i]
            if isinstance(step, ApprovalStep):
                gate = engine.gate_of(step, i)
                deferred = (
                    engine.proven_emergency
                    and engine.record.guardrails.review_gate
                    and not engine.is_guard_gate(i)
                )
                if not deferred and engine.approval_count(gate) < engine.required_approvals(
                    step, i
                ):
                    raise UsageError(
                        f"promote --full would skip approval gate {gate}: approve it first"
                    )
        if _breakers_inconclusive(engine):
            intents.append(ResetInconclusiveBreakers(now))
        intents += _waive_current_analysis(engine, who)
        intents.append(Announce(EventType.NOTICE, Reason.PROMOTED, f"full promotion by {who}"))
        intents.append(RestartStep(len(engine.steps) - 1, None))
        if phase != Phase.PROGRESSING:
            intents.append(Transition(Phase.PROGRESSING, Reason.PROMOTED, f"promoted by {who}"))
        return Decision("promoting to 100%", tuple(intents))
    step = engine.current_step
    if isinstance(step, ApprovalStep):
        raise UsageError("promote cannot pass an approval gate: use shipsafe approve")
    if phase == Phase.PAUSED and engine.runtime.pause_reason == Reason.ANALYSIS_INCONCLUSIVE:
        state = engine.runtime.step
        step_inconclusive = (
            state is not None
            and state.analysis is not None
            and state.analysis.phase == AnalysisPhase.INCONCLUSIVE
        )
        if _breakers_inconclusive(engine):
            intents.append(ResetInconclusiveBreakers(now))
        intents += [
            Transition(Phase.PROGRESSING, Reason.PROMOTED,
                       f"inconclusive result accepted by {who}"),
            ClearHolds(),
        ]
        if step_inconclusive:
            intents += _waive_current_analysis(engine, who)
            intents.append(CompleteStep(f"inconclusive analysis accepted by {who}"))
        return Decision("accepted the inconclusive result; going on", tuple(intents))
    if phase == Phase.PAUSED:
        intents.append(Transition(Phase.PROGRESSING, Reason.PROMOTED, f"promoted by {who}"))
    intents += _waive_current_analysis(engine, who)
    intents.append(CompleteStep(f"step skipped: promoted by {who}"))
    return Decision("promoted past the current step", tuple(intents))


def _approve(engine: RolloutView, command: Command, now: datetime) -> Decision:
    step = engine.current_step
    wanted = command.args.get("gate")
    waiting = isinstance(step, ApprovalStep) and engine.record.phase == Phase.AWAITING_APPROVAL
    if not waiting and not wanted:
        raise UsageError("no approval gate is waiting")
    gate = wanted or engine.gate_of(step, engine.record.step_index)
    try:
        approval = engine.verify_approval(gate, command, now)
    except ApprovalRefused as exc:
        refused = Announce(
            EventType.APPROVAL_REFUSED,
            message=f"approval of {gate} by {command.actor.label()} refused: {exc}",
            data={"gate": gate, "by": command.actor.id, "reason": str(exc)},
        )
        return Decision(f"refused: {exc}", (refused,))
    accepted = Announce(
        EventType.APPROVAL_ACCEPTED,
        Reason.APPROVED,
        f"gate {gate} approved by {command.actor.label()}",
        data={
            "gate": gate,
            "by": command.actor.id,
            "kind": command.actor.kind.value,
            "signer": approval.signer,
            "key_id": approval.payload.get("key_id"),
        },
    )
    return Decision(f"approved {gate}", (RecordApproval(approval), accepted))
