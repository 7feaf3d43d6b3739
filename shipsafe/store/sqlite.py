"""The default state store: one SQLite file (WAL), shared by every process on the machine."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from shipsafe import interrupts
from shipsafe.errors import (
    ConflictError,
    LeaseLost,
    LockedError,
    NotAShipsafeStore,
    RolloutNotFound,
    StoreError,
    StoreLocked,
    StoreUnopenable,
    UsageError,
)
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
from shipsafe.store.base import (
    Fence,
    LockOutcome,
    ambiguous,
    lease_lost_message,
    lock_outcome,
    locked_message,
)
from shipsafe.store.pending_journal import PendingJournal

SCHEMA_VERSION = "1"
# how long a write waits for another process's write transaction before it gives up
BUSY_TIMEOUT_SECONDS = 10.0

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rollouts (
    id TEXT PRIMARY KEY, environment TEXT NOT NULL, service TEXT NOT NULL,
    phase TEXT NOT NULL, created_at TEXT NOT NULL, revision INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE INDEX rollouts_by_target ON rollouts (environment, service, created_at);
CREATE TABLE events (
    rollout_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (rollout_id, seq)
);
CREATE TABLE measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX measurements_by_rollout ON measurements (rollout_id);
CREATE TABLE snapshots (rollout_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id TEXT NOT NULL, open INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX operations_by_rollout ON operations (rollout_id, open);
CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id TEXT NOT NULL, applied INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX commands_by_rollout ON commands (rollout_id, applied);
CREATE TABLE approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE locks (
    key TEXT PRIMARY KEY, rollout_id TEXT NOT NULL, holder TEXT NOT NULL,
    lease_expires_at REAL, acquired_at TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE lock_epochs (epoch INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);
"""
# added to stores created before fencing (the schema version stays: old readers ignore them)
_FENCING = [
    "ALTER TABLE locks ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0",
    "CREATE TABLE IF NOT EXISTS lock_epochs"
    " (epoch INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)",
]
_SELECT_LOCK = (
    "SELECT rollout_id, holder, lease_expires_at, acquired_at, epoch FROM locks WHERE key=?"
)

M = TypeVar("M", bound=BaseModel)


def _dump(model: BaseModel) -> str:
    return model.model_dump_json()


def _load(cls: type[M], body: str) -> M:
    return cls.model_validate_json(body)


def _ts(value: datetime) -> float:
    return value.timestamp()


