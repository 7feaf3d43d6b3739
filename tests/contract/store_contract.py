"""The contract every state store passes. Subclass StoreContract and define two fixtures:

    store        a store
    open_other   a callable opening another, independent handle on the same state: "another
                 process" (racing tests open one in each thread, as SQLite connections
                 belong to the thread that made them)

The SQLite store runs it in tests/contract/test_store_contract.py, the DynamoDB store (moto)
in tests/aws/test_dynamodb_store.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipsafe.errors import ConflictError, LeaseLost, LockedError, StoreError, UsageError
from shipsafe.records import (
    Actor,
    ActorKind,
    Approval,
    Command,
    CommandKind,
    Event,
    EventType,
    Measurement,
    MeasurementPhase,
    Operation,
    OperationOutcome,
    Phase,
    RolloutRecord,
    Snapshot,
)
from shipsafe.store.base import Fence, LockOutcome, StateStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACTOR = Actor(id="alice", kind=ActorKind.HUMAN, host="laptop")


def rollout(
    rollout_id: str = "r-0001",
    environment: str = "production",
    service: str = "checkout",
    created: datetime = T0,
) -> RolloutRecord:
    return RolloutRecord(
        id=rollout_id,
        name=service,
        service=service,
        environment=environment,
        version="2.4.0",
        plan={"steps": [{"setWeight": 5}]},
        plan_digest="d" * 64,
        actor=ACTOR,
        created_at=created,
        updated_at=created,
    )


def event(rollout_id: str = "r-0001", message: str = "") -> Event:
    return Event(rollout_id=rollout_id, type=EventType.NOTICE, time=T0, message=message)


def race(open_store: Callable[[], StateStore], *calls: Callable[[StateStore], Any]) -> list[Any]:
    """Run each call with its own store handle, all at the same moment, in threads.

    Returns each call's result, or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        handle = open_store()
        try:
            barrier.wait()
            results[i] = calls[i](handle)
        except Exception as exc:
            results[i] = exc
        finally:
            handle.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


