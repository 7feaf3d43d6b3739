"""What the engine is given: store, clock, providers, identity, subscribers. No SDK here."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shipsafe.clock import Clock
from shipsafe.errors import ApprovalRefused  # noqa: F401 - re-exported for callers
from shipsafe.providers.metrics.base import MetricSource
from shipsafe.providers.snapshots.base import DataSnapshotProvider
from shipsafe.providers.traffic.base import TrafficRouter
from shipsafe.records import Actor, Approval, Command, CommandKind, Event, RolloutRecord
from shipsafe.runner import CommandRunner, SubprocessRunner
from shipsafe.store.base import StateStore

if TYPE_CHECKING:
    from shipsafe.engine.lease import Lease


class ProviderFactory(Protocol):
    """Builds providers by the names used in plans. Tests hand the engine fakes."""

    def router(self, name: str, config: dict[str, Any]) -> TrafficRouter: ...

    def metric_source(self, name: str, config: dict[str, Any]) -> MetricSource: ...

    def data_snapshot(self, name: str, config: dict[str, Any]) -> DataSnapshotProvider: ...


class ApprovalVerifier(Protocol):
    def verify(
        self, record: RolloutRecord, gate: str, command: Command, now: datetime
    ) -> Approval:
        """Return the accepted approval, or raise ApprovalRefused with the reason."""
        ...

    def verified_signers(
        self, record: RolloutRecord, gate: str, approvals: list[Approval]
    ) -> set[str]:
        """Who approved `gate`, counting only the stored approvals that verify now."""
        ...

    def minimum(self, record: RolloutRecord) -> int:
        """The fewest approvals any gate of this rollout needs (from the trusted policy)."""
        ...

    def command_actor(self, record: RolloutRecord, command: Command, now: datetime) -> Actor:
        """Who a control command is from, as its signature proves (an unverified agent when
        it has none)."""
        ...

    def check_command(self, record: RolloutRecord, kind: CommandKind, actor: Actor) -> None:
        """Raise ApprovalRefused when that actor may not give that command here."""
        ...


class Proofs(Protocol):
    """Signs evidence with the acting key and says which trusted key signed a proof."""

    def sign(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """A proof over body (None: this actor has no trusted key)."""
        ...

    def signer(self, purpose: str, signed: Any) -> Any | None:
        """The trusted key (with .identity, .key_id, .kind) that made the proof, or None."""
        ...

    def witnessed(self, rollout_id: str, name: str) -> list[str] | None:
        """Digests the audit witness holds for a data snapshot's record (None: no witness)."""
        ...


class NoProofs:
    """No key, no trust root: signs nothing, verifies nothing."""

    def sign(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def signer(self, purpose: str, signed: Any) -> Any | None:
        return None

    def witnessed(self, rollout_id: str, name: str) -> list[str] | None:
        return None


class RecordedApprovals:
    """The plain approval: anyone with access to the store may approve, and it is recorded.

    Not the default: shipsafe.approvals.GuardedApprovals enforces the rollout's guardrails
    (signed ed25519 approvals bound to the rollout and plan digest, no self-approval, only
    human approvers). Kept for callers that want the plain behaviour explicitly.
    """

    def verify(
        self, record: RolloutRecord, gate: str, command: Command, now: datetime
    ) -> Approval:
        return Approval(rollout_id=record.id, gate=gate, actor=command.actor, approved_at=now)

    def verified_signers(
        self, record: RolloutRecord, gate: str, approvals: list[Approval]
    ) -> set[str]:
        return {(a.signer or a.actor.id).lower() for a in approvals if a.gate == gate}

    def minimum(self, record: RolloutRecord) -> int:
        return 1

    def command_actor(self, record: RolloutRecord, command: Command, now: datetime) -> Actor:
        return command.actor

    def check_command(self, record: RolloutRecord, kind: CommandKind, actor: Actor) -> None:
        return None


def _guarded_approvals() -> ApprovalVerifier:
    from shipsafe.approvals import GuardedApprovals

    return GuardedApprovals()


Subscriber = Callable[[Event], None]


def new_holder(actor: Actor) -> str:
    """Identifies one driving process: who, where, which process, plus a nonce."""
    return f"{actor.id}@{actor.host}:{os.getpid()}:{secrets.token_hex(3)}"


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class EngineContext:
    store: StateStore
    clock: Clock
    providers: ProviderFactory
    actor: Actor
    subscribers: list[Subscriber] = field(default_factory=list)
    approvals: ApprovalVerifier = field(default_factory=_guarded_approvals)
    # signs the deploy and data-snapshot records; verifies them when they are used
    proofs: Proofs = field(default_factory=NoProofs)
    # runs the commands a plan names (migrations, blue's identity probe); no shell
    commands: CommandRunner = field(default_factory=SubprocessRunner)
    holder: str = ""
    # lease on the target's lock, renewed every tick by the driver
    lease_seconds: float = field(default_factory=lambda: _float_env("SHIPSAFE_LEASE_SECONDS", 15))
    # the longest sleep between ticks: how fast commands from other processes are seen
    poll_seconds: float = 1.0
    # how long a weight change may take to read back before the rollout rolls back
    verify_timeout: float = 30.0
    # how many times a restore is tried before the rollback is declared failed
    restore_attempts: int = 3
    # opens a second handle on the same store for the lease's heartbeat thread (None: the
    # driver renews the lease itself every tick, as tests with a fake clock do)
    lease_store: Callable[[], StateStore] | None = None
    # the lease held while a rollout is driven (engine.driver sets it)
    lease: Lease | None = None
    # how long a router may retry by itself right now (None: as configured); the driver sets
    # it to the breaker interval while breakers are watched, so they never wait for a router
    router_retry_budget: Callable[[], float | None] = lambda: None

    def __post_init__(self) -> None:
        from shipsafe.engine.lease import FencedProviders

        if not self.holder:
            self.holder = new_holder(self.actor)
        if not isinstance(self.providers, FencedProviders):
            self.providers = FencedProviders(
                self.providers, self.guard_router_write, lambda: self.router_retry_budget()
            )

    def guard_router_write(self) -> None:
        """Immediately before every router write: the epoch in the store is still ours, and
        the lease has time left to finish the write (LeaseLost otherwise)."""
        if self.lease is not None:
            self.lease.guard()
        self.store.check_fence()
