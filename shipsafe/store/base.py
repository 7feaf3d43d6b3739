"""The state store Protocols: everything a rollout needs to be driven from any machine.

StateStore is the union of four small Protocols; code that needs one part takes that part:

    RolloutStore       the rollout records and their snapshot
    HistoryStore       events and measurements (append and read)
    ControlStore       operations (intent, outcome), commands from other processes, approvals
    CoordinationStore  the target's lock, its fence, compare-and-set meta values

Implementations: sqlite (default, one file) and dynamodb (shared by a team). Both pass the
contract suite in tests/contract/test_store_contract.py. Every method translates its
library's errors into shipsafe.errors (StoreError, ConflictError, NotAShipsafeStore).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shipsafe.errors import AmbiguousRollout
from shipsafe.records import (
    Approval,
    Command,
    Event,
    LockInfo,
    Measurement,
    Operation,
    OperationOutcome,
    RolloutRecord,
    Snapshot,
)


class LockOutcome:
    ACQUIRED = "acquired"
    TAKEN_OVER = "taken_over"  # the previous lease had expired
    HELD = "held"  # already ours (same rollout and holder)


@dataclass(frozen=True)
class Fence:
    """The lease a store object writes under: the lock's key and the epoch (fencing token)
    it was given when it took the lock. Another acquisition gives a higher epoch, and from
    then on every write through a store object fenced with the old one fails (LeaseLost)."""

    key: str
    epoch: int


class RolloutStore(Protocol):
    """The rollout records and their snapshot."""

    def create_rollout(self, record: RolloutRecord) -> None:
        """Insert a new rollout; ConflictError if the id exists."""
        ...

    def get_rollout(self, rollout_id: str) -> RolloutRecord:
        """UsageError (exit 2) naming the id when there is no such rollout."""
        ...

    def save_rollout(self, record: RolloutRecord) -> RolloutRecord:
        """Write if nobody else wrote since `record.revision` was read (ConflictError
        otherwise). Returns the record with its new revision."""
        ...

    def list_rollouts(
        self,
        environment: str | None = None,
        service: str | None = None,
        limit: int = 50,
    ) -> list[RolloutRecord]:
        """Newest first."""
        ...

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Insert or replace the rollout's snapshot."""
        ...

    def get_snapshot(self, rollout_id: str) -> Snapshot | None: ...


class HistoryStore(Protocol):
    """Events and measurements: appended as they happen, read back in order."""

    def append_event(self, event: Event) -> Event:
        """Store the event; returns it with its sequence number within the rollout."""
        ...

    def events(self, rollout_id: str, after_seq: int = 0) -> list[Event]: ...

    def add_measurement(self, measurement: Measurement) -> None: ...

    def measurements(self, rollout_id: str) -> list[Measurement]: ...


class ControlStore(Protocol):
    """Side effects (intent before, outcome after), commands from other processes, and
    approvals."""

    def begin_operation(self, operation: Operation) -> Operation:
        """Record the intent; returns it with its id."""
        ...

    def finish_operation(
        self, operation_id: int, outcome: OperationOutcome, detail: str, at: datetime
    ) -> None: ...

    def open_operations(self, rollout_id: str) -> list[Operation]:
        """Intents without an outcome: a process died between them."""
        ...

    def operations(self, rollout_id: str) -> list[Operation]: ...

    # commands from other processes ---------------------------------------------------------
    def add_command(self, command: Command) -> Command: ...

    def pending_commands(self, rollout_id: str) -> list[Command]: ...

    def get_command(self, command_id: int) -> Command: ...

    def mark_command_applied(self, command_id: int, result: str, at: datetime) -> None: ...

    # approvals ----------------------------------------------------------------------------
    def add_approval(self, approval: Approval) -> None: ...

    def approvals(self, rollout_id: str) -> list[Approval]: ...


