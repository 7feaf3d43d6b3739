"""Fencing on the team store: a driver whose lease was taken over through DynamoDB writes
nothing more (store or router) and stops; the heartbeat renews on a handle of its own."""

from __future__ import annotations

from typing import Any

import pytest

from shipsafe.clock import FakeClock
from shipsafe.engine.context import EngineContext
from shipsafe.engine.control import start_deploy, submit_command
from shipsafe.engine.driver import drive
from shipsafe.errors import LeaseLost
from shipsafe.records import CommandKind, Phase
from shipsafe.store.dynamodb import DynamoDBStore
from tests.conftest import ALICE, BOB, Recorder, make_plan
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter

URL = "dynamodb://shipsafe-state"
STEPS = """
breakers:
  - analysis: error-rate
steps:
  - setWeight: 10
  - pause: {duration: 1m}
  - setWeight: 30
  - pause: {duration: 1m}
"""


def process(clock: FakeClock, router: FakeRouter, actor: Any, **kw: Any) -> EngineContext:
    """One shipsafe process: its own DynamoDB client, the shared router."""
    return EngineContext(
        store=DynamoDBStore.open(URL),
        clock=clock,
        providers=FakeProviders(router, FakeMetrics(0.0)),
        actor=actor,
        subscribers=[Recorder()],
        **kw,
    )


@pytest.fixture
def table(aws: Any, atomic_moto: None) -> None:
    DynamoDBStore.init(URL)


def test_a_driver_taken_over_through_dynamodb_writes_nothing_more_and_stops(
    table: None, clock: FakeClock
) -> None:
    router = FakeRouter()
    first = process(clock, router, ALICE)
    engine = start_deploy(first, make_plan(STEPS))
    engine.tick()
    assert router.weights["canary"] == 10
    clock.advance(60)  # its lease runs out; on-call rolls back from another machine
    second = process(clock, router, BOB)
    assert submit_command(second, engine.record.id, CommandKind.ROLLBACK).phase == (
        Phase.ROLLED_BACK
    )
    events = len(second.store.events(engine.record.id))
    calls = list(router.calls)

    clock.advance(60)
    with pytest.raises(LeaseLost):
        drive(engine)

    assert router.calls == calls and router.weights == {"stable": 100, "canary": 0}
    assert len(second.store.events(engine.record.id)) == events


def test_the_heartbeat_handle_writes_under_the_drivers_epoch(
    table: None, clock: FakeClock
) -> None:
    handles: list[DynamoDBStore] = []

    def open_handle() -> DynamoDBStore:
        handles.append(DynamoDBStore.open(URL))
        return handles[-1]

    ctx = process(clock, FakeRouter(), ALICE, lease_store=open_handle)
    engine = start_deploy(ctx, make_plan("steps:\n  - setWeight: 10\n"))
    fence = ctx.store.fence
    assert drive(engine) == Phase.SUCCEEDED
    (handle,) = handles
    assert handle.fence == fence and fence is not None  # it wrote under the driver's epoch
    assert ctx.store.get_lock(engine.record.lock_key) is None  # released at the end
