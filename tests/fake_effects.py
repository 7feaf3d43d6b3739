"""A fake effects object (engine/effects.py) beside the real one (RolloutEngine): step
executors run against it with a fake clock and a fake router, and every verb they use is
recorded, so a test sees what an executor asked for and what it returned."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shipsafe.clock import FakeClock
from shipsafe.engine import evidence
from shipsafe.plan.models import Plan
from shipsafe.providers.metrics.base import MetricSource
from shipsafe.providers.snapshots.base import DataSnapshotProvider
from shipsafe.providers.traffic.base import TrafficRouter
from shipsafe.records import (
    AnalysisRunState,
    Approval,
    Command,
    Event,
    EventType,
    Operation,
    OperationOutcome,
    Phase,
    Reason,
    RolloutRecord,
    Runtime,
    Snapshot,
)
from shipsafe.runner import RunResult
from tests.conftest import ALICE
from tests.fakes import FakeRouter


class FakeEffects:
    """Satisfies shipsafe.engine.effects.Effects; records what it is asked to do."""

    def __init__(self, plan: Plan, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        now = self.clock.now()
        self.plan = plan
        self.record = RolloutRecord(
            id="checkout-1", name=plan.metadata.name, service=plan.metadata.service,
            environment=plan.metadata.environment, version=plan.release.version,
            plan=plan.canonical(), plan_digest=plan.digest(), actor=ALICE,
            phase=Phase.PROGRESSING, created_at=now, updated_at=now,
        )
        self.record.runtime.canary_weight = 0
        self.record.runtime.evidence = evidence.at_weight(0, now, plan, breakers=False)
        self.steps: list[Any] = plan.effective_steps()
        self.fake_router = FakeRouter()
        self.events: list[tuple[EventType, Reason | None, str]] = []
        self.transitions: list[tuple[Phase, Reason]] = []
        self.weights_set: list[int] = []
        self.operations: list[tuple[str, OperationOutcome | None, str]] = []
        self.commands_run: list[list[str]] = []
        self.approvals: dict[str, int] = {}
        self.snapshot: Snapshot | None = None
        self.saves = 0
        self.verify_timeout = 30.0
        self.restore_attempts = 3
        self.proven_emergency = False

    # the rollout as data
    @property
    def runtime(self) -> Runtime:
        return self.record.runtime

    @property
    def current_step(self) -> Any | None:
        i = self.record.step_index
        return self.steps[i] if i < len(self.steps) else None

    def now(self) -> datetime:
        return self.clock.now()

    def gate_of(self, step: Any, index: int) -> str:
        return f"gate-{index + 1}"

    def is_guard_gate(self, index: int) -> bool:
        return False

    def required_approvals(self, step: Any, index: int) -> int:
        return int(step.approval.count)

    def approval_count(self, gate: str) -> int:
        return self.approvals.get(gate, 0)

    def verify_approval(self, gate: str, command: Command, now: datetime) -> Approval:
        return Approval(rollout_id=self.record.id, gate=gate, actor=command.actor,
                        approved_at=now)

    def pause_seconds(self, duration: float) -> float:
        return duration

    # events and records
    def emit(self, type: EventType, reason: Reason | None = None, message: str = "",
             data: dict[str, Any] | None = None) -> Event:
        self.events.append((type, reason, message))
        return Event(rollout_id=self.record.id, type=type, reason=reason, message=message,
                     data=data or {}, actor=ALICE.id, time=self.now())

    def save(self) -> None:
        self.saves += 1

    def transition(self, phase: Phase, reason: Reason, message: str) -> None:
        self.transitions.append((phase, reason))
        self.record.phase = phase

    def operation(self, kind: str, params: dict[str, Any]) -> Operation:
        self.operations.append((kind, None, ""))
        return Operation(id=len(self.operations), rollout_id=self.record.id, kind=kind,
                         params=params, started_at=self.now())

    def finish(self, op: Operation, outcome: OperationOutcome, detail: str = "") -> None:
        self.operations.append((op.kind, outcome, detail))

    # traffic and metrics
    @property
    def router(self) -> TrafficRouter:
        return self.fake_router

    def router_from(self, name: str, config: dict[str, Any]) -> TrafficRouter:
        return self.fake_router

    def set_weight(self, weight: int, promote: bool = False) -> None:
        self.weights_set.append(weight)
        self.fake_router.set_weight(weight)

    def provider_error(self, what: str, exc: Exception) -> None:
        self.events.append((EventType.PROVIDER_ERROR, None, f"{what}: {exc}"))

    def source(self, name: str) -> MetricSource:
        raise AssertionError(f"no metric source in this test ({name})")

    def measure(self, run: AnalysisRunState, now: datetime) -> AnalysisRunState:
        raise AssertionError("no measurement in this test")

    # snapshots, proofs, history, commands
    def stored_snapshot(self) -> Snapshot | None:
        return self.snapshot

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def data_snapshot(self, name: str, config: dict[str, Any]) -> DataSnapshotProvider:
        raise AssertionError(f"no data snapshot provider in this test ({name})")

    def sign(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def signer(self, purpose: str, signed: Any) -> Any | None:
        return None

    def witnessed(self, rollout_id: str, name: str) -> list[str] | None:
        return None

    def recent_rollouts(self, limit: int) -> list[RolloutRecord]:
        return []

    def run_command(self, argv: list[str], timeout: float) -> RunResult:
        self.commands_run.append(argv)
        return RunResult(exit_code=0, output="ok", timed_out=False)