class StoreContract:
    @pytest.fixture
    def store(self) -> StateStore:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def open_other(self) -> Callable[[], StateStore]:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def other_store(self, open_other: Callable[[], StateStore]) -> Any:
        handle = open_other()
        yield handle
        handle.close()

    # rollouts -------------------------------------------------------------------------------
    def test_create_then_get_round_trips(self, store: StateStore) -> None:
        record = rollout()
        store.create_rollout(record)
        assert store.get_rollout(record.id) == record

    def test_create_twice_is_a_conflict(self, store: StateStore) -> None:
        store.create_rollout(rollout())
        with pytest.raises(ConflictError):
            store.create_rollout(rollout())

    def test_unknown_rollout_is_a_usage_error_naming_it(self, store: StateStore) -> None:
        with pytest.raises(UsageError, match="r-missing"):
            store.get_rollout("r-missing")

    def test_a_unique_prefix_finds_the_rollout(self, store: StateStore) -> None:
        store.create_rollout(rollout("r-abc123"))
        store.create_rollout(rollout("r-abd456"))
        assert store.get_rollout("r-abc").id == "r-abc123"
        with pytest.raises(UsageError):
            store.get_rollout("r-ab")

    def test_save_bumps_the_revision(self, store: StateStore) -> None:
        store.create_rollout(rollout())
        read = store.get_rollout("r-0001")
        saved = store.save_rollout(read.model_copy(update={"phase": Phase.PROGRESSING}))
        assert saved.revision == read.revision + 1
        again = store.get_rollout("r-0001")
        assert again.phase == Phase.PROGRESSING and again.revision == saved.revision

    def test_a_stale_revision_is_a_conflict(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        store.create_rollout(rollout())
        mine = store.get_rollout("r-0001")
        theirs = other_store.get_rollout("r-0001")
        other_store.save_rollout(theirs.model_copy(update={"message": "theirs"}))
        with pytest.raises(ConflictError, match="stale"):
            store.save_rollout(mine.model_copy(update={"message": "mine"}))
        assert store.get_rollout("r-0001").message == "theirs"

    def test_two_writers_racing_exactly_one_wins(
        self, store: StateStore, open_other: Callable[[], StateStore]
    ) -> None:
        store.create_rollout(rollout())
        for round_ in range(5):
            read = store.get_rollout("r-0001")
            results = race(
                open_other,
                lambda s, r=read, m=f"a{round_}": s.save_rollout(
                    r.model_copy(update={"message": m})
                ),
                lambda s, r=read, m=f"b{round_}": s.save_rollout(
                    r.model_copy(update={"message": m})
                ),
            )
            wins = [r for r in results if isinstance(r, RolloutRecord)]
            losses = [r for r in results if isinstance(r, ConflictError)]
            assert len(wins) == 1 and len(losses) == 1, results
            assert store.get_rollout("r-0001").message == wins[0].message

    def test_saving_an_unknown_rollout_is_a_conflict(self, store: StateStore) -> None:
        with pytest.raises(ConflictError):
            store.save_rollout(rollout("r-never-created"))

    def test_list_is_newest_first_and_filters(self, store: StateStore) -> None:
        store.create_rollout(rollout("r-1", created=T0))
        store.create_rollout(rollout("r-2", created=T0 + timedelta(minutes=1), service="cart"))
        store.create_rollout(rollout("r-3", created=T0 + timedelta(minutes=2)))
        store.create_rollout(
            rollout("r-4", created=T0 + timedelta(minutes=3), environment="staging")
        )
        assert [r.id for r in store.list_rollouts()] == ["r-4", "r-3", "r-2", "r-1"]
        assert [r.id for r in store.list_rollouts(service="checkout")] == ["r-4", "r-3", "r-1"]
        assert [r.id for r in store.list_rollouts("production", "checkout")] == ["r-3", "r-1"]
        assert [r.id for r in store.list_rollouts(limit=2)] == ["r-4", "r-3"]

    def test_list_shows_the_latest_save(self, store: StateStore) -> None:
        store.create_rollout(rollout())
        store.save_rollout(store.get_rollout("r-0001").model_copy(update={"phase": Phase.PAUSED}))
        assert store.list_rollouts()[0].phase == Phase.PAUSED

    # events, measurements -----------------------------------------------------------------
    def test_events_are_numbered_in_order(self, store: StateStore) -> None:
        store.create_rollout(rollout())
        stored = [store.append_event(event(message=str(i))) for i in range(3)]
        assert [e.seq for e in stored] == [1, 2, 3]
        assert [e.message for e in store.events("r-0001")] == ["0", "1", "2"]
        assert [e.seq for e in store.events("r-0001", after_seq=1)] == [2, 3]

    def test_events_of_two_rollouts_are_numbered_apart(self, store: StateStore) -> None:
        store.append_event(event("r-a"))
        store.append_event(event("r-a"))
        assert store.append_event(event("r-b")).seq == 1

    def test_two_writers_appending_events_never_share_a_number(
        self, store: StateStore, open_other: Callable[[], StateStore]
    ) -> None:
        calls = [lambda s, i=i: s.append_event(event(message=f"m{i}")) for i in range(4)]
        results = race(open_other, *calls)
        assert all(isinstance(r, Event) for r in results), results
        seqs = sorted(r.seq for r in results)
        assert seqs == [1, 2, 3, 4]
        assert sorted(e.message for e in store.events("r-0001")) == ["m0", "m1", "m2", "m3"]

    def test_measurements_come_back_in_order(self, store: StateStore) -> None:
        for i in range(3):
            store.add_measurement(
                Measurement(
                    rollout_id="r-0001",
                    run="breakers",
                    metric="error-rate",
                    phase=MeasurementPhase.SUCCESSFUL,
                    value=float(i),
                    started_at=T0,
                    finished_at=T0,
                    query="q",
                )
            )
        assert [m.value for m in store.measurements("r-0001")] == [0.0, 1.0, 2.0]
        assert store.measurements("r-other") == []

    # snapshot -----------------------------------------------------------------------------
    def test_snapshot_is_saved_replaced_and_read(self, store: StateStore) -> None:
        assert store.get_snapshot("r-0001") is None
        state = {"weights": {"a": 100, "b": 0}}
        snap = Snapshot(
            rollout_id="r-0001",
            router="fake",
            config={"x": 1},
            state=state,
            checksum=Snapshot.checksum_of("fake", {"x": 1}, state),
            taken_at=T0,
        )
        store.save_snapshot(snap)
        assert store.get_snapshot("r-0001") == snap
        verified = snap.model_copy(update={"verified_at": T0})
        store.save_snapshot(verified)
        assert store.get_snapshot("r-0001") == verified

    # operations ---------------------------------------------------------------------------
    def test_operation_intent_then_outcome(self, store: StateStore) -> None:
        op = store.begin_operation(
            Operation(rollout_id="r-0001", kind="set_weight", params={"weight": 5}, started_at=T0)
        )
        assert op.id is not None
        assert store.open_operations("r-0001") == [op]
        store.finish_operation(op.id, OperationOutcome.OK, "done", T0)
        assert store.open_operations("r-0001") == []
        (finished,) = store.operations("r-0001")
        assert finished.outcome == OperationOutcome.OK and finished.detail == "done"
        assert finished.finished_at == T0

    def test_operation_ids_are_unique_across_rollouts(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        a = store.begin_operation(Operation(rollout_id="r-a", kind="x", started_at=T0))
        b = other_store.begin_operation(Operation(rollout_id="r-b", kind="x", started_at=T0))
        assert a.id != b.id
        assert other_store.open_operations("r-a") == [a]

    def test_finishing_an_unknown_operation_is_a_store_error(self, store: StateStore) -> None:
        with pytest.raises(StoreError):
            store.finish_operation(424242, OperationOutcome.OK, "", T0)

    # commands -----------------------------------------------------------------------------
    def test_commands_pending_then_applied(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        cmd = other_store.add_command(
            Command(
                rollout_id="r-0001",
                kind=CommandKind.ROLLBACK,
                actor=ACTOR,
                created_at=T0,
                args={"reason": "3am"},
            )
        )
        assert cmd.id is not None
        assert store.pending_commands("r-0001") == [cmd]
        assert store.get_command(cmd.id) == cmd
        store.mark_command_applied(cmd.id, "rolled back", T0)
        assert store.pending_commands("r-0001") == []
        applied = other_store.get_command(cmd.id)
        assert applied.result == "rolled back" and applied.applied_at == T0

    def test_an_unknown_command_is_a_store_error(self, store: StateStore) -> None:
        with pytest.raises(StoreError):
            store.get_command(424242)

    # approvals ----------------------------------------------------------------------------
    def test_approvals_are_kept_in_order(self, store: StateStore) -> None:
        for who in ("bob", "carol"):
            store.add_approval(
                Approval(
                    rollout_id="r-0001",
                    gate="gate-3",
                    actor=Actor(id=who, kind=ActorKind.HUMAN, host="h"),
                    approved_at=T0,
                )
            )
        assert [a.actor.id for a in store.approvals("r-0001")] == ["bob", "carol"]

    # the lock -----------------------------------------------------------------------------
    KEY = "production/checkout"

    def test_a_free_lock_is_acquired_then_held(self, store: StateStore) -> None:
        assert store.acquire_lock(self.KEY, "r-1", "h1", T0, 15) == LockOutcome.ACQUIRED
        assert store.acquire_lock(self.KEY, "r-1", "h1", T0, 15) == LockOutcome.HELD
        info = store.get_lock(self.KEY)
        assert info is not None and info.rollout_id == "r-1" and info.holder == "h1"
        assert info.lease_expires_at == T0 + timedelta(seconds=15)

    def test_a_live_lock_refuses_another_rollout_with_a_clear_message(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        store.acquire_lock(self.KEY, "r-1", "h1", T0, 15)
        with pytest.raises(LockedError, match=r"production/checkout is locked by rollout r-1"):
            other_store.acquire_lock(self.KEY, "r-2", "h2", T0 + timedelta(seconds=5), 15)

    def test_an_expired_lease_is_taken_over(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        store.acquire_lock(self.KEY, "r-1", "h1", T0, 15)
        later = T0 + timedelta(seconds=16)
        assert other_store.acquire_lock(self.KEY, "r-2", "h2", later, 15) == LockOutcome.TAKEN_OVER
        info = store.get_lock(self.KEY)
        assert info is not None and info.rollout_id == "r-2"

    def test_a_parked_lock_blocks_others_but_not_its_rollout(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        store.acquire_lock(self.KEY, "r-1", "h1", T0, 15)
        store.park_lock(self.KEY, "h1")
        info = other_store.get_lock(self.KEY)
        assert info is not None and info.lease_expires_at is None
        far = T0 + timedelta(days=3)
        with pytest.raises(LockedError, match="waiting for a human"):
            other_store.acquire_lock(self.KEY, "r-2", "h2", far, 15)
        assert other_store.acquire_lock(self.KEY, "r-1", "h9", far, 15) == LockOutcome.TAKEN_OVER

    def test_renew_extends_our_lease_and_fails_once_lost(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        store.acquire_lock(self.KEY, "r-1", "h1", T0, 15)
        store.renew_lock(self.KEY, "h1", T0 + timedelta(seconds=10), 15)
        info = store.get_lock(self.KEY)
        assert info is not None and info.lease_expires_at == T0 + timedelta(seconds=25)
        other_store.acquire_lock(self.KEY, "r-2", "h2", T0 + timedelta(seconds=30), 15)
        with pytest.raises(LeaseLost, match=r"lost the lease .* driven by h2"):
            store.renew_lock(self.KEY, "h1", T0 + timedelta(seconds=31), 15)

    def test_renew_after_release_says_released(self, store: StateStore) -> None:
        store.acquire_lock(self.KEY, "r-1", "h1", T0, 15)
        store.release_lock(self.KEY, "r-1")
        with pytest.raises(LockedError, match="released"):
            store.renew_lock(self.KEY, "h1", T0, 15)

    def test_release_frees_only_our_lock(self, store: StateStore) -> None:
        store.acquire_lock(self.KEY, "r-1", "h1", T0, 15)
        store.release_lock(self.KEY, "r-other")
        assert store.get_lock(self.KEY) is not None
        store.release_lock(self.KEY, "r-1")
        assert store.get_lock(self.KEY) is None
        store.release_lock(self.KEY, "r-1")  # releasing a free lock is fine

    def test_two_rollouts_racing_for_the_lock_exactly_one_gets_it(
        self, open_other: Callable[[], StateStore]
    ) -> None:
        for i in range(5):
            key = f"production/svc{i}"
            results = race(
                open_other,
                lambda s, k=key: s.acquire_lock(k, "r-a", "ha", T0, 15),
                lambda s, k=key: s.acquire_lock(k, "r-b", "hb", T0, 15),
            )
            won = [r for r in results if r == LockOutcome.ACQUIRED]
            refused = [r for r in results if isinstance(r, LockedError)]
            assert len(won) == 1 and len(refused) == 1, results

    # fencing: every acquisition is a new epoch; a stale epoch writes nothing -------------------
    def test_every_acquisition_gives_a_higher_epoch_even_after_a_release(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        store.acquire_lock(self.KEY, "r-1", "h1", T0, 15)
        first = store.get_lock(self.KEY)
        store.release_lock(self.KEY, "r-1")
        other_store.acquire_lock(self.KEY, "r-1", "h2", T0, 15)
        second = other_store.get_lock(self.KEY)
        assert first is not None and second is not None and second.epoch > first.epoch
        assert store.fence is None  # released: no longer writing under that lease
        assert other_store.fence == Fence(self.KEY, second.epoch)

    def _stale(self, store: StateStore, other_store: StateStore) -> None:
        """`store` drives r-0001, then `other_store` takes its lease over."""
        store.create_rollout(rollout())
        store.acquire_lock(self.KEY, "r-0001", "h1", T0, 15)
        store.begin_operation(
            Operation(rollout_id="r-0001", kind="set_weight", params={}, started_at=T0)
        )
        store.add_command(
            Command(rollout_id="r-0001", kind=CommandKind.PAUSE, actor=ACTOR, created_at=T0)
        )
        other_store.acquire_lock(self.KEY, "r-0001", "h2", T0 + timedelta(seconds=16), 15)

    WRITES: dict[str, Callable[[StateStore], Any]] = {
        "save_rollout": lambda s: s.save_rollout(s.get_rollout("r-0001")),
        "append_event": lambda s: s.append_event(event()),
        "add_measurement": lambda s: s.add_measurement(
            Measurement(rollout_id="r-0001", run="b", metric="m", phase=MeasurementPhase.SUCCESSFUL,
                        value=0.0, started_at=T0, finished_at=T0, query="q")
        ),
        "save_snapshot": lambda s: s.save_snapshot(
            Snapshot(rollout_id="r-0001", router="fake", config={}, state={}, checksum="c",
                     taken_at=T0)
        ),
        "begin_operation": lambda s: s.begin_operation(
            Operation(rollout_id="r-0001", kind="restore", params={}, started_at=T0)
        ),
        "finish_operation": lambda s: s.finish_operation(
            s.operations("r-0001")[0].id or 0, OperationOutcome.OK, "", T0
        ),
        "add_command": lambda s: s.add_command(
            Command(rollout_id="r-0001", kind=CommandKind.RESUME, actor=ACTOR, created_at=T0)
        ),
        "mark_command_applied": lambda s: s.mark_command_applied(
            s.pending_commands("r-0001")[0].id or 0, "done", T0
        ),
        "add_approval": lambda s: s.add_approval(
            Approval(rollout_id="r-0001", gate="g", actor=ACTOR, approved_at=T0)
        ),
        "set_meta": lambda s: s.set_meta("audit_head:x", "1:aa", None),
        "create_rollout": lambda s: s.create_rollout(rollout("r-0002")),
        "renew_lock": lambda s: s.renew_lock("production/checkout", "h1", T0, 15),
        "park_lock": lambda s: s.park_lock("production/checkout", "h1"),
        "release_lock": lambda s: s.release_lock("production/checkout", "r-0001"),
    }

    @pytest.mark.parametrize("write", sorted(WRITES))
    def test_a_stale_epoch_writes_nothing(
        self, write: str, store: StateStore, other_store: StateStore
    ) -> None:
        self._stale(store, other_store)
        before = self._everything(other_store)
        with pytest.raises(LeaseLost, match="driven by h2"):
            self.WRITES[write](store)
        assert self._everything(other_store) == before

    def test_the_new_holder_writes_and_an_unfenced_process_still_adds_commands(
        self, store: StateStore, other_store: StateStore, open_other: Callable[[], StateStore]
    ) -> None:
        self._stale(store, other_store)
        for name in ("save_rollout", "append_event", "begin_operation", "add_command"):
            self.WRITES[name](other_store)
        bystander = open_other()  # `shipsafe pause` from a third machine: it drives nothing
        try:
            assert bystander.fence is None
            self.WRITES["add_command"](bystander)
        finally:
            bystander.close()

    def test_check_fence_passes_while_ours_and_fails_after_a_takeover(
        self, store: StateStore, other_store: StateStore
    ) -> None:
        store.acquire_lock(self.KEY, "r-1", "h1", T0, 15)
        store.check_fence()
        other_store.acquire_lock(self.KEY, "r-1", "h2", T0 + timedelta(seconds=16), 15)
        with pytest.raises(LeaseLost):
            store.check_fence()
        other_store.check_fence()

    def _everything(self, s: StateStore) -> Any:
        lock = s.get_lock(self.KEY)
        return (
            [r.model_dump() for r in s.list_rollouts()],
            [e.model_dump() for e in s.events("r-0001")],
            [m.model_dump() for m in s.measurements("r-0001")],
            s.get_snapshot("r-0001"),
            [o.model_dump() for o in s.operations("r-0001")],
            [c.model_dump() for c in s.pending_commands("r-0001")],
            [a.model_dump() for a in s.approvals("r-0001")],
            s.get_meta("audit_head:x"),
            lock.model_dump() if lock else None,
        )

    # meta ---------------------------------------------------------------------------------
    def test_meta_is_compare_and_set(self, store: StateStore, other_store: StateStore) -> None:
        assert store.get_meta("audit_head:x") is None
        store.set_meta("audit_head:x", "1:aa", None)
        with pytest.raises(ConflictError):
            other_store.set_meta("audit_head:x", "1:bb", None)
        with pytest.raises(ConflictError):
            other_store.set_meta("audit_head:x", "2:bb", "0:zz")
        other_store.set_meta("audit_head:x", "2:bb", "1:aa")
        assert store.get_meta("audit_head:x") == "2:bb"