class CoordinationStore(Protocol):
    """What processes coordinate through: the target's lock and the fence
    its epoch gives, and compare-and-set meta values (the audit chain head, the policy pin)."""

    # set by acquire_lock (or fence_to): every write is then conditional on this epoch still
    # being the lock's, in the same transaction (SQLite) or conditional write (DynamoDB)
    fence: Fence | None

    def fence_to(self, fence: Fence | None) -> None:
        """Write under `fence` from now on (None: unfenced, as any non-driving process)."""
        ...

    def check_fence(self) -> None:
        """LeaseLost unless the fence's epoch is still the lock's (nothing when unfenced).
        Called immediately before every router write."""
        ...

    # the (environment, service) lock -------------------------------------------------------
    def acquire_lock(
        self, key: str, rollout_id: str, holder: str, now: datetime, lease_seconds: float
    ) -> str:
        """Take the lock for a rollout. Returns a LockOutcome value.

        Succeeds when the lock is free, already held by this rollout with an expired or
        parked lease or the same holder, or held by another rollout whose lease expired
        (TAKEN_OVER). Raises LockedError while another rollout's lease is live or parked.
        Every acquisition gives the lock a new, higher epoch and fences this store object
        with it: the previous holder's writes fail from then on.
        """
        ...

    def renew_lock(self, key: str, holder: str, now: datetime, lease_seconds: float) -> None:
        """Extend our lease; LockedError if someone else holds it now (LeaseLost when this
        store is fenced and the epoch moved on)."""
        ...

    def park_lock(self, key: str, holder: str) -> None:
        """Keep the lock for the rollout with no live driver (waiting for a human)."""
        ...

    def release_lock(self, key: str, rollout_id: str) -> None:
        """Free the lock if this rollout holds it. Fenced on this key: only while the epoch
        is still ours (LeaseLost otherwise), and the store is unfenced afterwards."""
        ...

    def get_lock(self, key: str) -> LockInfo | None: ...

    # audit chain head (so truncating the audit log is detected) ---------------------------
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str, expected: str | None) -> None:
        """Compare-and-set: ConflictError unless the current value equals `expected`."""
        ...


class StateStore(RolloutStore, HistoryStore, ControlStore, CoordinationStore, Protocol):
    """Everything: what the CLI opens and the engine is given."""

    url: str

    def close(self) -> None: ...


def ambiguous(prefix: str, ids: list[str]) -> AmbiguousRollout:
    """A prefix of several rollouts: name up to ten of them, so the user can pick one."""
    shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
    return AmbiguousRollout(
        f"{prefix!r} is the prefix of {'more than 10' if len(ids) > 10 else len(ids)} "
        f"rollouts: {shown}; give more of the id",
        ids[:10],
    )


def locked_message(info: LockInfo, now: datetime) -> str:
    """The one line a refused deploy prints: who holds the lock and for how long."""
    if info.lease_expires_at is None:
        state = "waiting for a human (promote, approve, abort or rollback it)"
    else:
        left = (info.lease_expires_at - now).total_seconds()
        state = f"driven by {info.holder}, lease live for {left:.0f}s more"
    return f"{info.key} is locked by rollout {info.rollout_id}: {state}"


def lock_outcome(info: LockInfo, rollout_id: str, holder: str, now: datetime) -> str:
    """Whether `holder` may take a lock held as `info`, for `rollout_id`; one rule for every
    store. Ours already: HELD. An expired lease, or our own rollout parked (waiting for a
    human): TAKEN_OVER. Anything else: LockedError naming who holds it and for how long."""
    from shipsafe.errors import LockedError

    ours = info.rollout_id == rollout_id
    expired = info.lease_expires_at is not None and info.lease_expires_at <= now
    if ours and info.holder == holder:
        return LockOutcome.HELD
    if expired or (ours and info.lease_expires_at is None):
        return LockOutcome.TAKEN_OVER
    raise LockedError(locked_message(info, now))


def lease_lost_message(fence: Fence, info: LockInfo | None) -> str:
    """Why a fenced write was refused: who holds the lock now."""
    if info is None:
        return f"lost the lease on {fence.key} (epoch {fence.epoch}): the lock was released"
    return (
        f"lost the lease on {fence.key} (epoch {fence.epoch}): rollout {info.rollout_id} is "
        f"now driven by {info.holder} under epoch {info.epoch}; this process stops writing"
    )
