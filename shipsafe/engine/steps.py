"""Steps: how each kind starts and when it is complete, decided here, one case per kind.

An executor receives the effects object (engine/effects.py), never the engine, and returns a
typed outcome (engine/outcomes.py) that the rollout applies in one place."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipsafe.engine import analysis, bluegreen, data, evidence, migrations
from shipsafe.engine.outcomes import StepOutcome, done, fail, human, wait
from shipsafe.errors import DataSnapshotError, ProviderError
from shipsafe.plan.steps import (
    AnalysisStepSpec,
    ApprovalSpec,
    ApprovalStep,
    CutoverSpec,
    DataSnapshotSpec,
    MigrateSpec,
    Pause,
    PromoteSpec,
    SetWeight,
    gate_name,
    step_kind,
    step_spec,
)
from shipsafe.records import AnalysisPhase, EventType, Phase, Reason, RolloutRecord, StepState

if TYPE_CHECKING:
    from shipsafe.engine.effects import Effects, RolloutView
    from shipsafe.plan.models import Plan


# how often an unconfirmed weight is read back and, if still wrong, set again
WEIGHT_RECHECK_SECONDS = 1.0
WEIGHT_RESEND_SECONDS = 2.0


def rollout_steps(record: RolloutRecord, plan: Plan) -> list[Any]:
    """The steps this rollout runs: the gates the policy put first (freeze override, cascade
    checkpoint), then the plan's steps with the implicit promote at the end."""
    gates = [
        ApprovalStep.model_validate({"approval": {"name": g.name, "count": g.count}})
        for g in record.guardrails.gates
    ]
    return gates + plan.effective_steps()


def gate_at(record: RolloutRecord, step: Any, index: int) -> str:
    """A gate's name; plan gates are numbered as in the plan file (gate-<step>)."""
    gates = record.guardrails.gates
    if index < len(gates):
        return gates[index].name
    return gate_name(step, index - len(gates))


def waiting_gate(record: RolloutRecord, plan: Plan) -> str | None:
    """The gate a rollout awaits approval at, if any."""
    if record.phase != Phase.AWAITING_APPROVAL:
        return None
    all_steps = rollout_steps(record, plan)
    index = record.step_index
    if index >= len(all_steps) or not isinstance(all_steps[index], ApprovalStep):
        return None
    return gate_at(record, all_steps[index], index)


def enter(fx: RolloutView, step: Any, index: int, now: datetime) -> StepState:
    """Start a step at `now` (read after the previous step's effects): returns its fresh
    state and changes nothing (side effects happen in `progress`)."""
    state = StepState(index=index, kind=step_kind(step), started_at=now)
    spec = step_spec(step)
    if isinstance(spec, Pause) and spec.duration is not None:
        state.pause_until = now + timedelta(seconds=fx.pause_seconds(spec.duration))
    if isinstance(spec, AnalysisStepSpec):
        state.analysis = analysis.new_run(
            f"step-{index + 1}", analysis.STEP, spec.templates, fx.plan.analysis, now
        )
    return state


def required_checks(step: Any) -> list[str]:
    """What a step makes required evidence at the current weight once it starts: an
    analysis step's templates (the rollout records them; engine/evidence.py)."""
    spec = step_spec(step)
    return list(spec.templates) if isinstance(spec, AnalysisStepSpec) else []


