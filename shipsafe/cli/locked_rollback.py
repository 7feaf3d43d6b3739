"""On-call rollback while the SQLite store is write-locked by another process, and recording
it once the store is free.

A driver frozen inside a write transaction (SIGSTOP, a paused VM) holds the store's write
lock: `shipsafe rollback` can take no lease and write nothing, and used to stop at exit 5
("database is locked") with the canary still holding traffic. After the busy timeout it now:

1. reads what it needs (WAL readers are not blocked): the rollout and its snapshot;
2. journals the rollback beside the store (store/pending_journal.py) *before* touching the
   router: from then on every router write of a fenced driver refuses (the frozen driver,
   thawed, moves no traffic, whatever weight it last verified);
3. restores the router to the snapshot and reads it back;
4. journals the outcome and exits 5 with one line: restored and verified (or not), the store
   is locked by another process, the record follows when the store is free.

The next command that opens the store (`session`) records each journaled rollback first:
an audited event naming who restored what and when, then a rollback command through the
ordinary path (a live driver applies it at its next tick; otherwise this process takes the
lease and drives it: the restore is idempotent and verified again).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from shipsafe.errors import (
    JournalWaiting,
    ProviderError,
    RollbackFailed,
    ShipsafeError,
    StoreError,
    StoreLocked,
    WrongPhase,
)
from shipsafe.records import CommandKind, EventType, Phase, Snapshot

if TYPE_CHECKING:
    from shipsafe.engine.context import EngineContext
    from shipsafe.store.pending_journal import PendingJournal


def journal_of(ctx: EngineContext) -> PendingJournal | None:
    journal = getattr(ctx.store, "journal", None)  # the SQLite store has one
    from shipsafe.store.pending_journal import PendingJournal

    return journal if isinstance(journal, PendingJournal) else None


def restore_while_locked(
    ctx: EngineContext, rollout_id: str, reason: str | None, locked: StoreLocked
) -> RollbackFailed:
    """Restore and verify the snapshot without writing the store; journal what was done.
    Returns the exit-5 error to raise (its one line says what happened)."""
    journal = journal_of(ctx)
    if journal is None:
        return RollbackFailed(f"{locked}; retry once the store answers")
    record = ctx.store.get_rollout(rollout_id)
    snapshot = ctx.store.get_snapshot(record.id)
    locked_by = (f"the state store {getattr(ctx.store, 'url', '')} is locked by another "
                 "process (a driver stopped inside a write?)")
    if snapshot is None:
        return RollbackFailed(
            f"{record.id}: no snapshot in the store (no traffic had moved); {locked_by}: "
            "nothing changed, nothing recorded"
        )
    if snapshot.blue and snapshot.blue.get("identity_command"):
        return RollbackFailed(
            f"{record.id}: blue/green: blue's identity cannot be checked without writing the "
            f"store; {locked_by}: nothing changed; shipsafe rollback {record.id} once it is free"
        )
    lock = ctx.store.get_lock(record.lock_key)
    entry_id = secrets.token_hex(8)
    entry: dict[str, Any] = {
        "id": entry_id,
        "rollout_id": record.id,
        "lock_key": record.lock_key,
        # the epochs this revokes: the frozen driver's and any before it (a takeover once the
        # store is free gets a higher one, and is not stopped by this entry)
        "epoch": lock.epoch if lock is not None else 0,
        "holder": lock.holder if lock is not None else None,
        "by": ctx.actor.label(),
        "actor": ctx.actor.model_dump(mode="json"),
        "time": ctx.clock.now().isoformat(),
        "reason": reason,
        "phase_read": record.phase.value,
        "last_verified_weight": record.runtime.canary_weight,
        "snapshot": snapshot.checksum,
        "state": "restoring",
    }
    journal.append(entry)  # first: from here a thawed driver's router writes refuse
    router = ctx.providers.router(snapshot.router, snapshot.config)
    try:
        router.restore(snapshot.state)
        actual = router.read_state()
    except ProviderError as exc:
        journal.append({"id": entry_id, "state": "restore_error", "message": str(exc)})
        return RollbackFailed(
            f"{record.id}: ROLLBACK FAILED - cannot restore the snapshot: {exc}; {locked_by}; "
            f"journaled in {journal.path} - page a human"
        )
    if Snapshot.checksum_of(snapshot.router, snapshot.config, actual) != snapshot.checksum:
        journal.append({"id": entry_id, "state": "mismatch", "read_back": actual})
        return RollbackFailed(
            f"{record.id}: ROLLBACK FAILED - after restore the router reads {actual}, the "
            f"snapshot says {snapshot.state}; {locked_by}; journaled in {journal.path} - page "
            "a human"
        )
    journal.append({"id": entry_id, "state": "restored", "read_back": actual})
    return RollbackFailed(
        f"{record.id}: router restored to the snapshot and verified "
        f"({snapshot.checksum[:12]}); {locked_by}, so the rollback will be recorded when the "
        f"store is free (journaled in {journal.path}; the next shipsafe command records it)"
    )


def apply_journal(ctx: EngineContext, warn: Any) -> list[str]:
    """Record every journaled rollback (audited) before the command does anything else.
    Returns the ids of the rollouts rolled back here. A store still locked leaves the journal
    for the next command."""
    journal = journal_of(ctx)
    if journal is None or not journal.path.exists():
        return []
    ended: list[str] = []
    try:
        entries = journal.entries()
    except StoreError as exc:
        warn(str(exc))
        return []
    for entry in entries:
        try:
            if _apply(ctx, journal, entry):
                ended.append(str(entry.get("rollout_id")))
            warn(f"recorded the rollback of {entry.get('rollout_id')} by {entry.get('by')}, "
                 f"journaled while the state store was locked ({journal.path})")
        except StoreLocked:
            warn(f"the store is still locked: the rollback journaled in {journal.path} "
                 "waits for the next command")
            return ended
        except JournalWaiting as exc:
            warn(f"the rollback of {entry.get('rollout_id')} journaled in {journal.path} "
                 f"waits: {exc}")
            continue
        except ShipsafeError as exc:
            warn(f"journaled rollback of {entry.get('rollout_id')}: {exc}")
    return ended


def _apply(ctx: EngineContext, journal: PendingJournal, entry: dict[str, Any]) -> bool:
    from shipsafe.engine.control import submit_command
    from shipsafe.engine.driver import drive
    from shipsafe.engine.events import EventBus

    rollout_id = str(entry.get("rollout_id"))
    record = ctx.store.get_rollout(rollout_id)
    lock = ctx.store.get_lock(record.lock_key)
    if (
        not record.phase.terminal
        and lock is not None
        and lock.rollout_id == rollout_id
        and lock.lease_expires_at is not None
        and lock.live(ctx.clock.now())
        and lock.holder != ctx.holder
    ):
        # its driver is alive (thawed): its router writes refuse (the journal revokes its
        # epoch), so it stops at the next one; recorded by the first command after that
        raise JournalWaiting(f"its driver {lock.holder} still holds the lease")
    state = str(entry.get("state"))
    outcome = {
        "restored": "router restored to the snapshot and verified",
        "restoring": "restore begun (the process stopped before it read the router back)",
        "mismatch": f"router read back {entry.get('read_back')}, not the snapshot",
        "restore_error": f"restore failed: {entry.get('message')}",
    }.get(state, state)
    bus = EventBus(ctx.store, ctx.clock, ctx.actor.id, ctx.subscribers)
    bus.emit(
        rollout_id,
        EventType.NOTICE,
        message=(
            f"rollback by {entry.get('by')} at {entry.get('time')} while the state store was "
            f"locked by another process: {outcome}; recorded now by {ctx.actor.label()}"
        ),
        data={"locked_rollback": {k: v for k, v in entry.items() if k != "actor"},
              "journaled_by": entry.get("actor")},
    )
    journal.mark_applied(str(entry["id"]))  # before driving: the fence reads the journal
    if record.phase.terminal and record.phase != Phase.SUCCEEDED:
        return False
    reason = f"journaled rollback by {entry.get('by')}"
    if entry.get("reason"):
        reason += f": {entry.get('reason')}"
    try:
        result = submit_command(ctx, rollout_id, CommandKind.ROLLBACK, {"reason": reason},
                                wait_seconds=0, driver=drive)
    except WrongPhase:
        return False
    except ShipsafeError as exc:
        if "has not acted" in exc.message:
            return False  # a live driver holds it: the command is recorded for its next tick
        raise
    return result.phase.terminal
