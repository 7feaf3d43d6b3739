"""Commands from any process (promote, pause, resume, abort, rollback, approve), applied by
the rollout's driver at its next tick; each is marked applied with its result."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shipsafe.engine import analysis, evidence, steps
from shipsafe.engine.phases import ON_COMMAND
from shipsafe.errors import ApprovalRefused, UsageError
from shipsafe.plan.steps import AnalysisStep, ApprovalStep, PromoteStep
from shipsafe.records import AnalysisPhase, Command, CommandKind, EventType, Phase, Reason

if TYPE_CHECKING:
    from shipsafe.engine.rollout import RolloutEngine


def apply_pending(engine: RolloutEngine, now: datetime) -> None:
    for command in engine.ctx.store.pending_commands(engine.record.id):
        try:
            result = _apply(engine, command, now)
        except UsageError as exc:
            result = f"refused: {exc}"
        assert command.id is not None
        engine.ctx.store.mark_command_applied(command.id, result, now)
        engine.emit(
            EventType.COMMAND_APPLIED,
            message=f"{command.kind.value} by {command.actor.label()}: {result}",
            data={"command": command.kind.value, "by": command.actor.id, "result": result},
        )


def _apply(engine: RolloutEngine, command: Command, now: datetime) -> str:
    phase = engine.record.phase
    kind = command.kind
    who = command.actor.label()
    if kind not in ON_COMMAND[phase]:  # the phase moved on since the command was recorded
        if kind == CommandKind.PROMOTE and phase == Phase.AWAITING_APPROVAL:
            raise UsageError("promote cannot pass an approval gate: use shipsafe approve")
        raise UsageError(f"the rollout is {phase.value}")
    if kind in (CommandKind.ROLLBACK, CommandKind.ABORT):
        if phase == Phase.ROLLING_BACK:
            return "already rolling back"
        end = Phase.ABORTED if kind == CommandKind.ABORT else Phase.ROLLED_BACK
        reason = Reason.MANUAL_ABORT if kind == CommandKind.ABORT else Reason.MANUAL_ROLLBACK
        why = command.args.get("reason") or ""
        engine.begin_rollback(reason, f"{kind.value} by {who}" + (f": {why}" if why else ""), end)
        return f"{kind.value} started"
    if kind == CommandKind.PAUSE:
        engine._pause(Phase.PAUSED, Reason.MANUAL_PAUSE, f"paused by {who}")
        return "paused"
    if kind == CommandKind.RESUME:
        return _resume(engine, phase, who, now)
    if kind == CommandKind.PROMOTE:
        return _promote(engine, bool(command.args.get("full")), who, now)
    if kind == CommandKind.APPROVE:
        return _approve(engine, command, now)
    raise UsageError(f"unknown command {kind}")


def _resume(engine: RolloutEngine, phase: Phase, who: str, now: datetime) -> str:
    if phase != Phase.PAUSED:
        return f"nothing to resume: the rollout is {phase.value}"
    reason = engine.runtime.pause_reason
    if reason == Reason.STEP_PAUSE:
        raise UsageError("this pause step waits for promote: shipsafe promote ID")
    if reason == Reason.ANALYSIS_INCONCLUSIVE:
        restart_inconclusive(engine, now)
    _restart_holds(engine)
    engine._to(Phase.PROGRESSING, Reason.RESUMED, f"resumed by {who}")
    return "resumed"


def restart_inconclusive(engine: RolloutEngine, now: datetime) -> None:
    state = engine.runtime.step
    if state and state.analysis and state.analysis.phase == AnalysisPhase.INCONCLUSIVE:
        step = engine.current_step
        assert step is not None
        engine.runtime.step = steps.enter(engine, step, state.index, now)
    if engine.runtime.breakers and engine.runtime.breakers.phase == AnalysisPhase.INCONCLUSIVE:
        engine.runtime.breakers = analysis.reset_inconclusive(engine.runtime.breakers, now)


def _restart_holds(engine: RolloutEngine) -> None:
    """A human acted: a wait for evidence is counted afresh from now."""
    state = engine.runtime.step
    if state is not None:
        state.detail.pop("held_since", None)
        state.detail.pop("announced", None)


def _waive_current_analysis(engine: RolloutEngine, who: str) -> None:
    """Promoting past a running or inconclusive analysis step accepts it without evidence:
    recorded as a waiver naming the human (breakers are never waived)."""
    step = engine.current_step
    if isinstance(step, AnalysisStep):
        engine.waive(list(step.analysis.templates), who)


def _promote(engine: RolloutEngine, full: bool, who: str, now: datetime) -> str:
    phase = engine.record.phase
    if phase == Phase.AWAITING_APPROVAL:
        raise UsageError("promote cannot pass an approval gate: use shipsafe approve")
    if isinstance(engine.current_step, PromoteStep) and phase == Phase.PROGRESSING:
        missing = evidence.missing(engine.runtime.evidence)
        return "already promoting" + (
            f"; it waits for evidence at this weight: {', '.join(missing)}" if missing else ""
        )
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
        if engine.runtime.breakers and engine.runtime.breakers.phase == AnalysisPhase.INCONCLUSIVE:
            engine.runtime.breakers = analysis.reset_inconclusive(engine.runtime.breakers, now)
        _waive_current_analysis(engine, who)
        engine.emit(EventType.NOTICE, Reason.PROMOTED, f"full promotion by {who}")
        engine.record.step_index = len(engine.steps) - 1
        engine.runtime.step = steps.enter(
            engine, engine.steps[-1], len(engine.steps) - 1, engine.now()
        )
        if phase != Phase.PROGRESSING:
            engine._to(Phase.PROGRESSING, Reason.PROMOTED, f"promoted by {who}")
        return "promoting to 100%"
    step = engine.current_step
    if isinstance(step, ApprovalStep):
        raise UsageError("promote cannot pass an approval gate: use shipsafe approve")
    breakers = engine.runtime.breakers
    if phase == Phase.PAUSED and engine.runtime.pause_reason == Reason.ANALYSIS_INCONCLUSIVE:
        state = engine.runtime.step
        step_inconclusive = (
            state is not None
            and state.analysis is not None
            and state.analysis.phase == AnalysisPhase.INCONCLUSIVE
        )
        if breakers and breakers.phase == AnalysisPhase.INCONCLUSIVE:
            engine.runtime.breakers = analysis.reset_inconclusive(breakers, now)
        engine._to(Phase.PROGRESSING, Reason.PROMOTED, f"inconclusive result accepted by {who}")
        _restart_holds(engine)
        if step_inconclusive:
            _waive_current_analysis(engine, who)
            engine._complete_step(f"inconclusive analysis accepted by {who}")
        return "accepted the inconclusive result; going on"
    if phase == Phase.PAUSED:
        engine._to(Phase.PROGRESSING, Reason.PROMOTED, f"promoted by {who}")
    _waive_current_analysis(engine, who)
    engine._complete_step(f"step skipped: promoted by {who}")
    return "promoted past the current step"


def _approve(engine: RolloutEngine, command: Command, now: datetime) -> str:
    step = engine.current_step
    wanted = command.args.get("gate")
    waiting = isinstance(step, ApprovalStep) and engine.record.phase == Phase.AWAITING_APPROVAL
    if not waiting and not wanted:
        raise UsageError("no approval gate is waiting")
    gate = wanted or engine.gate_of(step, engine.record.step_index)
    try:
        approval = engine.ctx.approvals.verify(engine.record, gate, command, now)
    except ApprovalRefused as exc:
        engine.emit(
            EventType.APPROVAL_REFUSED,
            message=f"approval of {gate} by {command.actor.label()} refused: {exc}",
            data={"gate": gate, "by": command.actor.id, "reason": str(exc)},
        )
        return f"refused: {exc}"
    engine.ctx.store.add_approval(approval)
    engine.emit(
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
    return f"approved {gate}"