def progress(fx: Effects, step: Any, state: StepState, now: datetime) -> StepOutcome:
    """Look at the current step once; one case per kind."""
    spec = step_spec(step)
    if isinstance(spec, SetWeight):
        return _set_weight(fx, spec.weight, state, now)
    if isinstance(spec, PromoteSpec):  # an ordinary final setWeight 100, verified the same
        return _set_weight(fx, 100, state, now, promote=True)
    if isinstance(spec, Pause):
        if state.pause_until is None:
            return human(Phase.PAUSED, Reason.STEP_PAUSE, "paused until promoted")
        return done() if now >= state.pause_until else wait(state.pause_until)
    if isinstance(spec, AnalysisStepSpec):
        return _analysis(fx, spec, state, now)
    if isinstance(spec, ApprovalSpec):
        return _approval(fx, step, state)
    if isinstance(spec, DataSnapshotSpec):
        try:
            taken = data.take(fx, spec.data)
        except DataSnapshotError as exc:
            return fail(Reason.SNAPSHOT_UNVERIFIED, str(exc))
        return done(f"{len(taken)} data snapshot(s) taken and verified")
    if isinstance(spec, CutoverSpec):
        if not state.detail.get("checked"):
            refused = bluegreen.check_before_cutover(fx, spec, state, now)
            if refused is not None:
                return refused
        return _set_weight(fx, 100, state, now)
    if isinstance(spec, MigrateSpec):
        return migrations.run(fx, spec, state)
    raise TypeError(f"no step handler for {step_kind(step)}")


def _approval(fx: Effects, step: Any, state: StepState) -> StepOutcome:
    gate = fx.gate_of(step, state.index)
    need = fx.required_approvals(step, state.index)
    have = fx.approval_count(gate)
    if have >= need:
        return done(f"gate {gate} approved ({have} of {need})")
    review = fx.record.guardrails.review_gate
    if fx.proven_emergency and review and not fx.is_guard_gate(state.index):
        fx.emit(
            EventType.NOTICE,
            Reason.APPROVAL_DEFERRED,
            f"emergency: gate {gate} deferred; the rollout stays pending review "
            f"({review}) until approved after the fact",
            data={"gate": gate, "review_gate": review},
        )
        return done(f"gate {gate} deferred to the emergency review")
    return human(
        Phase.AWAITING_APPROVAL,
        Reason.APPROVAL_REQUIRED,
        f"gate {gate} awaits approval ({have} of {need}): shipsafe approve "
        f"{fx.record.id}",
    )


# how long a traffic increase waits for evidence at the current weight (beyond the longest
# initialDelay of what it waits for) before the rollout rolls back: fail closed
EVIDENCE_TIMEOUT_SECONDS = 600.0


def _evidence_gate(fx: Effects, weight: int, state: StepState, now: datetime
                   ) -> StepOutcome | None:
    """Hold the weight until every required check succeeded at it (engine/evidence.py);
    None when the increase may go ahead."""
    held = fx.runtime.evidence
    lacking = evidence.missing(held)
    if not lacking:
        return None
    current = fx.runtime.canary_weight or 0
    since = datetime.fromisoformat(state.detail.setdefault("held_since", now.isoformat()))
    delays = [fx.plan.analysis[n].initial_delay for n in lacking if n in fx.plan.analysis]
    timeout = EVIDENCE_TIMEOUT_SECONDS + max(delays, default=0.0)
    awaited = evidence.describe(held, fx.plan) if held is not None else ", ".join(lacking)
    if (now - since).total_seconds() >= timeout:
        return fail(
            Reason.NO_EVIDENCE,
            f"no successful measurement of {awaited} at {current}% within {timeout:g}s: "
            f"{weight}% needs evidence first",
        )
    if not state.detail.get("announced"):
        state.detail["announced"] = True
        fx.emit(
            EventType.NOTICE,
            Reason.NO_EVIDENCE,
            f"holding {current}%: {weight}% waits for a successful measurement of {awaited} "
            f"at {current}%",
            data={"weight": current, "next": weight, "missing": lacking},
        )
    due = analysis.next_due(fx.runtime.breakers)
    return wait(due if due is not None and due > now else now + timedelta(seconds=1))


