"""The effects object: what step executors, commands and the rollback may read and do.

Step executors (engine/steps.py, bluegreen.py, migrations.py, data.py, preflight.py,
rollback.py) and commands (engine/commands.py) receive an `Effects` and never the engine
itself: they read the rollout's data, ask for I/O through these verbs, and *return* their
decision (engine/outcomes.py, engine/intents.py) for the rollout to apply. RolloutEngine
(engine/rollout.py) is the implementation: every verb writes intent and outcome to the
store, emits events and fences router writes as the loop does. A test hands an executor a
fake with the same verbs. This module imports no other engine module, so none of them
needs to import the rollout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

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


class RolloutView(Protocol):
    """The rollout as data, and the approval counters: what commands decide on."""

    @property
    def plan(self) -> Plan: ...

    @property
    def record(self) -> RolloutRecord: ...

    @property
    def runtime(self) -> Runtime: ...

    @property
    def steps(self) -> list[Any]: ...

    @property
    def current_step(self) -> Any | None: ...

    @property
    def proven_emergency(self) -> bool:
        """The deploy's signed proof says emergency (a row edited to say so does not)."""
        ...

    def now(self) -> datetime: ...

    def pause_seconds(self, duration: float) -> float:
        """A pause's length (an emergency may shorten it, as far as the policy allows)."""
        ...

    def gate_of(self, step: Any, index: int) -> str: ...

    def is_guard_gate(self, index: int) -> bool: ...

    def required_approvals(self, step: Any, index: int) -> int: ...

    def approval_count(self, gate: str) -> int:
        """Distinct approvers of `gate` whose approvals verify now."""
        ...

    def verify_approval(self, gate: str, command: Command, now: datetime) -> Approval:
        """The approval `command` gives `gate` (ApprovalRefused: why not)."""
        ...

    def recent_rollouts(self, limit: int) -> list[RolloutRecord]:
        """The latest rollouts of this service and environment, newest first."""
        ...


class Recording(Protocol):
    """Events, the record, and the intent and outcome of every side effect."""

    def emit(
        self,
        type: EventType,
        reason: Reason | None = None,
        message: str = "",
        data: dict[str, Any] | None = None,
    ) -> Event: ...

    def save(self) -> None: ...

    def transition(self, phase: Phase, reason: Reason, message: str) -> None:
        """Change phase through the one transition table (engine/phases.py)."""
        ...

    def operation(self, kind: str, params: dict[str, Any]) -> Operation: ...

    def finish(self, op: Operation, outcome: OperationOutcome, detail: str = "") -> None: ...


class Traffic(Protocol):
    """The router: the plan's, or one rebuilt from the stored snapshot."""

    # how long a weight change may take to read back; how often a restore is tried
    @property
    def verify_timeout(self) -> float: ...

    @property
    def restore_attempts(self) -> int: ...

    @property
    def router(self) -> TrafficRouter: ...

    def router_from(self, name: str, config: dict[str, Any]) -> TrafficRouter:
        """A router rebuilt from a stored snapshot's name and config (not the plan)."""
        ...

    def set_weight(self, weight: int, promote: bool = False) -> None:
        """The one way the canary's weight changes (evidence rule and fence included)."""
        ...

    def provider_error(self, what: str, exc: Exception) -> None: ...


class Measuring(Protocol):
    """Metric sources, and measurements taken, stored and counted as evidence."""

    def source(self, name: str) -> MetricSource: ...

    def measure(self, run: AnalysisRunState, now: datetime) -> AnalysisRunState:
        """Take every due measurement of `run` (stored, emitted, counted as evidence)."""
        ...


class Snapshots(Protocol):
    """The stored router snapshot, data-snapshot providers, and the proofs over them."""

    def stored_snapshot(self) -> Snapshot | None: ...

    def save_snapshot(self, snapshot: Snapshot) -> None: ...

    def data_snapshot(self, name: str, config: dict[str, Any]) -> DataSnapshotProvider: ...

    def sign(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | None: ...

    def signer(self, purpose: str, signed: Any) -> Any | None: ...

    def witnessed(self, rollout_id: str, name: str) -> list[str] | None:
        """Digests the audit witness holds for a data snapshot's record (None: no witness)."""
        ...


class PlanCommands(Protocol):
    """Commands the plan names (migrations, blue's identity probe): no shell, a timeout."""

    def run_command(self, argv: list[str], timeout: float) -> RunResult: ...


class Effects(RolloutView, Recording, Traffic, Measuring, Snapshots, PlanCommands, Protocol):
    """Everything a step executor may read and do: the groups above, nothing else."""


# the groups, in the order above (a fake must offer every verb of each)
GROUPS: tuple[type, ...] = (RolloutView, Recording, Traffic, Measuring, Snapshots, PlanCommands)
