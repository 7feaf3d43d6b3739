"""Plain data shared by every layer: rollout record, phases, events, measurements, snapshots.

The engine, stores, audit and renderers import this module; it imports none of them, so no
layer reaches back up. Everything here serialises to JSON (pydantic) because every record
is persisted and may be read back by another process on another machine.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def canonical_json(value: Any) -> str:
    """The one canonical JSON form used for digests and hash chains."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Phase(StrEnum):
    PENDING = "pending"
    PROGRESSING = "progressing"
    PAUSED = "paused"
    AWAITING_APPROVAL = "awaiting_approval"
    PROMOTING = "promoting"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    ABORTED = "aborted"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_PHASES

    @property
    def waiting_for_human(self) -> bool:
        return self in (Phase.PAUSED, Phase.AWAITING_APPROVAL)


# succeeded stays open to `rollback` during the rollback window, but the rollout is over.
TERMINAL_PHASES = frozenset(
    {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ROLLBACK_FAILED, Phase.ABORTED}
)


class Reason(StrEnum):
    """Why a phase changed or an event happened: a fixed set, so agents can branch on it."""

    STARTED = "started"
    STEP_PAUSE = "step_pause"
    MANUAL_PAUSE = "manual_pause"
    ANALYSIS_INCONCLUSIVE = "analysis_inconclusive"
    APPROVAL_REQUIRED = "approval_required"
    APPROVED = "approved"
    RESUMED = "resumed"
    PROMOTED = "promoted"
    STEPS_COMPLETE = "steps_complete"
    VERIFIED = "verified"
    ANALYSIS_FAILED = "analysis_failed"
    BREAKER_TRIPPED = "breaker_tripped"
    PROVIDER_FAILED = "provider_failed"
    WEIGHT_NOT_VERIFIED = "weight_not_verified"
    MANUAL_ROLLBACK = "manual_rollback"
    MANUAL_ABORT = "manual_abort"
    ABANDONED = "abandoned"
    PREFLIGHT_FAILED = "preflight_failed"
    RESTORED = "restored"
    RESTORE_MISMATCH = "restore_mismatch"
    RESTORE_ERROR = "restore_error"
    STEP_FAILED = "step_failed"
    POLICY_VIOLATION = "policy_violation"  # the plan or the deploy breaks the policy (exit 2)
    FROZEN = "frozen"  # freeze window, environment freeze, protected blue, window open (exit 6)
    SNAPSHOT_UNVERIFIED = "snapshot_unverified"
    BLUE_UNHEALTHY = "blue_unhealthy"
    BLUE_CHANGED = "blue_changed"
    MIGRATION_FAILED = "migration_failed"
    APPROVAL_DEFERRED = "approval_deferred"  # emergency: the approval comes after, as a review
    AUDIT_FAILED = "audit_failed"  # the audit log cannot be written: nothing proceeds unaudited
    NO_EVIDENCE = "no_evidence"  # a required check has no success at the current weight
    ANALYSIS_HELD = "analysis_held"  # onFailure: hold: the weight is held, measured afresh
    LOCKED = "locked"  # another rollout of the service holds the lock: deploy refused (exit 6)
    INTERNAL_ERROR = "internal_error"  # a bug met after traffic moved: rolled back anyway
    TARGET_CHANGED = "target_changed"  # another writer moved the router: stopped, exit 6


class ActorKind(StrEnum):
    HUMAN = "human"
    CI = "ci"
    AGENT = "agent"


class Actor(Record):
    """Who acted, as what, from where. `id` is a display label (--actor); `kind` and
    `identity` come from the trust root for the key the actor signed with (`key_id`). No
    key, or a key the root does not list: an unverified agent (identity None)."""

    id: str
    kind: ActorKind
    host: str
    identity: str | None = None  # the trust root's name for key_id
    key_id: str | None = None

    @property
    def verified(self) -> bool:
        return self.key_id is not None and self.identity is not None

    def label(self) -> str:
        who = self.id if self.identity in (None, self.id) else f"{self.id} [{self.identity}]"
        what = self.kind.value if self.verified else "unverified agent"
        return f"{who} ({what}) on {self.host}"


