"""The target fences concurrent writers: before every traffic change the router is read
and must show what this rollout last verified; anything else stops the rollout, unwritten."""

from __future__ import annotations

from typing import Any

from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.records import EventType, Phase, Reason
from tests.conftest import Recorder, make_plan
from tests.fakes import FakeRouter

STEPS = """
breakers: [{analysis: error-rate}]
steps:
  - setWeight: 10
  - pause: {duration: 1m}
  - setWeight: 50
  - setWeight: 100
"""


def _writes(router: FakeRouter) -> list[Any]:
    return [c for c in router.calls if c[0] in ("set", "promote", "restore")]


def test_another_writer_between_two_steps_stops_the_rollout_without_a_write(
    make_ctx: Any, router: FakeRouter, recorder: Recorder, clock: Any
) -> None:
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    engine.tick()
    assert router.weights["canary"] == 10  # held by the pause
    clock.advance(61)
    router.weights = {"stable": 70, "canary": 30}  # someone else: another store, a human
    before = len(_writes(router))
    phase = drive(engine)
    assert phase == Phase.PAUSED
    assert engine.record.runtime.pause_reason == Reason.TARGET_CHANGED
    assert len(_writes(router)) == before  # nothing written after the fence
    assert router.weights == {"stable": 70, "canary": 30}
    (fenced,) = [e for e in recorder.events if e.type == EventType.TARGET_FENCED]
    assert fenced.data == {"read": 30, "expected": 10, "pending": None, "would_set": 50}
    assert "another writer" in fenced.message


def test_a_router_that_reads_what_the_rollout_verified_is_not_fenced(
    make_ctx: Any, router: FakeRouter, recorder: Recorder
) -> None:
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    assert drive(engine) == Phase.SUCCEEDED
    assert router.weights["canary"] == 100
    assert not [e for e in recorder.events if e.type == EventType.TARGET_FENCED]
