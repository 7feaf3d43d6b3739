"""One rollout, driven one tick at a time.

Each tick: apply commands from other processes, measure due breakers, advance the current
step if it is done (several instant steps may complete in one tick), promote or roll back.
Every phase change goes through engine.phases.transition; every provider side effect is
written to the store before (intent) and after (outcome); the record is saved every tick.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from shipsafe.engine import analysis, bluegreen, migrations, steps
from shipsafe.engine.context import ApprovalRefused, EngineContext
from shipsafe.engine.events import EventBus
from shipsafe.engine.phases import transition
from shipsafe.errors import ConfigurationError, PreflightError, ProviderError, UsageError
from shipsafe.plan.loader import plan_from_record
from shipsafe.plan.models import Plan
from shipsafe.plan.steps import ApprovalStep, PromoteStep, describe_step, step_spec
from shipsafe.providers.metrics.base import MetricQuery, MetricSource, QueryResult
from shipsafe.providers.traffic.base import TrafficRouter
from shipsafe.records import (
    AnalysisPhase,
    AnalysisRunState,
    Command,
    CommandKind,
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
    canonical_json,
)
from shipsafe.runner import PARENT_ENV, RunResult

# phases in which breakers are measured on every tick
WATCHED = frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.AWAITING_APPROVAL})
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
            step_count=len(guardrails.gates) + len(plan.effective_steps()),
            actor=ctx.actor,
            parent_id=parent_id,
            emergency=emergency,
            emergency_reason=emergency_reason,
            guardrails=guardrails,
            created_at=now,
            updated_at=now,
        )
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

    def _to(self, phase: Phase, reason: Reason, message: str) -> None:
        transition(self.record, phase, reason, message, self.emit)
        if phase.terminal:
            self.record.finished_at = self.now()

    @property
    def runtime(self) -> Runtime:
        return self.record.runtime

    @property
    def router(self) -> TrafficRouter:
        if self._router is None:
            self._router = self.ctx.providers.router(
                self.plan.target.router, self.plan.target.router_config()
            )
        return self._router

    def source(self, name: str) -> MetricSource:
        if name not in self._sources:
            config = self.plan.metric_sources[name].model_dump(mode="json", by_alias=True)
            self._sources[name] = self.ctx.providers.metric_source(name, config)
        return self._sources[name]

    def pause_seconds(self, duration: float) -> float:
        """Emergency mode may shorten pauses, as far as the policy allows (never breakers)."""
        cap = self.record.guardrails.emergency_max_pause_seconds
        if self.record.emergency and cap is not None:
            return min(duration, cap)
        return duration

    def run_command(self, argv: list[str], timeout: float) -> RunResult:
        """A command the plan names: no shell, a timeout, and SHIPSAFE_PARENT_ROLLOUT set."""
        return self.ctx.commands.run(argv, timeout=timeout, env={PARENT_ENV: self.record.id})

    def provider_error(self, what: str, exc: Exception) -> None:
        self.runtime.provider_errors += 1
        self.emit(EventType.PROVIDER_ERROR, message=f"{what}: {exc}", data={"provider": what})

    def approval_count(self, gate: str) -> int:
        """Distinct approvers of a gate: one person approving twice counts once."""
        return len(
            {
                (a.signer or a.actor.id).lower()
                for a in self.ctx.store.approvals(self.record.id)
                if a.gate == gate
            }
        )

    def is_guard_gate(self, index: int) -> bool:
        return index < len(self.record.guardrails.gates)

    def gate_of(self, step: Any, index: int) -> str:
        """A gate's name; plan gates are numbered as in the plan file (gate-<step>)."""
        return steps.gate_at(self.record, step, index)

    def required_approvals(self, step: Any, index: int) -> int:
        gates = self.record.guardrails.gates
        if index < len(gates):
            return gates[index].count
        return max(int(step_spec(step).count), self.record.guardrails.approval_count)

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

    _operation = operation
    _finish = finish

    def set_weight(self, weight: int) -> None:
        self.emit(EventType.WEIGHT_INTENT, data={"weight": weight})
        op = self._operation("set_weight", {"weight": weight})
        try:
            self.router.set_weight(weight)
        except ProviderError as exc:
            self._finish(op, OperationOutcome.ERROR, str(exc))
            raise
        self._finish(op, OperationOutcome.OK)
        self.emit(EventType.WEIGHT_SET, message=f"canary {weight}%", data={"weight": weight})

    # start --------------------------------------------------------------------------------
    def preflight(self) -> None:
        """Before anything changes: the router and every metric source must answer."""
        try:
            self.router.check()
            weight = self.router.get_weight()
        except ConfigurationError:
            raise
        except ProviderError as exc:
            raise PreflightError(f"preflight: router {self.plan.target.router}: {exc}") from None
        if weight != 0:
            raise PreflightError(
                f"preflight: the canary ({self.plan.target.canary_name}) already receives "
                f"{weight}% of traffic; a rollout starts from 0% (are stable and canary the "
                "right way round in the plan?)"
            )
        for name in self.plan.metric_sources:
            try:
                self.source(name).check()
            except ProviderError as exc:
                raise PreflightError(f"preflight: metric source {name!r}: {exc}") from None
        values = self._preflight_queries()
        self.emit(
            EventType.PREFLIGHT_PASSED,
            message=f"router and metric sources answer; {len(values)} analysis queries return "
            "data against the stable target",
            data={"queries": values},
        )

    def _preflight_queries(self) -> dict[str, float]:
        """Every analysis query, once, against the stable target: a query that returns no
        data or an error now would judge the canary on nothing later (fail closed)."""
        variables = {**self.plan.variables(), "canary": self.plan.target.stable_name}
        values: dict[str, float] = {}
        for name, template in self.plan.analysis.items():
            query = analysis.query_for(template, variables)
            text = query.text
            try:
                value = self.source(template.source).query(query).value
            except ProviderError as exc:
                raise PreflightError(
                    f"preflight: analysis {name!r} query {text!r} failed against the stable "
                    f"target: {exc}"
                ) from None
            if value is None or value != value:  # None or NaN: no data
                raise PreflightError(
                    f"preflight: analysis {name!r} query {text!r} returned no data against the "
                    f"stable target ({self.plan.target.stable_name}); a rollout judged on no "
                    "data is not watched at all"
                )
            values[name] = value
        return values

    def take_snapshot(self) -> Snapshot:
        """Snapshot the router before the first change, store it, then verify the stored copy
        against a fresh read: rollback needs nothing but this."""
        try:
            state = self.router.read_state()
            config = self.router.config()
        except ProviderError as exc:
            raise PreflightError(f"snapshot: cannot read the router: {exc}") from None
        name = self.plan.target.router
        snapshot = Snapshot(
            rollout_id=self.record.id,
            router=name,
            config=config,
            state=state,
            checksum=Snapshot.checksum_of(name, config, state),
            taken_at=self.now(),
            blue=bluegreen.blue_record(self),
        )
        self.ctx.store.save_snapshot(snapshot)
        self.emit(
            EventType.SNAPSHOT_TAKEN,
            message=f"router state saved ({snapshot.checksum[:12]})",
            data={"router": name, "state": state, "checksum": snapshot.checksum},
        )
        stored = self.ctx.store.get_snapshot(self.record.id)
        try:
            again = self.router.read_state()
        except ProviderError as exc:
            raise PreflightError(f"snapshot: cannot re-read the router: {exc}") from None
        if (
            stored is None
            or stored.checksum != Snapshot.checksum_of(stored.router, stored.config, stored.state)
            or stored.checksum != Snapshot.checksum_of(name, config, again)
        ):
            raise PreflightError("snapshot: the stored snapshot does not match the router")
        verified = stored.model_copy(update={"verified_at": self.now()})
        self.ctx.store.save_snapshot(verified)
        self.emit(EventType.SNAPSHOT_VERIFIED, message="stored snapshot equals the router")
        return verified

    def start(self) -> None:
        """pending -> progressing: preflight, snapshot, verify, start breakers and step 1.

        A PreflightError or ConfigurationError leaves the rollout aborted and the target
        untouched (nothing has been changed yet)."""
        try:
            self.preflight()
            self.take_snapshot()
        except (PreflightError, ConfigurationError) as exc:
            self.emit(EventType.PREFLIGHT_FAILED, Reason.PREFLIGHT_FAILED, str(exc))
            self._to(Phase.ABORTED, Reason.PREFLIGHT_FAILED, str(exc))
            self.save()
            raise
        now = self.now()
        self._to(Phase.PROGRESSING, Reason.STARTED, f"rolling out {self.record.version}")
        if self.plan.breakers:
            names = [b.analysis for b in self.plan.breakers]
            self.runtime.breakers = analysis.new_run(
                "breakers", analysis.BREAKER, names, self.plan.analysis, now
            )
        self._enter_step(0, now)
        self.save()

    # reconcile after another process died --------------------------------------------
    def reconcile(self) -> None:
        """Close intents left open by a process that died between intent and outcome."""
        for op in self.ctx.store.open_operations(self.record.id):
            try:
                detail = f"router reads canary {self.router_for_restore().get_weight()}%"
            except ProviderError as exc:
                detail = f"router unreadable: {exc}"
            self._finish(op, OperationOutcome.INTERRUPTED, detail)
            self.emit(
                EventType.RECONCILED,
                message=f"{op.kind} {op.params} was interrupted; {detail}",
                data={"operation": op.kind, "params": op.params},
            )
        self.save()

    # the tick -------------------------------------------------------------------------
    def tick(self) -> datetime | None:
        """One pass of the control loop. Returns when the next look is due (None: no timer)."""
        now = self.now()
        self._tick_results.clear()
        self._apply_commands(now)
        if self.record.phase in WATCHED:
            self._watch_breakers(now)
        wake = None
        if self.record.phase in (Phase.PROGRESSING, Phase.AWAITING_APPROVAL):
            wake = self._advance(now)
        if self.record.phase == Phase.PROMOTING:
            wake = self._promote(now)
        if self.record.phase == Phase.ROLLING_BACK:
            self._rollback()
        self.save()
        timers = [
            t
            for t in (wake, analysis.next_due(self.runtime.breakers))
            if t is not None and self.record.phase in WATCHED | {Phase.PROMOTING}
        ]
        return min(timers, default=None)

    # steps ----------------------------------------------------------------------------
    def _enter_step(self, index: int, now: datetime) -> None:
        self.record.step_index = index
        step = self.steps[index]
        state = self.runtime.step = steps.enter(self, step, index, now)
        data: dict[str, Any] = {"step": index + 1, "of": len(self.steps), "kind": state.kind}
        if state.pause_until is not None:
            data["until"] = state.pause_until.isoformat()
        self.emit(
            EventType.STEP_STARTED,
            message=f"step {index + 1}/{len(self.steps)}: {describe_step(step)}",
            data=data,
        )

    def _complete_step(self, now: datetime, message: str = "") -> None:
        i = self.record.step_index
        self.emit(
            EventType.STEP_COMPLETED,
            message=message or f"step {i + 1}/{len(self.steps)} done",
            data={"step": i + 1},
        )
        if i + 1 >= len(self.steps):
            self.runtime.step = None
            return
        self._enter_step(i + 1, now)

    def _advance(self, now: datetime) -> datetime | None:
        for _ in range(MAX_STEPS_PER_TICK):
            step = self.current_step
            state = self.runtime.step
            if step is None or state is None:
                return None
            if isinstance(step, PromoteStep):
                self._to(Phase.PROMOTING, Reason.STEPS_COMPLETE, "all steps done; promoting")
                return now
            outcome = steps.progress(self, step, state, now)
            if outcome.kind == "done":
                if self.record.phase == Phase.AWAITING_APPROVAL:
                    self._to(Phase.PROGRESSING, Reason.APPROVED, outcome.message)
                self._complete_step(now, outcome.message)
                continue
            if outcome.kind == "wait":
                return outcome.until
            if outcome.kind == "human":
                assert outcome.phase is not None and outcome.reason is not None
                if self.record.phase != outcome.phase:
                    self._pause(outcome.phase, outcome.reason, outcome.message)
                else:
                    self.runtime.pause_message = outcome.message  # e.g. 1 of 2 approvals now
                return None
            assert outcome.reason is not None
            self.begin_rollback(outcome.reason, outcome.message)
            return None
        raise RuntimeError("too many steps completed in one tick")

    def _pause(self, phase: Phase, reason: Reason, message: str) -> None:
        self.runtime.pause_reason = reason
        self.runtime.pause_message = message
        self._to(phase, reason, message)

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
            query = analysis.query_for(template, self.plan.variables())
            started = self.now()
            value: float | None = None
            try:
                result = self._query_once(template.source, query)
                value, sent = result.value, result.sent
                phase, message = analysis.judge(template, value)
            except ProviderError as exc:
                phase, message, sent = MeasurementPhase.ERROR, str(exc), query.text
            finished = self.now()
            run.metrics[name] = analysis.record_measurement(
                run.metrics[name], template, phase, value, message, finished
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
                )
            )
            self.emit(
                EventType.MEASUREMENT,
                message=f"{name}: {message}",
                data={
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
            culprit = next(m for m in run.metrics.values() if m.phase == run.phase)
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

    # commands from any process -----------------------------------------------------------
    def _apply_commands(self, now: datetime) -> None:
        for command in self.ctx.store.pending_commands(self.record.id):
            try:
                result = self._apply(command, now)
            except UsageError as exc:
                result = f"refused: {exc}"
            assert command.id is not None
            self.ctx.store.mark_command_applied(command.id, result, now)
            self.emit(
                EventType.COMMAND_APPLIED,
                message=f"{command.kind.value} by {command.actor.label()}: {result}",
                data={"command": command.kind.value, "by": command.actor.id, "result": result},
            )

    def _apply(self, command: Command, now: datetime) -> str:
        phase = self.record.phase
        kind = command.kind
        who = command.actor.label()
        if kind in (CommandKind.ROLLBACK, CommandKind.ABORT):
            if phase == Phase.ROLLING_BACK:
                return "already rolling back"
            end = Phase.ABORTED if kind == CommandKind.ABORT else Phase.ROLLED_BACK
            if phase in (Phase.ROLLED_BACK, Phase.ABORTED):
                raise UsageError(f"already {phase.value}")
            reason = Reason.MANUAL_ABORT if kind == CommandKind.ABORT else Reason.MANUAL_ROLLBACK
            why = command.args.get("reason") or ""
            self.begin_rollback(reason, f"{kind.value} by {who}" + (f": {why}" if why else ""), end)
            return f"{kind.value} started"
        if phase.terminal or phase in (Phase.ROLLING_BACK, Phase.PROMOTING, Phase.PENDING):
            raise UsageError(f"the rollout is {phase.value}")
        if kind == CommandKind.PAUSE:
            if phase != Phase.PROGRESSING:
                raise UsageError(f"the rollout is {phase.value}, not progressing")
            self._pause(Phase.PAUSED, Reason.MANUAL_PAUSE, f"paused by {who}")
            return "paused"
        if kind == CommandKind.RESUME:
            return self._resume(phase, who, now)
        if kind == CommandKind.PROMOTE:
            return self._promote_command(bool(command.args.get("full")), who, now)
        if kind == CommandKind.APPROVE:
            return self._approve(command, now)
        raise UsageError(f"unknown command {kind}")

    def _resume(self, phase: Phase, who: str, now: datetime) -> str:
        if phase != Phase.PAUSED:
            return f"nothing to resume: the rollout is {phase.value}"
        reason = self.runtime.pause_reason
        if reason == Reason.STEP_PAUSE:
            raise UsageError("this pause step waits for promote: shipsafe promote ID")
        if reason == Reason.ANALYSIS_INCONCLUSIVE:
            self._restart_inconclusive(now)
        self._to(Phase.PROGRESSING, Reason.RESUMED, f"resumed by {who}")
        return "resumed"

    def _restart_inconclusive(self, now: datetime) -> None:
        state = self.runtime.step
        if state and state.analysis and state.analysis.phase == AnalysisPhase.INCONCLUSIVE:
            step = self.current_step
            assert step is not None
            self.runtime.step = steps.enter(self, step, state.index, now)
        if self.runtime.breakers and self.runtime.breakers.phase == AnalysisPhase.INCONCLUSIVE:
            self.runtime.breakers = analysis.reset_inconclusive(self.runtime.breakers, now)

    def _promote_command(self, full: bool, who: str, now: datetime) -> str:
        phase = self.record.phase
        if phase == Phase.AWAITING_APPROVAL:
            raise UsageError("promote cannot pass an approval gate: use shipsafe approve")
        if full:
            for i in range(self.record.step_index, len(self.steps)):
                step = self.steps[i]
                if isinstance(step, ApprovalStep):
                    gate = self.gate_of(step, i)
                    deferred = (
                        self.record.emergency
                        and self.record.guardrails.review_gate
                        and not self.is_guard_gate(i)
                    )
                    if not deferred and self.approval_count(gate) < self.required_approvals(
                        step, i
                    ):
                        raise UsageError(
                            f"promote --full would skip approval gate {gate}: approve it first"
                        )
            if self.runtime.breakers and self.runtime.breakers.phase == AnalysisPhase.INCONCLUSIVE:
                self.runtime.breakers = analysis.reset_inconclusive(self.runtime.breakers, now)
            self.emit(EventType.NOTICE, Reason.PROMOTED, f"full promotion by {who}")
            self.record.step_index = len(self.steps) - 1
            self.runtime.step = steps.enter(self, self.steps[-1], len(self.steps) - 1, now)
            if phase != Phase.PROGRESSING:
                self._to(Phase.PROGRESSING, Reason.PROMOTED, f"promoted by {who}")
            return "promoting to 100%"
        step = self.current_step
        if isinstance(step, ApprovalStep):
            raise UsageError("promote cannot pass an approval gate: use shipsafe approve")
        breakers = self.runtime.breakers
        if phase == Phase.PAUSED and self.runtime.pause_reason == Reason.ANALYSIS_INCONCLUSIVE:
            state = self.runtime.step
            step_inconclusive = (
                state is not None
                and state.analysis is not None
                and state.analysis.phase == AnalysisPhase.INCONCLUSIVE
            )
            if breakers and breakers.phase == AnalysisPhase.INCONCLUSIVE:
                self.runtime.breakers = analysis.reset_inconclusive(breakers, now)
            self._to(Phase.PROGRESSING, Reason.PROMOTED, f"inconclusive result accepted by {who}")
            if step_inconclusive:
                self._complete_step(now, f"inconclusive analysis accepted by {who}")
            return "accepted the inconclusive result; going on"
        if phase == Phase.PAUSED:
            self._to(Phase.PROGRESSING, Reason.PROMOTED, f"promoted by {who}")
        self._complete_step(now, f"step skipped: promoted by {who}")
        return "promoted past the current step"

    def _approve(self, command: Command, now: datetime) -> str:
        step = self.current_step
        wanted = command.args.get("gate")
        waiting = isinstance(step, ApprovalStep) and self.record.phase == Phase.AWAITING_APPROVAL
        if not waiting and not wanted:
            raise UsageError("no approval gate is waiting")
        gate = wanted or self.gate_of(step, self.record.step_index)
        try:
            approval = self.ctx.approvals.verify(self.record, gate, command, now)
        except ApprovalRefused as exc:
            self.emit(
                EventType.APPROVAL_REFUSED,
                message=f"approval of {gate} by {command.actor.label()} refused: {exc}",
                data={"gate": gate, "by": command.actor.id, "reason": str(exc)},
            )
            return f"refused: {exc}"
        self.ctx.store.add_approval(approval)
        self.emit(
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

    # promote ------------------------------------------------------------------------------
    def _promote(self, now: datetime) -> datetime | None:
        state = self.runtime.step
        if state is None or state.kind != "promote":
            index = len(self.steps) - 1
            self.record.step_index = index
            state = self.runtime.step = steps.enter(self, self.steps[index], index, now)
        deadline = state.started_at + timedelta(seconds=self.ctx.verify_timeout)
        try:
            if not state.detail.get("sent"):
                self.emit(EventType.WEIGHT_INTENT, message="promote", data={"weight": 100})
                op = self._operation("promote", {})
                try:
                    self.router.promote()
                except ProviderError as exc:
                    self._finish(op, OperationOutcome.ERROR, str(exc))
                    raise
                self._finish(op, OperationOutcome.OK)
                state.detail["sent"] = True
                self.emit(EventType.WEIGHT_SET, message="canary 100%", data={"weight": 100})
            actual = self.router.get_weight()
        except ProviderError as exc:
            self.provider_error("router", exc)
            state.detail["sent"] = False
            if now >= deadline:
                self.begin_rollback(Reason.PROVIDER_FAILED, f"promote failed: {exc}")
                return None
            return now + timedelta(seconds=steps.WEIGHT_RECHECK_SECONDS)
        if actual == 100:
            self.runtime.canary_weight = 100
            self.emit(EventType.WEIGHT_VERIFIED, message="router reads canary 100%",
                      data={"weight": 100})
            self.emit(EventType.STEP_COMPLETED, message="promoted",
                      data={"step": len(self.steps)})
            self.runtime.step = None
            self._to(Phase.SUCCEEDED, Reason.VERIFIED, f"{self.record.version} promoted")
            self.emit(EventType.ROLLOUT_FINISHED, Reason.VERIFIED,
                      f"{self.record.version} is live: 100% of traffic",
                      data={"phase": Phase.SUCCEEDED.value})
            return None
        if now >= deadline:
            self.begin_rollback(
                Reason.WEIGHT_NOT_VERIFIED,
                f"after promote the router reads canary {actual}%, expected 100%",
            )
            return None
        return now + timedelta(seconds=steps.WEIGHT_RECHECK_SECONDS)

    # rollback -----------------------------------------------------------------------------
    def begin_rollback(
        self, reason: Reason, message: str, end: Phase = Phase.ROLLED_BACK
    ) -> None:
        self.runtime.rollback_reason = reason
        self.runtime.rollback_message = message
        self.runtime.end_phase = end
        self.runtime.restore_attempts = 0
        self._to(Phase.ROLLING_BACK, reason, message)
        self.emit(EventType.ROLLBACK_STARTED, reason, message)

    def router_for_restore(self) -> TrafficRouter:
        """Built from the stored snapshot alone (not the plan): rollback needs nothing else."""
        snapshot = self.ctx.store.get_snapshot(self.record.id)
        if snapshot is None:
            return self.router
        return self.ctx.providers.router(snapshot.router, snapshot.config)

    def _rollback(self) -> None:
        """Restore the snapshot, read the router back, compare. Fixed order, like Flagger."""
        end = self.runtime.end_phase or Phase.ROLLED_BACK
        snapshot = self.ctx.store.get_snapshot(self.record.id)
        if snapshot is None:
            message = "nothing to restore: no traffic had moved"
            self._to(end, Reason.RESTORED, message)
            self.emit(EventType.ROLLBACK_FINISHED, Reason.RESTORED, message)
            return
        router = self.ctx.providers.router(snapshot.router, snapshot.config)
        op = self._operation("restore", {"checksum": snapshot.checksum})
        try:
            if snapshot.blue and not self._router_equals(router, snapshot):
                bluegreen.still_blue(self, snapshot)  # never cut back to a changed blue
            router.restore(snapshot.state)
            actual = router.read_state()
        except ProviderError as exc:
            self._finish(op, OperationOutcome.ERROR, str(exc))
            self.runtime.restore_attempts += 1
            if self.runtime.restore_attempts < self.ctx.restore_attempts:
                self.provider_error("router", exc)
                return  # try again next tick
            self._rollback_failed(Reason.RESTORE_ERROR, f"cannot restore the snapshot: {exc}")
            return
        except bluegreen.BlueCheckFailed as exc:
            self._finish(op, OperationOutcome.ERROR, exc.message)
            self._rollback_failed(exc.reason, exc.message)
            return
        if Snapshot.checksum_of(snapshot.router, snapshot.config, actual) != snapshot.checksum:
            self._finish(op, OperationOutcome.ERROR, f"router reads {actual}")
            self._rollback_failed(
                Reason.RESTORE_MISMATCH,
                f"after restore the router reads {actual}, the snapshot says {snapshot.state}",
            )
            return
        self._finish(op, OperationOutcome.OK, "router equals the snapshot")
        self.runtime.canary_weight = None
        self.runtime.step = None
        data_not_back = migrations.undo(self)
        if data_not_back is not None:
            self._rollback_failed(Reason.MIGRATION_FAILED, data_not_back)
            return
        message = f"traffic restored to the snapshot and verified ({snapshot.checksum[:12]})"
        self._to(end, Reason.RESTORED, message)
        self.emit(
            EventType.ROLLBACK_FINISHED,
            Reason.RESTORED,
            message,
            data={"state": actual, "cause": self.runtime.rollback_message},
        )
        self.emit(EventType.ROLLOUT_FINISHED, self.runtime.rollback_reason,
                  self.runtime.rollback_message, data={"phase": end.value})

    @staticmethod
    def _router_equals(router: TrafficRouter, snapshot: Snapshot) -> bool:
        try:
            state = router.read_state()
        except ProviderError:
            return False
        return Snapshot.checksum_of(snapshot.router, snapshot.config, state) == snapshot.checksum

    def _rollback_failed(self, reason: Reason, message: str) -> None:
        self._to(Phase.ROLLBACK_FAILED, reason, message)
        self.emit(EventType.ROLLBACK_FAILED, reason, message + " - page a human")
        self.emit(EventType.ROLLOUT_FINISHED, reason, message,
                  data={"phase": Phase.ROLLBACK_FAILED.value})