class MeasurementPhase(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class AnalysisPhase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"
    FAILED = "failed"

    @property
    def completed(self) -> bool:
        return self not in (AnalysisPhase.PENDING, AnalysisPhase.RUNNING)


# Worst first: a run's phase is the worst of its metrics' phases by this order.
ANALYSIS_PHASE_ORDER = [
    AnalysisPhase.FAILED,
    AnalysisPhase.ERROR,
    AnalysisPhase.INCONCLUSIVE,
    AnalysisPhase.RUNNING,
    AnalysisPhase.PENDING,
    AnalysisPhase.SUCCESSFUL,
]


class MetricState(Record):
    """Argo Rollouts' per-metric counters, persisted so a resumed process carries on."""

    name: str
    measured: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    consecutive_success: int = 0
    next_due: datetime | None = None
    phase: AnalysisPhase = AnalysisPhase.PENDING
    message: str = ""
    last_value: float | None = None


class AnalysisRunState(Record):
    id: str
    kind: str  # "step" or "breaker"
    templates: list[str]
    started_at: datetime
    phase: AnalysisPhase = AnalysisPhase.RUNNING
    message: str = ""
    metrics: dict[str, MetricState] = Field(default_factory=dict)


class StepState(Record):
    """Progress inside the current step, persisted every tick."""

    index: int
    kind: str
    started_at: datetime
    weight_requested: int | None = None
    weight_deadline: datetime | None = None
    pause_until: datetime | None = None
    analysis: AnalysisRunState | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class WeightEvidence(Record):
    """What was measured while the canary held one weight (engine/evidence.py decides).

    A success counts only when it finished after the weight was read back plus the check's
    initialDelay. Persisted with the rollout: a process that resumes it sees the same."""

    weight: int
    read_back_at: datetime
    required: list[str] = Field(default_factory=list)  # checks that must succeed here
    succeeded: dict[str, datetime] = Field(default_factory=dict)  # check -> when it counted
    streak: dict[str, int] = Field(default_factory=dict)  # counted successes in a row
    waived: dict[str, str] = Field(default_factory=dict)  # check -> the human who accepted


class Runtime(Record):
    step: StepState | None = None
    evidence: WeightEvidence | None = None
    breakers: AnalysisRunState | None = None
    pause_reason: Reason | None = None
    pause_message: str = ""
    rollback_reason: Reason | None = None
    rollback_message: str = ""
    end_phase: Phase | None = None  # where rolling_back ends: rolled_back or aborted
    canary_weight: int | None = None  # last weight the router confirmed
    provider_errors: int = 0
    restore_attempts: int = 0
    migrations: list[MigrationState] = Field(default_factory=list)


class MigrationState(Record):
    """A migration the rollout ran (or started): what rollback must undo, with what."""

    step: int
    name: str
    compatibility: str
    down: list[str] | None  # None: irreversible
    timeout: float
    state: str  # started | applied | failed | undone | down_failed | needs_restore


class TrustedKey(Record):
    """An approver's public key from the trust file (public material only)."""

    key_id: str
    identity: str
    kind: ActorKind
    groups: list[str] = Field(default_factory=list)
    public_key: str  # base64 of the raw 32-byte ed25519 public key


class GuardGate(Record):
    """An approval gate the policy put before the plan's first step (freeze, cascade)."""

    name: str
    count: int = 1
    reason: str


class Guardrails(Record):
    """What the policy decided for this rollout, stored with it: every process that acts on
    the rollout (another machine, without the policy or trust file) enforces the same."""

    policy: str = "none"  # where the policy came from: a path, "builtin", or "none"
    signed_approvals: bool = False
    approval_count: int = 1
    approval_group: str | None = None
    trusted_keys: list[TrustedKey] = Field(default_factory=list)
    trust_digest: str | None = None
    max_approval_validity_seconds: float = 86400.0
    gates: list[GuardGate] = Field(default_factory=list)
    rollback_window_seconds: float = 0.0
    require_data_snapshot: bool = False
    emergency_max_pause_seconds: float | None = None
    review_gate: str | None = None  # emergency: the approval that comes after
    review_count: int = 1
    protects: str | None = None  # blue/green: the slot of blue, protected after promotion
    touches: str | None = None  # the slot the new release is deployed into


class RolloutRecord(Record):
    id: str
    name: str
    service: str
    environment: str
    version: str
    plan: dict[str, Any]
    plan_digest: str
    policy_digest: str | None = None
    phase: Phase = Phase.PENDING
    step_index: int = 0
    step_count: int = 0
    actor: Actor
    parent_id: str | None = None
    emergency: bool = False
    emergency_reason: str | None = None
    guardrails: Guardrails = Field(default_factory=Guardrails)
    # the deployer's signature over id, plan digest and emergency (empty: no key)
    proof: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    message: str = ""
    runtime: Runtime = Field(default_factory=Runtime)
    revision: int = 0  # optimistic concurrency: bumped on every save
    # what the target *is* (plan/target_identity.py: router and the fields naming it), so
    # the lock is the target's whatever the plan calls its service; None in records stored
    # before it was kept
    target_key: str | None = None

    @property
    def lock_key(self) -> str:
        """The lock of the target (records stored before target keys: environment/service)."""
        if self.target_key:
            return target_lock_key(self.target_key)
        return lock_key(self.environment, self.service)


def lock_key(environment: str, service: str) -> str:
    """The lock of records stored before the target's identity was kept."""
    return f"{environment}/{service}"


def target_lock_key(target_key: str) -> str:
    """The lock of a target: one rollout at a time, whatever labels the plans give it."""
    return f"target/{target_key}"


class EventType(StrEnum):
    ROLLOUT_CREATED = "rollout_created"
    LOCK_ACQUIRED = "lock_acquired"
    LOCK_TAKEN_OVER = "lock_taken_over"
    LOCK_RELEASED = "lock_released"
    PREFLIGHT_PASSED = "preflight_passed"
    PREFLIGHT_FAILED = "preflight_failed"
    SNAPSHOT_TAKEN = "snapshot_taken"
    SNAPSHOT_VERIFIED = "snapshot_verified"
    PHASE_CHANGED = "phase_changed"
    STEP_STARTED = "step_started"
    STEP_COMPLETED = "step_completed"
    WEIGHT_INTENT = "weight_intent"
    WEIGHT_SET = "weight_set"
    WEIGHT_VERIFIED = "weight_verified"
    MEASUREMENT = "measurement"
    ANALYSIS_COMPLETED = "analysis_completed"
    BREAKER_TRIPPED = "breaker_tripped"
    PROVIDER_ERROR = "provider_error"
    COMMAND_RECEIVED = "command_received"
    COMMAND_APPLIED = "command_applied"
    APPROVAL_ACCEPTED = "approval_accepted"
    APPROVAL_REFUSED = "approval_refused"
    RECONCILED = "reconciled"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_FINISHED = "rollback_finished"
    ROLLBACK_FAILED = "rollback_failed"
    ROLLOUT_FINISHED = "rollout_finished"
    NOTICE = "notice"
    POLICY_EVALUATED = "policy_evaluated"
    DEPLOY_REFUSED = "deploy_refused"
    DATA_SNAPSHOT_TAKEN = "data_snapshot_taken"
    DATA_SNAPSHOT_VERIFIED = "data_snapshot_verified"
    BLUE_CHECKED = "blue_checked"
    BLUE_PROTECTED = "blue_protected"
    MIGRATION_STARTED = "migration_started"
    MIGRATION_FINISHED = "migration_finished"
    TARGET_FENCED = "target_fenced"


class Event(Record):
    rollout_id: str
    type: EventType
    time: datetime
    reason: Reason | None = None
    message: str = ""
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    seq: int | None = None  # assigned by the store

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Measurement(Record):
    rollout_id: str
    run: str
    metric: str
    phase: MeasurementPhase
    value: float | None
    started_at: datetime
    finished_at: datetime
    query: str
    message: str = ""
    dry_run: bool = False  # shown, never acted on, never evidence


class Snapshot(Record):
    """The stable state before the first change: enough to restore without the plan."""

    rollout_id: str
    router: str
    config: dict[str, Any]
    state: dict[str, Any]
    checksum: str
    taken_at: datetime
    verified_at: datetime | None = None
    data: list[dict[str, Any]] = Field(default_factory=list)  # data snapshots, by provider
    # blue/green: what blue runs (identity command and its output), checked before cutting back
    blue: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def checksum_of(router: str, config: dict[str, Any], state: dict[str, Any]) -> str:
        return sha256_hex({"router": router, "config": config, "state": state})


class OperationOutcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    INTERRUPTED = "interrupted"


class Operation(Record):
    """A provider side effect: written before (intent) and after (outcome)."""

    id: int | None = None
    rollout_id: str
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime | None = None
    outcome: OperationOutcome | None = None
    detail: str = ""


class CommandKind(StrEnum):
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    ROLLBACK = "rollback"
    APPROVE = "approve"


class Command(Record):
    """An intent recorded by any process; the rollout's driver applies it at its next tick."""

    id: int | None = None
    rollout_id: str
    kind: CommandKind
    actor: Actor
    created_at: datetime
    args: dict[str, Any] = Field(default_factory=dict)
    applied_at: datetime | None = None
    result: str | None = None
    # the actor's signature over the command (approvals.command_body); empty: no key
    proof: dict[str, Any] = Field(default_factory=dict)


class Approval(Record):
    rollout_id: str
    gate: str
    actor: Actor
    approved_at: datetime
    signer: str | None = None
    signature: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class LockInfo(Record):
    key: str
    rollout_id: str
    holder: str
    lease_expires_at: datetime | None  # None: parked (waiting for a human, no driver needed)
    acquired_at: datetime
    # the fencing token: a new one, higher than every earlier one, at every acquisition
    epoch: int = 0

    def live(self, now: datetime) -> bool:
        return self.lease_expires_at is None or self.lease_expires_at > now
