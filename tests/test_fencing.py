"""Fencing: a driver whose lease was taken over writes nothing more, anywhere, and stops;
the lease is renewed by a heartbeat, and router writes need a live lease with time left."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shipsafe.clock import FakeClock
from shipsafe.engine.context import EngineContext
from shipsafe.engine.control import start_deploy, submit_command
from shipsafe.engine.driver import drive
from shipsafe.engine.lease import Lease
from shipsafe.errors import LeaseLost, StoreError
from shipsafe.records import CommandKind, EventType, Phase
from shipsafe.store.base import Fence
from shipsafe.store.sqlite import SQLiteStore
from tests.conftest import ALICE, BOB, Recorder, make_plan
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter

STEPS = """
breakers:
  - analysis: error-rate
steps:
  - setWeight: 10
  - pause: {duration: 1m}
  - setWeight: 30
  - pause: {duration: 1m}
"""


class Process:
    """One shipsafe process: its own store connection, router handle and events."""

    def __init__(self, path: Path, clock: FakeClock, router: FakeRouter, actor: Any) -> None:
        self.store = SQLiteStore.open(path)
        self.router = router
        self.events = Recorder()
        self.ctx = EngineContext(
            store=self.store,
            clock=clock,
            providers=FakeProviders(router, FakeMetrics(0.0)),
            actor=actor,
            subscribers=[self.events],
        )


@pytest.fixture
def two(tmp_path: Path, clock: FakeClock) -> tuple[Process, Process, FakeRouter]:
    router = FakeRouter()  # one router: both processes reach the same HAProxy
    first = Process(tmp_path / "state.db", clock, router, ALICE)
    second = Process(tmp_path / "state.db", clock, router, BOB)
    return first, second, router


def test_a_driver_whose_lease_was_taken_over_writes_nothing_more_and_stops(
    two: tuple[Process, Process, FakeRouter], clock: FakeClock
) -> None:
    first, second, router = two
    engine = start_deploy(first.ctx, make_plan(STEPS))
    engine.tick()  # canary at 10%, then this driver stalls (frozen, slow step...)
    assert router.weights["canary"] == 10
    clock.advance(60)  # its lease runs out; on-call rolls back from another machine
    result = submit_command(second.ctx, engine.record.id, CommandKind.ROLLBACK)
    assert result.phase == Phase.ROLLED_BACK and router.weights == {"stable": 100, "canary": 0}
    events_before = len(second.store.events(engine.record.id))
    calls_before = list(router.calls)

    clock.advance(60)  # the pause is over: the first driver would set 30% now
    with pytest.raises(LeaseLost, match=r"lost the lease .*released"):
        drive(engine)

    assert router.calls == calls_before  # not one router write
    assert router.weights == {"stable": 100, "canary": 0}
    assert len(second.store.events(engine.record.id)) == events_before  # nor a store write
    assert second.store.get_rollout(engine.record.id).phase == Phase.ROLLED_BACK


def test_a_stale_driver_mid_tick_is_stopped_by_the_router_fence(
    two: tuple[Process, Process, FakeRouter], clock: FakeClock
) -> None:
    """The takeover lands between the intent and the router write: the write never happens."""
    first, second, router = two
    engine = start_deploy(first.ctx, make_plan(STEPS))
    engine.tick()
    clock.advance(60)
    # bob takes the lease at the very moment alice's driver is about to write
    original_check = first.store.check_fence

    def taken_over_now() -> None:
        second.store.acquire_lock(engine.record.lock_key, engine.record.id, "bob", clock.now(), 15)
        original_check()

    first.store.check_fence = taken_over_now  # type: ignore[method-assign]
    calls_before = list(router.calls)
    with pytest.raises(LeaseLost):
        drive(engine)
    assert router.calls == calls_before
    assert router.weights["canary"] == 10


def test_a_takeover_that_finds_the_router_moved_says_so_and_restores_anyway(
    two: tuple[Process, Process, FakeRouter], clock: FakeClock
) -> None:
    first, second, router = two
    engine = start_deploy(first.ctx, make_plan(STEPS))
    engine.tick()
    router.weights = {"stable": 70, "canary": 30}  # a late write the store never recorded
    clock.advance(60)

    result = submit_command(second.ctx, engine.record.id, CommandKind.ROLLBACK)

    assert result.phase == Phase.ROLLED_BACK
    assert router.weights == {"stable": 100, "canary": 0}
    (drift,) = [e for e in second.events.of("notice") if e.data.get("router_drift")]
    assert "router reads canary 30%, the store recorded 10%" in drift.message
    assert "restoring the snapshot anyway" in drift.message


def test_a_takeover_that_finds_the_router_as_recorded_says_nothing_of_drift(
    two: tuple[Process, Process, FakeRouter], clock: FakeClock
) -> None:
    first, second, _ = two
    engine = start_deploy(first.ctx, make_plan(STEPS))
    engine.tick()
    clock.advance(60)
    submit_command(second.ctx, engine.record.id, CommandKind.ROLLBACK)
    assert not [e for e in second.events.of("notice") if e.data.get("router_drift")]


def test_the_new_holder_gets_a_higher_epoch_and_the_lock_says_who(
    two: tuple[Process, Process, FakeRouter], clock: FakeClock
) -> None:
    first, second, _ = two
    engine = start_deploy(first.ctx, make_plan(STEPS))
    engine.tick()
    before = first.store.get_lock(engine.record.lock_key)
    clock.advance(60)
    submit_command(second.ctx, engine.record.id, CommandKind.ROLLBACK)
    taken = [e for e in second.events.of("lock_taken_over")]
    assert taken and before is not None and second.store.fence is None  # released at the end
    assert before.epoch > 0


# the lease itself --------------------------------------------------------------------------
class Ticker:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FlakyStore:
    """Renewals answer as told: ok, a store error, or the lease lost."""

    def __init__(self) -> None:
        self.answer: Exception | None = None
        self.renewals = 0

    def renew_lock(self, key: str, holder: str, now: Any, lease_seconds: float) -> None:
        self.renewals += 1
        if self.answer is not None:
            raise self.answer


def lease(store: Any, ticker: Ticker, seconds: float = 15.0) -> Lease:
    return Lease(store, Fence("prod/svc", 7), "me", seconds, FakeClock(), monotonic=ticker)


def test_a_beat_extends_the_lease_from_when_it_was_sent() -> None:
    ticker, store = Ticker(), FlakyStore()
    held = lease(store, ticker)
    ticker.t += 9
    held.beat()
    assert held.deadline == ticker.t + 15 and store.renewals == 1
    held.guard()  # 15 s left: plenty for a router write


def test_a_router_write_is_refused_when_the_lease_cannot_be_renewed_in_time() -> None:
    ticker, store = Ticker(), FlakyStore()
    held = lease(store, ticker)
    store.answer = StoreError("database is locked")
    ticker.t += 11  # 1.5 s left of the lease: less than the 5 s a write may take
    with pytest.raises(LeaseLost, match="could not be renewed"):
        held.guard()
    assert held.lost is None  # not lost to anyone: the store may answer again
    store.answer = None
    held.guard()  # renewed inline, so the write may go


def test_a_lease_lost_to_another_holder_is_lost_for_good() -> None:
    ticker, store = Ticker(), FlakyStore()
    held = lease(store, ticker)
    store.answer = LeaseLost("lost the lease on prod/svc (epoch 7): driven by bob")
    held.beat()
    with pytest.raises(LeaseLost, match="driven by bob"):
        held.check()
    store.answer = None
    held.beat()
    assert store.renewals == 1  # it does not try again


def test_a_stuck_main_thread_stops_the_heartbeat_so_others_can_take_over() -> None:
    ticker, store = Ticker(), FlakyStore()
    held = lease(store, ticker)
    ticker.t += held.stall_seconds + 1  # no tick for that long
    held.beat()
    assert store.renewals == 0
    held.alive()
    held.beat()
    assert store.renewals == 1


def test_the_heartbeat_handle_is_fenced_with_the_drivers_epoch(
    tmp_path: Path, make_ctx: Any, store: SQLiteStore, recorder: Recorder
) -> None:
    handles: list[SQLiteStore] = []

    def open_handle() -> SQLiteStore:
        handles.append(SQLiteStore.open(tmp_path / "state.db"))
        return handles[-1]

    ctx = make_ctx(lease_store=open_handle)
    engine = start_deploy(ctx, make_plan("steps:\n  - setWeight: 10\n"))
    fence = store.fence
    assert drive(engine) == Phase.SUCCEEDED
    (handle,) = handles
    assert fence is not None and handle.fence == fence
    assert ctx.lease is None  # given back when the drive ended
    assert EventType.LOCK_RELEASED.value in recorder.types()


def test_a_beat_on_its_own_handle_extends_the_stored_lease_until_another_takes_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    driver = SQLiteStore.open(tmp_path / "state.db")
    driver.acquire_lock("prod/svc", "r-1", "me", clock.now(), 15)
    heartbeat = SQLiteStore.open(tmp_path / "state.db")
    heartbeat.fence_to(driver.fence)
    held = Lease(heartbeat, driver.fence, "me", 15, clock)

    clock.advance(10)
    held.beat()
    lock = driver.get_lock("prod/svc")
    assert lock is not None and lock.lease_expires_at == clock.now() + timedelta(seconds=15)

    clock.advance(30)
    SQLiteStore.open(tmp_path / "state.db").acquire_lock("prod/svc", "r-1", "bob", clock.now(), 15)
    held.beat()
    with pytest.raises(LeaseLost, match="driven by bob"):
        held.check()
