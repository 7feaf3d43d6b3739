"""One rollout, driven one tick at a time.

Each tick: apply commands from other processes, measure due breakers, advance the current
step if it is done, or roll back. A tick makes at most one traffic change: a step that moved
traffic or measured ends it (instant steps - a finished pause, an approval - chain). Every
step is timed from its own start: the clock is read again after the previous step's side
effects. No weight goes up and nothing promotes without evidence (engine/evidence.py).
Every phase change goes through engine.phases.transition; every provider side effect is
written to the store before (intent) and after (outcome); the record is saved every tick.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime
from typing import Any

from shipsafe.engine import analysis, commands, evidence, judging, preflight, rollback, steps
from shipsafe.engine.context import EngineContext
from shipsafe.engine.events import EventBus
from shipsafe.engine.intents import (
    Announce,
    ClearHolds,
    CompleteStep,
    Intent,
    PauseIntent,
    RecordApproval,
    RequestRollback,
    ResetInconclusiveBreakers,
    RestartStep,
    Transition,
    Waive,
)
from shipsafe.engine.outcomes import NeedsHuman, StepDone, Waiting
from shipsafe.engine.phases import transition
from shipsafe.errors import (
    AuditError,
    ConfigurationError,
    EvidenceMissing,
    PreflightError,
    ProviderError,
    TargetFenced,
    UsageError,
)
from shipsafe.plan.analysis import ROUTER_COUNTERS
from shipsafe.plan.models import Plan, plan_from_record
from shipsafe.plan.steps import PromoteStep, describe_step, step_spec
from shipsafe.plan.target_identity import target_identity, target_key
from shipsafe.providers.metrics.base import MetricQuery, MetricSource, QueryResult
from shipsafe.providers.snapshots.base import DataSnapshotProvider
from shipsafe.providers.traffic.base import TrafficRouter
from shipsafe.records import (
    AnalysisPhase,
    AnalysisRunState,
    Approval,
    Command,
    Event,
    EventType,
    Guardrails,
    Measurement,
    MeasurementPhase,
    Operation,
    OperationOutcome,
    Phase,
    Reason,
    RolloutRecord,
    Runtime,
    Snapshot,
    StepState,
    canonical_json,
)
from shipsafe.runner import PARENT_ENV, RunResult

# phases in which breakers are measured on every tick
WATCHED = frozenset(
    {Phase.PROGRESSING, Phase.PAUSED, Phase.AWAITING_APPROVAL, Phase.PROMOTING}
)
# steps after which the tick ends: they moved traffic or measured (the next step gets a
# tick of its own, and queries of its own)
ENDS_TICK = frozenset({"setWeight", "cutover", "analysis"})
# how many steps may complete in one tick (instant steps chain; this bounds a bug)
MAX_STEPS_PER_TICK = 64


def new_rollout_id(service: str, now: datetime) -> str:
    return f"{service}-{now.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


class RolloutEngine:
    def __init__(self, ctx: EngineContext, record: RolloutRecord, plan: Plan | None = None):
        self.ctx = ctx
        self.record = record
        self.plan = plan or plan_from_record(record.plan)
        self.steps = steps.rollout_steps(record, self.plan)
        self.bus = EventBus(ctx.store, ctx.clock, ctx.actor.id, ctx.subscribers)
        self._router: TrafficRouter | None = None
        self._sources: dict[str, MetricSource] = {}
        self._tick_results: dict[tuple[Any, ...], QueryResult] = {}
        runtime = record.runtime
        if runtime.evidence is None and record.phase in WATCHED:
            # recorded before evidence was kept per weight: it counts afresh from now
            runtime.evidence = evidence.at_weight(
                runtime.canary_weight or 0, ctx.clock.now(), self.plan,
                breakers=runtime.breakers is not None,
            )

    # construction -------------------------------------------------------------------------
    @classmethod
    def new(
        cls,
        ctx: EngineContext,
        plan: Plan,
        *,
        parent_id: str | None = None,
        policy_digest: str | None = None,
        emergency: bool = False,
        emergency_reason: str | None = None,
        guardrails: Guardrails | None = None,
    ) -> RolloutEngine:
        now = ctx.clock.now()
        guardrails = guardrails or Guardrails()
        record = RolloutRecord(
            id=new_rollout_id(plan.metadata.service, now),
            name=plan.metadata.name,
            service=plan.metadata.service,
            environment=plan.metadata.environment,
            version=plan.release.version,
            plan=plan.canonical(),
            plan_digest=plan.digest(),
            policy_digest=policy_digest,
            target_key=target_key(target_identity(plan.target)),
            step_count=len(guardrails.gates) + len(plan.effective_steps()),
            actor=ctx.actor,
            parent_id=parent_id,
            emergency=emergency,
            emergency_reason=emergency_reason,
            guardrails=guardrails,
            created_at=now,
            updated_at=now,
        )
        proof = ctx.proofs.sign(
            "shipsafe-deploy/v1",
            {
                "rollout_id": record.id,
                "plan_digest": record.plan_digest,
                "environment": record.environment,
                "emergency": emergency,
                "emergency_reason": emergency_reason,
                "created_at": now.isoformat(),
            },
        )
        record.proof = proof or {}
        return cls(ctx, record, plan)

    @classmethod
    def load(cls, ctx: EngineContext, rollout_id: str) -> RolloutEngine:
        return cls(ctx, ctx.store.get_rollout(rollout_id))

    # small helpers ------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.ctx.clock.now()

    def emit(
        self,
        type: EventType,
        reason: Reason | None = None,
        message: str = "",
        data: dict[str, Any] | None = None,
    ) -> Event:
        return self.bus.emit(self.record.id, type, reason, message, data)

    def save(self) -> None:
        self.record.updated_at = self.now()
        self.record = self.ctx.store.save_rollout(self.record)

    def transition(self, phase: Phase, reason: Reason, message: str) -> None:
        """Change phase through the one transition table (engine/phases.py)."""
        transition(self.record, phase, reason, message, self.emit)
        if phase.terminal:
            self.record.finished_at = self.now()

    @property
    def runtime(self) -> Runtime:
        return self.record.runtime

    @property
    def verify_timeout(self) -> float:
        return self.ctx.verify_timeout

    @property
    def restore_attempts(self) -> int:
        return self.ctx.restore_attempts

    def router_from(self, name: str, config: dict[str, Any]) -> TrafficRouter:
        """A router rebuilt from a stored snapshot's name and config (not the plan)."""
        return self.ctx.providers.router(name, config)

    def stored_snapshot(self) -> Snapshot | None:
        return self.ctx.store.get_snapshot(self.record.id)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self.ctx.store.save_snapshot(snapshot)

    def data_snapshot(self, name: str, config: dict[str, Any]) -> DataSnapshotProvider:
        return self.ctx.providers.data_snapshot(name, config)

    def sign(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return self.ctx.proofs.sign(purpose, body)

    def signer(self, purpose: str, signed: Any) -> Any | None:
        return self.ctx.proofs.signer(purpose, signed)

    def witnessed(self, rollout_id: str, name: str) -> list[str] | None:
        return self.ctx.proofs.witnessed(rollout_id, name)

    def recent_rollouts(self, limit: int) -> list[RolloutRecord]:
        """The latest rollouts of this service and environment, newest first."""
        record = self.record
        return self.ctx.store.list_rollouts(record.environment, record.service, limit)

    @property
    def router(self) -> TrafficRouter:
        if self._router is None:
            self._router = self.ctx.providers.router(
                self.plan.target.router, self.plan.target.router_config()
            )
        return self._router

    def source(self, name: str) -> MetricSource:
        if name not in self._sources:
            if name == ROUTER_COUNTERS:  # built-in checks: the router's own counters
                target = self.plan.target
                config = {
                    "provider": "router",
                    "router": target.router,
                    "target": target.router_config(),
                }
            else:
                config = self.plan.metric_sources[name].model_dump(mode="json", by_alias=True)
            self._sources[name] = self.ctx.providers.metric_source(name, config)
        return self._sources[name]

    def pause_seconds(self, duration: float) -> float:
        """Emergency mode may shorten pauses, as far as the policy allows (never breakers)."""
        cap = self.record.guardrails.emergency_max_pause_seconds
        if self.proven_emergency and cap is not None:
            return min(duration, cap)
        return duration

    def run_command(self, argv: list[str], timeout: float) -> RunResult:
        """A command the plan names: no shell, a timeout, and SHIPSAFE_PARENT_ROLLOUT set."""
        return self.ctx.commands.run(argv, timeout=timeout, env={PARENT_ENV: self.record.id})

    def provider_error(self, what: str, exc: Exception) -> None:
        self.runtime.provider_errors += 1
        self.emit(EventType.PROVIDER_ERROR, message=f"{what}: {exc}", data={"provider": what})

    @property
    def proven_emergency(self) -> bool:
        """An emergency only counts when the deploy's proof, signed by a trusted key, says
        so for this rollout and plan: a row edited to `emergency: true` shortens nothing."""
        record = self.record
        if not record.emergency:
            return False
        key = self.ctx.proofs.signer("shipsafe-deploy/v1", record.proof)
        payload = record.proof.get("payload", {}) if key is not None else {}
        return (
            key is not None
            and payload.get("emergency") is True
            and payload.get("rollout_id") == record.id
            and payload.get("plan_digest") == record.plan_digest
        )

    def verify_approval(self, gate: str, command: Command, now: datetime) -> Approval:
        """The approval `command` gives `gate`, verified now (ApprovalRefused: why not)."""
        return self.ctx.approvals.verify(self.record, gate, command, now)

    def approval_count(self, gate: str) -> int:
        """Distinct approvers of a gate whose approvals verify now, from their signatures:
        one person approving twice counts once, a row nobody signed counts for nothing."""
        stored = self.ctx.store.approvals(self.record.id)
        return len(self.ctx.approvals.verified_signers(self.record, gate, stored))

    def is_guard_gate(self, index: int) -> bool:
        return index < len(self.record.guardrails.gates)

    def gate_of(self, step: Any, index: int) -> str:
        """A gate's name; plan gates are numbered as in the plan file (gate-<step>)."""
        return steps.gate_at(self.record, step, index)

    def required_approvals(self, step: Any, index: int) -> int:
        gates = self.record.guardrails.gates
        if index < len(gates):
            return max(gates[index].count, self.ctx.approvals.minimum(self.record))
        return max(
            int(step_spec(step).count),
            self.record.guardrails.approval_count,
            self.ctx.approvals.minimum(self.record),
        )

    @property
    def current_step(self) -> Any | None:
        i = self.record.step_index
        return self.steps[i] if i < len(self.steps) else None

    @property
    def waiting_for_human(self) -> bool:
        return self.record.phase.waiting_for_human

    # side effects, with intent and outcome ---------------------------------------------
    def operation(self, kind: str, params: dict[str, Any]) -> Operation:
        return self.ctx.store.begin_operation(
            Operation(rollout_id=self.record.id, kind=kind, params=params, started_at=self.now())
        )

    def finish(self, op: Operation, outcome: OperationOutcome, detail: str = "") -> None:
        assert op.id is not None
        self.ctx.store.finish_operation(op.id, outcome, detail, self.now())

    def _weight_read_back(self, weight: int) -> None:
        """The router reads back `weight`: evidence starts afresh at it, taken from now; the
        breakers start at the first weight read back (after the plan's warm-up)."""
        at = self.now()
        self.runtime.canary_weight = weight
        if self.runtime.breakers is None and self.plan.breakers and weight > 0:
            names = [b.analysis for b in self.plan.breakers]
            run = analysis.new_run(
                "breakers", analysis.BREAKER, names, self.plan.analysis, at,
                warmup=self.plan.breaker_warmup,
            )
            self.runtime.breakers = run
            started = True
        else:
            started = False
        self.runtime.evidence = evidence.at_weight(
            weight, at, self.plan, breakers=self.runtime.breakers is not None
        )
        self.emit(
            EventType.WEIGHT_VERIFIED,
            message=f"router reads canary {weight}%",
            data={"weight": weight, "required": list(self.runtime.evidence.required)},
        )
        if started and self.runtime.breakers is not None:
            first = analysis.next_due(self.runtime.breakers) or at
            self.emit(
                EventType.NOTICE,
                message=f"breakers start in {(first - at).total_seconds():g}s (warm-up after "
                f"{weight}% was read back)",
                data={"breakers": names, "first": first.isoformat()},
            )

    def _waive(self, names: list[str], who: str) -> None:
        """A human accepted step analyses at this weight without evidence (recorded)."""
        if self.runtime.evidence is None or not names:
            return
        self.runtime.evidence = evidence.waive(self.runtime.evidence, self.plan, names, who)
        waived = [n for n in names if n in self.runtime.evidence.waived]
        if waived:
            self.emit(
                EventType.NOTICE,
                Reason.PROMOTED,
                f"{', '.join(waived)} accepted without evidence at "
                f"{self.runtime.evidence.weight}% by {who}",
                data={"waived": waived, "by": who},
            )

    def set_weight(self, weight: int, promote: bool = False) -> None:
        """The one way the canary's weight changes during a rollout (rollback restores the
        snapshot instead). An increase, or promote, without evidence is refused here too."""
        if (promote or weight > (self.runtime.canary_weight or 0)) and evidence.missing(
            self.runtime.evidence
        ):
            raise EvidenceMissing(
                f"no evidence at {self.runtime.canary_weight}% for "
                f"{evidence.missing(self.runtime.evidence)}: refusing to set {weight}%"
            )
        self.emit(EventType.WEIGHT_INTENT, data={"weight": weight})
        self.fence(weight)  # read the router first: another writer stops us here, unwritten
        op = self.operation("set_weight", {"weight": weight})
        try:
            self.router.set_weight(weight)
        except ProviderError as exc:
            self.finish(op, OperationOutcome.ERROR, str(exc))
            raise
        self.finish(op, OperationOutcome.OK)
        self.emit(EventType.WEIGHT_SET, message=f"canary {weight}%", data={"weight": weight})

    def fence(self, weight: int) -> None:
        """The target fences concurrent writers: before a traffic change, the router must
        read what this rollout last verified (0 before its first step) or the weight it is
        already sending. Anything else is another writer - another store, another tool, a
        human: stop without writing (paused, exit 6) and say what was found."""
        expected = self.runtime.canary_weight or 0
        pending = self.runtime.step.weight_requested if self.runtime.step else None
        actual = self.router.get_weight()
        if actual in (expected, pending):
            return
        message = (
            f"the router reads canary {actual}%, but this rollout last verified {expected}%"
            + (f" (and is sending {pending}%)" if pending not in (None, expected) else "")
            + f": another writer changed the target; nothing written (it would have set "
            f"{weight}%). Find it, then `shipsafe rollback {self.record.id}` or put the "
            f"router back to {expected}% and `shipsafe resume {self.record.id}`"
        )
        self.emit(EventType.TARGET_FENCED, Reason.TARGET_CHANGED, message,
                  data={"read": actual, "expected": expected, "pending": pending,
                        "would_set": weight})
        self._pause(Phase.PAUSED, Reason.TARGET_CHANGED, message)
        raise TargetFenced(message)

    # start (engine/preflight.py) ----------------------------------------------------------
    def preflight(self) -> None:
        preflight.preflight(self)

    def take_snapshot(self) -> Snapshot:
        return preflight.take_snapshot(self)

    def start(self) -> None:
        """pending -> progressing: preflight, snapshot, verify, start breakers and step 1.

        A PreflightError or ConfigurationError leaves the rollout aborted and the target
        untouched (nothing has been changed yet)."""
        try:
            self.preflight()
            self.take_snapshot()
        except (PreflightError, ConfigurationError) as exc:
            self.emit(EventType.PREFLIGHT_FAILED, Reason.PREFLIGHT_FAILED, str(exc))
            self.transition(Phase.ABORTED, Reason.PREFLIGHT_FAILED, str(exc))
            self.save()
            raise
        unaudited = self.bus.take_failures()
        if unaudited:
            message = f"the audit log cannot be written ({unaudited[0]}); nothing was changed"
            self.transition(Phase.ABORTED, Reason.AUDIT_FAILED, message)
            self.save()
            raise AuditError(message)
        self.transition(Phase.PROGRESSING, Reason.STARTED, f"rolling out {self.record.version}")
        # preflight read the canary at 0%: what is measured from here is evidence at 0%
        # (blue/green's preview analysis); breakers start once traffic has moved
        self.runtime.evidence = evidence.at_weight(0, self.now(), self.plan, breakers=False)
        self._enter_step(0)
        self.save()

    # reconcile after another process died --------------------------------------------
    def reconcile(self) -> None:
        """Close intents left open by a process that died between intent and outcome."""
        for op in self.ctx.store.open_operations(self.record.id):
            try:
                detail = f"router reads canary {self.router_for_restore().get_weight()}%"
            except ProviderError as exc:
                detail = f"router unreadable: {exc}"
            self.finish(op, OperationOutcome.INTERRUPTED, detail)
            self.emit(
                EventType.RECONCILED,
                message=f"{op.kind} {op.params} was interrupted; {detail}",
                data={"operation": op.kind, "params": op.params},
            )
        self.save()

    # the tick -------------------------------------------------------------------------
    def tick(self) -> datetime | None:
        """One pass of the control loop. Returns when the next look is due (None: no timer)."""
        self._tick_results.clear()
        self._audit_or_roll_back()
        self.apply_commands(self.now())
        if self.record.phase in WATCHED:
            self._watch_breakers(self.now())
        wake = None
        if self.record.phase in (Phase.PROGRESSING, Phase.AWAITING_APPROVAL, Phase.PROMOTING):
            try:
                wake = self._advance()
            except TargetFenced:
                wake = None  # paused by the fence: nothing was written
        if self.record.phase == Phase.ROLLING_BACK:
            rollback.run(self)
        if self._audit_or_roll_back():
            rollback.run(self)
        self.save()
        timers = [
            t
            for t in (wake, analysis.next_due(self.runtime.breakers))
            if t is not None and self.record.phase in WATCHED
        ]
        return min(timers, default=None)

    # commands from any process, and the intents they return ----------------------------
    def apply_commands(self, now: datetime) -> None:
        for command in self.ctx.store.pending_commands(self.record.id):
            command, refusal = commands.proven(self.ctx.approvals, self.record, command, now)
            try:  # a refusal may come from the decision or from applying it (the table)
                if refusal is not None:
                    raise UsageError(refusal)
                decision = commands.decide(self, command, now)
                self.apply(decision.intents)
                result = decision.result
            except UsageError as exc:
                result = f"refused: {exc}"
            assert command.id is not None
            self.ctx.store.mark_command_applied(command.id, result, now)
            self.emit(
                EventType.COMMAND_APPLIED,
                message=f"{command.kind.value} by {command.actor.label()}: {result}",
                data={"command": command.kind.value, "by": command.actor.id, "result": result,
                      "identity": command.actor.identity, "kind": command.actor.kind.value,
                      "key_id": command.actor.key_id},
            )

    def apply(self, intents: tuple[Intent, ...] | list[Intent]) -> None:
        """The one place a command's decision changes the rollout, intent by intent."""
        for intent in intents:
            if isinstance(intent, Transition):
                self.transition(intent.to, intent.reason, intent.message)
            elif isinstance(intent, PauseIntent):
                self._pause(intent.phase, intent.reason, intent.message)
            elif isinstance(intent, CompleteStep):
                self._complete_step(intent.message)
            elif isinstance(intent, RestartStep):
                at = intent.at or self.now()
                self.record.step_index = intent.index
                self.runtime.step = self._fresh_state(intent.index, at)
            elif isinstance(intent, RequestRollback):
                self.begin_rollback(intent.reason, intent.message, intent.end)
            elif isinstance(intent, ResetInconclusiveBreakers):
                if self.runtime.breakers is not None:
                    self.runtime.breakers = analysis.reset_inconclusive(
                        self.runtime.breakers, intent.at
                    )
            elif isinstance(intent, ClearHolds):
                if self.runtime.step is not None:
                    self.runtime.step.detail.pop("held_since", None)
                    self.runtime.step.detail.pop("announced", None)
            elif isinstance(intent, Waive):
                self._waive(list(intent.names), intent.who)
            elif isinstance(intent, RecordApproval):
                self.ctx.store.add_approval(intent.approval)
            elif isinstance(intent, Announce):
                self.emit(intent.type, intent.reason, intent.message, intent.data or None)
            else:  # pragma: no cover - mypy checks the union is exhausted
                raise TypeError(f"unknown intent {intent!r}")

    def _audit_or_roll_back(self) -> bool:
        """Fail closed on the audit: a rollout that cannot be audited goes no further (it is
        rolled back); a rollback goes on whatever the audit log does. True: a rollback began."""
        unaudited = self.bus.take_failures()
        if not unaudited:
            return False
        began = self.record.phase in WATCHED
        if began:
            self.begin_rollback(
                Reason.AUDIT_FAILED,
                f"the audit log cannot be written ({unaudited[0]}): nothing proceeds "
                "unaudited; rolling back",
            )
        else:
            self.emit(
                EventType.NOTICE,
                Reason.AUDIT_FAILED,
                f"{len(unaudited)} event(s) could not be written to the audit log "
                f"({unaudited[0]}); the state store has them all",
            )
        self.bus.take_failures()  # these events meet the same log; said once is enough
        return began

    # steps ----------------------------------------------------------------------------
    def _enter_step(self, index: int) -> None:
        """Start a step now: the clock is read here, after the previous step's effects."""
        self.record.step_index = index
        step = self.steps[index]
        state = self.runtime.step = self._fresh_state(index, self.now())
        data: dict[str, Any] = {"step": index + 1, "of": len(self.steps), "kind": state.kind}
        if state.pause_until is not None:
            data["until"] = state.pause_until.isoformat()
        self.emit(
            EventType.STEP_STARTED,
            message=f"step {index + 1}/{len(self.steps)}: {describe_step(step)}",
            data=data,
        )

    def _fresh_state(self, index: int, at: datetime) -> StepState:
        """The step's state from `at`; what it requires becomes evidence at this weight."""
        step = self.steps[index]
        state = steps.enter(self, step, index, at)
        needed = steps.required_checks(step)
        if needed and self.runtime.evidence is not None:
            self.runtime.evidence = evidence.require(self.runtime.evidence, self.plan, needed)
        return state

    def _complete_step(self, message: str = "") -> None:
        i = self.record.step_index
        self.emit(
            EventType.STEP_COMPLETED,
            message=message or f"step {i + 1}/{len(self.steps)} done",
            data={"step": i + 1},
        )
        if i + 1 >= len(self.steps):
            self.runtime.step = None
            return
        self._enter_step(i + 1)

    def _advance(self) -> datetime | None:
        for _ in range(MAX_STEPS_PER_TICK):
            step = self.current_step
            state = self.runtime.step
            if step is None or state is None:
                return None
            outcome = steps.progress(self, step, state, self.now())
            if isinstance(outcome, StepDone):
                if outcome.verified_weight is not None:
                    self._weight_read_back(outcome.verified_weight)
                if self.record.phase == Phase.AWAITING_APPROVAL:
                    self.transition(Phase.PROGRESSING, Reason.APPROVED, outcome.message)
                if isinstance(step, PromoteStep):
                    self._promoted()
                    return None
                self._complete_step(outcome.message)
                if state.kind in ENDS_TICK:
                    return self.now()  # the next step gets a tick (and queries) of its own
                continue
            if isinstance(outcome, Waiting):
                return outcome.until
            if isinstance(outcome, NeedsHuman):
                if self.record.phase != outcome.phase:
                    self._pause(outcome.phase, outcome.reason, outcome.message)
                else:
                    self.runtime.pause_message = outcome.message  # e.g. 1 of 2 approvals now
                return None
            self.begin_rollback(outcome.reason, outcome.message)
            return None
        raise RuntimeError("too many steps completed in one tick")

    def _pause(self, phase: Phase, reason: Reason, message: str) -> None:
        self.runtime.pause_reason = reason
        self.runtime.pause_message = message
        self.transition(phase, reason, message)

    # analysis -------------------------------------------------------------------------
    def _query_once(self, source: str, query: MetricQuery) -> QueryResult:
        """A breaker and a step analysis due in the same tick share one query."""
        key = (source, query.text, canonical_json(query.args), query.window_seconds)
        if key not in self._tick_results:
            self._tick_results[key] = self.source(source).query(query)
        return self._tick_results[key]

    def measure(self, run: AnalysisRunState, now: datetime) -> AnalysisRunState:
        """Take every due measurement of a run, then assess it."""
        for name in analysis.due_metrics(run, now):
            template = self.plan.analysis[name]
            started = self.now()
            value: float | None = None
            sent = f"judge {name}"
            try:
                if template.judge is not None:  # canary against baseline over a range
                    reading = judging.measure(
                        template,
                        self.source(template.source_key),
                        self.plan.variables(),
                        run.started_at,
                        started,
                    )
                    phase, value, message, sent = (
                        reading.phase,
                        reading.value,
                        reading.message,
                        reading.sent,
                    )
                else:
                    query = analysis.query_for(template, self.plan.variables())
                    sent = query.text
                    result = self._query_once(template.source_key, query)
                    value, sent = result.value, result.sent
                    phase, message = analysis.judge(template, value, result.readings)
                    if phase != MeasurementPhase.SUCCESSFUL and result.detail:
                        message = f"{message} ({result.detail})"  # e.g. which alarm fired
            except ProviderError as exc:
                phase, message = MeasurementPhase.ERROR, str(exc)
            except Exception as exc:  # a provider's own bug on an answer it did not expect
                phase = MeasurementPhase.ERROR
                message = f"{template.source_key}: unexpected answer ({type(exc).__name__}: {exc})"
            if value is not None and not math.isfinite(value):
                value = None  # judged above; the store, events and JSON lines hold finite numbers
            finished = self.now()
            run.metrics[name] = analysis.record_measurement(
                run.metrics[name], template, phase, value, message, finished
            )
            if self.runtime.evidence is not None:
                self.runtime.evidence = evidence.record(
                    self.runtime.evidence, self.plan, name, phase, finished
                )
            self.ctx.store.add_measurement(
                Measurement(
                    rollout_id=self.record.id,
                    run=run.id,
                    metric=name,
                    phase=phase,
                    value=value,
                    started_at=started,
                    finished_at=finished,
                    query=sent,
                    message=message,
                    dry_run=template.dry_run,
                )
            )
            self.emit(
                EventType.MEASUREMENT,
                message=f"{name}: {message}" + (" (dryRun: shown, never acts)"
                                                 if template.dry_run else ""),
                data={
                    "dryRun": template.dry_run,
                    "weight": self.runtime.canary_weight,
                    "run": run.id,
                    "metric": name,
                    "phase": phase.value,
                    "value": value,
                    "condition": template.success_condition or template.failure_condition,
                },
            )
        before = run.phase
        run = analysis.assess_run(run, self.plan.analysis)
        if run.phase.completed and run.phase != before:
            self.emit(
                EventType.ANALYSIS_COMPLETED,
                message=f"analysis {run.id} {run.phase.value}: {run.message}",
                data={"run": run.id, "phase": run.phase.value},
            )
        return run

    def _watch_breakers(self, now: datetime) -> None:
        run = self.runtime.breakers
        if run is None or run.phase in (AnalysisPhase.FAILED, AnalysisPhase.ERROR):
            return
        run = self.measure(run, now)
        self.runtime.breakers = run
        if run.phase in (AnalysisPhase.FAILED, AnalysisPhase.ERROR):
            culprit = analysis.culprit(run, self.plan.analysis)
            assert culprit is not None
            template = self.plan.analysis[culprit.name]
            message = f"breaker {culprit.name} tripped: {culprit.message}"
            self.emit(
                EventType.BREAKER_TRIPPED,
                Reason.BREAKER_TRIPPED,
                message,
                data={
                    "metric": culprit.name,
                    "value": culprit.last_value,
                    "successCondition": template.success_condition,
                    "failureCondition": template.failure_condition,
                    "failed": culprit.failed,
                    "failureLimit": template.failure_limit,
                },
            )
            self.begin_rollback(Reason.BREAKER_TRIPPED, message)
        elif run.phase == AnalysisPhase.INCONCLUSIVE and self.record.phase != Phase.PAUSED:
            self._pause(
                Phase.PAUSED,
                Reason.ANALYSIS_INCONCLUSIVE,
                f"breaker inconclusive: {run.message}; promote or resume to go on, or rollback",
            )

    # promote: the final step, an ordinary setWeight 100 (engine/steps.py) ----------------
    def _promoted(self) -> None:
        self.emit(EventType.STEP_COMPLETED, message="promoted", data={"step": len(self.steps)})
        self.runtime.step = None
        self.transition(Phase.SUCCEEDED, Reason.VERIFIED, f"{self.record.version} promoted")
        self.emit(
            EventType.ROLLOUT_FINISHED,
            Reason.VERIFIED,
            f"{self.record.version} is live: 100% of traffic",
            data={"phase": Phase.SUCCEEDED.value},
        )

    # rollback (engine/rollback.py) ------------------------------------------------------
    def begin_rollback(self, reason: Reason, message: str, end: Phase = Phase.ROLLED_BACK) -> None:
        """Roll back at this tick (engine/rollback.py restores); the rollout ends in `end`."""
        self.runtime.rollback_reason = reason
        self.runtime.rollback_message = message
        self.runtime.end_phase = end
        self.runtime.restore_attempts = 0
        self.transition(Phase.ROLLING_BACK, reason, message)
        self.emit(EventType.ROLLBACK_STARTED, reason, message)

    def router_for_restore(self) -> TrafficRouter:
        return rollback.router_for_restore(self)