class SQLiteStore:
    """State in one SQLite file. Open with `SQLiteStore.open(path)`; close with `close()`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.url = str(path)
        self._conn = conn
        self.fence: Fence | None = None

    # opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> SQLiteStore:
        p = Path(path)
        if p.is_dir():
            raise NotAShipsafeStore(f"{p}: is a directory, not a shipsafe state file")
        if not p.exists():
            if not create:
                raise UsageError(f"{p}: no shipsafe state here (use --state PATH)")
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnopenable(
                    f"{p}: cannot create the state directory: {exc}"
                ) from None
        try:
            conn = sqlite3.connect(
                str(p), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreUnopenable(f"{p}: cannot open the state store: {exc}") from None
        store = cls(p, conn)
        try:
            store._prepare()
        except BaseException:
            conn.close()
            raise
        return store

    def _prepare(self) -> None:
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            tables = {
                row[0]
                for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise NotAShipsafeStore(
                f"{self.path}: not a shipsafe state store (not an SQLite database)"
            ) from exc
        if not tables:
            self._create_schema()
        elif "meta" not in tables:
            raise NotAShipsafeStore(f"{self.path}: an SQLite database, but not a shipsafe store")
        else:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                raise NotAShipsafeStore(f"{self.path}: an SQLite database, not a shipsafe store")
            if row[0] != SCHEMA_VERSION:
                raise NotAShipsafeStore(
                    f"{self.path}: shipsafe store schema {row[0]}, this shipsafe reads "
                    f"{SCHEMA_VERSION}"
                )
            self._add_fencing()
        # another process may hold the database briefly: WAL is then already set, or will be
        with contextlib.suppress(sqlite3.OperationalError):
            self._conn.execute("PRAGMA journal_mode = WAL")

    def _create_schema(self) -> None:
        # One transaction: an interrupted start leaves either nothing or the whole schema.
        try:
            with self._tx(fenced=False):
                exists = self._conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE name='meta'"
                ).fetchone()
                if exists:
                    return  # another process created it between our check and now
                for statement in _SCHEMA.strip().split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
                )
        except sqlite3.DatabaseError as exc:
            raise NotAShipsafeStore(f"{self.path}: cannot create the store: {exc}") from exc

    def _add_fencing(self) -> None:
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(locks)")}
        if "epoch" in columns:
            return
        try:
            with self._tx(fenced=False) as c:
                columns = {row[1] for row in c.execute("PRAGMA table_info(locks)")}
                if "epoch" not in columns:  # another process may have added it meanwhile
                    for statement in _FENCING:
                        c.execute(statement)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot add lock epochs: {exc}") from exc

    def close(self) -> None:
        self._conn.close()

    # fencing ------------------------------------------------------------------------------
    def fence_to(self, fence: Fence | None) -> None:
        self.fence = fence

    def check_fence(self) -> None:
        """Before a router write: the epoch is still ours, and no rollback of this lock's
        rollout was journaled while the store was locked (an on-call rollback restored the
        router while this driver was frozen inside a write: it must not move traffic)."""
        fence = self.fence
        if fence is None:
            return
        restored = self.journal.pending_for(fence.key, fence.epoch)
        if restored is not None:
            raise LeaseLost(
                f"rollout {restored.get('rollout_id')} was rolled back by "
                f"{restored.get('by', 'another process')} while this store was locked "
                f"(journaled in {self.journal.path}): this driver stops without writing"
            )
        rows = self._query(_SELECT_LOCK, (fence.key,))
        self._refuse_stale(fence, rows[0] if rows else None)

    @property
    def journal(self) -> PendingJournal:
        """Rollbacks done while the store was write-locked, to be recorded when it is free."""
        return PendingJournal.beside(self.path)

    def _check_fence_in(self, c: sqlite3.Connection) -> None:
        fence = self.fence
        if fence is None:
            return
        row = c.execute(
            _SELECT_LOCK, (fence.key,)
        ).fetchone()
        self._refuse_stale(fence, row)

    @staticmethod
    def _refuse_stale(fence: Fence, row: tuple[Any, ...] | None) -> None:
        if row is None or row[4] != fence.epoch:
            info = None if row is None else _lock_info(fence.key, row)
            raise LeaseLost(lease_lost_message(fence, info))

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, fenced: bool = True) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction; library errors become StoreError.

        It always ends (COMMIT or ROLLBACK) before control leaves it, whatever is raised: a
        second signal waits for it (interrupts.critical), and one left open by an earlier
        failure is rolled back first rather than failing with "cannot start a transaction
        within a transaction". A fenced store checks its epoch first, inside the transaction:
        a stale writer writes nothing."""
        with interrupts.critical():
            if self._conn.in_transaction:
                self._rollback_quietly()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreLocked(
                        f"{self.path}: cannot write the state store: {exc} (another process "
                        f"held its write lock for {BUSY_TIMEOUT_SECONDS:g}s)"
                    ) from exc
                raise StoreError(f"{self.path}: cannot write the state store: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot write the state store: {exc}") from exc
            try:
                if fenced:
                    self._check_fence_in(self._conn)
                yield self._conn
            except BaseException:
                self._rollback_quietly()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback_quietly()
                raise StoreError(f"{self.path}: cannot commit: {exc}") from exc

    def _rollback_quietly(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read the state store: {exc}") from exc

    # rollouts -----------------------------------------------------------------------------
    def create_rollout(self, record: RolloutRecord) -> None:
        with self._tx() as c:
            if c.execute("SELECT 1 FROM rollouts WHERE id=?", (record.id,)).fetchone():
                raise ConflictError(f"rollout {record.id} exists already")
            c.execute(
                "INSERT INTO rollouts (id, environment, service, phase, created_at, revision, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.environment,
                    record.service,
                    record.phase.value,
                    record.created_at.isoformat(),
                    record.revision,
                    _dump(record),
                ),
            )

    def get_rollout(self, rollout_id: str) -> RolloutRecord:
        rows = self._query("SELECT body FROM rollouts WHERE id=?", (rollout_id,))
        if not rows:
            rows = self._query(
                "SELECT body FROM rollouts WHERE substr(id, 1, ?) = ? "
                "ORDER BY created_at DESC LIMIT 11",
                (len(rollout_id), rollout_id),
            )
            if not rows or not rollout_id:
                raise RolloutNotFound(f"no rollout {rollout_id!r} in {self.url}")
            if len(rows) > 1:
                raise ambiguous(rollout_id, [_load(RolloutRecord, r[0]).id for r in rows])
        return _load(RolloutRecord, rows[0][0])

    def save_rollout(self, record: RolloutRecord) -> RolloutRecord:
        new = record.model_copy(update={"revision": record.revision + 1})
        with self._tx() as c:
            cur = c.execute(
                "UPDATE rollouts SET phase=?, revision=?, body=? WHERE id=? AND revision=?",
                (new.phase.value, new.revision, _dump(new), record.id, record.revision),
            )
            if cur.rowcount != 1:
                raise ConflictError(
                    f"rollout {record.id} was changed by another process (revision "
                    f"{record.revision} is stale)"
                )
        return new

    def list_rollouts(
        self, environment: str | None = None, service: str | None = None, limit: int = 50
    ) -> list[RolloutRecord]:
        sql, args = "SELECT body FROM rollouts WHERE 1=1", []
        if environment:
            sql += " AND environment=?"
            args.append(environment)
        if service:
            sql += " AND service=?"
            args.append(service)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        args.append(str(limit))
        return [_load(RolloutRecord, r[0]) for r in self._query(sql, tuple(args))]

    # history ------------------------------------------------------------------------------
    def append_event(self, event: Event) -> Event:
        with self._tx() as c:
            (last,) = c.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE rollout_id=?", (event.rollout_id,)
            ).fetchone()
            stored = event.model_copy(update={"seq": last + 1})
            c.execute(
                "INSERT INTO events (rollout_id, seq, body) VALUES (?, ?, ?)",
                (event.rollout_id, last + 1, _dump(stored)),
            )
        return stored

    def events(self, rollout_id: str, after_seq: int = 0) -> list[Event]:
        rows = self._query(
            "SELECT body FROM events WHERE rollout_id=? AND seq>? ORDER BY seq",
            (rollout_id, after_seq),
        )
        return [_load(Event, r[0]) for r in rows]

    def add_measurement(self, measurement: Measurement) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO measurements (rollout_id, body) VALUES (?, ?)",
                (measurement.rollout_id, _dump(measurement)),
            )

    def measurements(self, rollout_id: str) -> list[Measurement]:
        rows = self._query(
            "SELECT body FROM measurements WHERE rollout_id=? ORDER BY id", (rollout_id,)
        )
        return [_load(Measurement, r[0]) for r in rows]

    # snapshot -----------------------------------------------------------------------------
    def save_snapshot(self, snapshot: Snapshot) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO snapshots (rollout_id, body) VALUES (?, ?)",
                (snapshot.rollout_id, _dump(snapshot)),
            )

    def get_snapshot(self, rollout_id: str) -> Snapshot | None:
        rows = self._query("SELECT body FROM snapshots WHERE rollout_id=?", (rollout_id,))
        return _load(Snapshot, rows[0][0]) if rows else None

    # operations ---------------------------------------------------------------------------
    def begin_operation(self, operation: Operation) -> Operation:
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO operations (rollout_id, open, body) VALUES (?, 1, ?)",
                (operation.rollout_id, _dump(operation)),
            )
            op = operation.model_copy(update={"id": cur.lastrowid})
            c.execute("UPDATE operations SET body=? WHERE id=?", (_dump(op), op.id))
        return op

    def finish_operation(
        self, operation_id: int, outcome: OperationOutcome, detail: str, at: datetime
    ) -> None:
        with self._tx() as c:
            row = c.execute("SELECT body FROM operations WHERE id=?", (operation_id,)).fetchone()
            if row is None:
                raise StoreError(f"no operation {operation_id}")
            op = _load(Operation, row[0]).model_copy(
                update={"outcome": outcome, "detail": detail, "finished_at": at}
            )
            c.execute("UPDATE operations SET open=0, body=? WHERE id=?", (_dump(op), operation_id))

    def open_operations(self, rollout_id: str) -> list[Operation]:
        rows = self._query(
            "SELECT body FROM operations WHERE rollout_id=? AND open=1 ORDER BY id", (rollout_id,)
        )
        return [_load(Operation, r[0]) for r in rows]

    def operations(self, rollout_id: str) -> list[Operation]:
        rows = self._query(
            "SELECT body FROM operations WHERE rollout_id=? ORDER BY id", (rollout_id,)
        )
        return [_load(Operation, r[0]) for r in rows]

    # commands -----------------------------------------------------------------------------
    def add_command(self, command: Command) -> Command:
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO commands (rollout_id, applied, body) VALUES (?, 0, ?)",
                (command.rollout_id, _dump(command)),
            )
            stored = command.model_copy(update={"id": cur.lastrowid})
            c.execute("UPDATE commands SET body=? WHERE id=?", (_dump(stored), stored.id))
        return stored

    def pending_commands(self, rollout_id: str) -> list[Command]:
        rows = self._query(
            "SELECT body FROM commands WHERE rollout_id=? AND applied=0 ORDER BY id", (rollout_id,)
        )
        return [_load(Command, r[0]) for r in rows]

    def get_command(self, command_id: int) -> Command:
        rows = self._query("SELECT body FROM commands WHERE id=?", (command_id,))
        if not rows:
            raise StoreError(f"no command {command_id}")
        return _load(Command, rows[0][0])

    def mark_command_applied(self, command_id: int, result: str, at: datetime) -> None:
        with self._tx() as c:
            row = c.execute("SELECT body FROM commands WHERE id=?", (command_id,)).fetchone()
            if row is None:
                raise StoreError(f"no command {command_id}")
            cmd = _load(Command, row[0]).model_copy(update={"applied_at": at, "result": result})
            c.execute("UPDATE commands SET applied=1, body=? WHERE id=?", (_dump(cmd), command_id))

    # approvals ----------------------------------------------------------------------------
    def add_approval(self, approval: Approval) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO approvals (rollout_id, body) VALUES (?, ?)",
                (approval.rollout_id, _dump(approval)),
            )

    def approvals(self, rollout_id: str) -> list[Approval]:
        rows = self._query(
            "SELECT body FROM approvals WHERE rollout_id=? ORDER BY id", (rollout_id,)
        )
        return [_load(Approval, r[0]) for r in rows]

    # locks --------------------------------------------------------------------------------
    def acquire_lock(
        self, key: str, rollout_id: str, holder: str, now: datetime, lease_seconds: float
    ) -> str:
        expires = _ts(now) + lease_seconds
        with self._tx(fenced=False) as c:
            row = c.execute(_SELECT_LOCK, (key,)).fetchone()
            if row is None:
                outcome = LockOutcome.ACQUIRED
            else:
                outcome = lock_outcome(_lock_info(key, row), rollout_id, holder, now)
            epoch = c.execute("INSERT INTO lock_epochs (key) VALUES (?)", (key,)).lastrowid
            assert epoch is not None
            c.execute(
                "INSERT OR REPLACE INTO locks (key, rollout_id, holder, lease_expires_at,"
                " acquired_at, epoch) VALUES (?, ?, ?, ?, ?, ?)",
                (key, rollout_id, holder, expires, now.isoformat(), epoch),
            )
        self.fence = Fence(key, epoch)
        return outcome

    def renew_lock(self, key: str, holder: str, now: datetime, lease_seconds: float) -> None:
        fence = self.fence if self.fence is not None and self.fence.key == key else None
        with self._tx(fenced=fence is not None) as c:
            cur = c.execute(
                "UPDATE locks SET lease_expires_at=? WHERE key=? AND holder=?",
                (_ts(now) + lease_seconds, key, holder),
            )
            if cur.rowcount != 1:
                row = c.execute(
                    _SELECT_LOCK, (key,)
                ).fetchone()
                if row is None:
                    raise LockedError(f"lost the lock on {key}: it was released by another process")
                raise LockedError(
                    f"lost the lock on {key}: {locked_message(_lock_info(key, row), now)}"
                )

    def park_lock(self, key: str, holder: str) -> None:
        fence = self.fence if self.fence is not None and self.fence.key == key else None
        with self._tx(fenced=fence is not None) as c:
            c.execute(
                "UPDATE locks SET lease_expires_at=NULL WHERE key=? AND holder=?", (key, holder)
            )

    def release_lock(self, key: str, rollout_id: str) -> None:
        ours = self.fence is not None and self.fence.key == key
        with self._tx(fenced=ours) as c:
            cur = c.execute("DELETE FROM locks WHERE key=? AND rollout_id=?", (key, rollout_id))
        if ours and cur.rowcount == 1:
            self.fence = None

    def get_lock(self, key: str) -> LockInfo | None:
        rows = self._query(_SELECT_LOCK, (key,))
        return _lock_info(key, rows[0]) if rows else None

    # meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str, expected: str | None) -> None:
        with self._tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            current = row[0] if row else None
            if current != expected:
                raise ConflictError(f"{key} changed concurrently")
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _lock_info(key: str, row: tuple[Any, ...]) -> LockInfo:
    rollout_id, holder, expires, acquired, epoch = row
    return LockInfo(
        key=key,
        rollout_id=rollout_id,
        holder=holder,
        lease_expires_at=None if expires is None else datetime.fromtimestamp(expires, UTC),
        acquired_at=datetime.fromisoformat(acquired),
        epoch=epoch,
    )