def _set_weight(
    fx: Effects, weight: int, state: StepState, now: datetime, promote: bool = False
) -> StepOutcome:
    if state.weight_deadline is None:  # not tried yet
        if promote or weight > (fx.runtime.canary_weight or 0):
            held = _evidence_gate(fx, weight, state, now)
            if held is not None:
                return held
        if promote and fx.record.phase != Phase.PROMOTING:
            fx.transition(Phase.PROMOTING, Reason.STEPS_COMPLETE, "all steps done; promoting")
        # the verify timeout counts from the first send, not from when the step began
        state.weight_deadline = now + timedelta(seconds=fx.verify_timeout)
    deadline = state.weight_deadline or now
    last_sent = state.detail.get("sent_at")
    due_resend = last_sent is None or (
        now - datetime.fromisoformat(last_sent)
    ).total_seconds() >= WEIGHT_RESEND_SECONDS
    try:
        if state.weight_requested != weight or (due_resend and state.detail.get("mismatch")):
            fx.set_weight(weight, promote=promote)
            state.weight_requested = weight
            state.detail["sent_at"] = now.isoformat()
        actual = fx.router.get_weight()
    except ProviderError as exc:
        fx.provider_error("router", exc)
        if fx.now() >= deadline:
            return fail(Reason.PROVIDER_FAILED, f"router: {exc}")
        return wait(fx.now() + timedelta(seconds=WEIGHT_RECHECK_SECONDS))
    if actual == weight:
        # evidence at this weight counts from now (the rollout records it first)
        return done("promoted" if promote else "", verified_weight=weight)
    state.detail["mismatch"] = actual
    if fx.now() >= deadline:
        return fail(
            Reason.WEIGHT_NOT_VERIFIED,
            f"router reads canary {actual}%, expected {weight}% after "
            f"{fx.verify_timeout:g}s",
        )
    return wait(fx.now() + timedelta(seconds=WEIGHT_RECHECK_SECONDS))


def _analysis(
    fx: Effects, spec: AnalysisStepSpec, state: StepState, now: datetime
) -> StepOutcome:
    assert state.analysis is not None
    run = fx.measure(state.analysis, now)
    state.analysis = run
    if run.phase == AnalysisPhase.SUCCESSFUL:
        return done(f"analysis {run.id} successful")
    if run.phase in (AnalysisPhase.FAILED, AnalysisPhase.ERROR):
        if spec.on_failure == "hold":
            return _hold(fx, spec, state, run.message)
        return fail(Reason.ANALYSIS_FAILED, f"analysis {run.phase.value}: {run.message}")
    if run.phase == AnalysisPhase.INCONCLUSIVE:
        return human(
            Phase.PAUSED,
            Reason.ANALYSIS_INCONCLUSIVE,
            f"analysis inconclusive: {run.message}; promote to accept, resume to measure "
            "again, or rollback",
        )
    return wait(analysis.next_due(run))


def _hold(fx: Effects, spec: AnalysisStepSpec, state: StepState, why: str) -> StepOutcome:
    """onFailure: hold - keep the weight and measure afresh until the analysis passes, for at
    most holdFor; then roll back. Breakers keep watching meanwhile."""
    assert spec.hold_for is not None
    now = fx.now()
    since = datetime.fromisoformat(state.detail.setdefault("hold_since", now.isoformat()))
    weight = fx.runtime.canary_weight or 0
    if (now - since).total_seconds() >= spec.hold_for:
        return fail(
            Reason.ANALYSIS_FAILED,
            f"analysis still failing after holding {weight}% for {spec.hold_for:g}s: {why}",
        )
    attempt = int(state.detail.get("attempts", 1)) + 1
    state.detail["attempts"] = attempt
    # the next try starts one interval on, like the measurements it replaces
    pause = max(fx.plan.analysis[n].effective_interval for n in spec.templates)
    state.analysis = analysis.new_run(
        f"step-{state.index + 1}-try{attempt}", analysis.STEP, spec.templates,
        fx.plan.analysis, now, warmup=pause,
    )
    until = since + timedelta(seconds=spec.hold_for)
    fx.emit(
        EventType.NOTICE,
        Reason.ANALYSIS_HELD,
        f"holding {weight}%: analysis failed ({why}); measuring afresh (try {attempt}) until "
        f"{until.isoformat()}, then rolling back",
        data={"weight": weight, "attempt": attempt, "until": until.isoformat()},
    )
    return wait(analysis.next_due(state.analysis))
