"""The driver's invariant: once traffic has moved, no exception ends the process without a
rollback attempt; an unexpected error is rolled back as `internal_error`, its traceback in
the store and not on the terminal, and the exit code is 3 or 5 - never 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.records import EventType, Phase, Reason
from shipsafe.store.sqlite import SQLiteStore
from tests import test_cli
from tests.conftest import make_plan
from tests.fakes import FakeRouter
from tests.test_cli import json_lines, run, write_plan

env = test_cli.env  # the CLI tests' fixtures: a working directory, fake providers
fakes = test_cli.fakes

STEPS = """
breakers:
  - analysis: error-rate
steps:
  - setWeight: 10
  - pause: {duration: 1m}
  - setWeight: 30
"""


def read_back_breaks_at(router: FakeRouter, weight: int) -> None:
    """The read-back after setting `weight` raises a plain KeyError once (a bug, not a
    ProviderError the engine expects)."""

    def on_set(w: int) -> None:
        if w == weight:
            router.fail["get"] = KeyError("b")
            router.fail_times["get"] = 1

    router.on_set = on_set


def test_an_unexpected_error_after_traffic_moved_is_rolled_back_as_internal_error(
    make_ctx: Any, router: FakeRouter, store: SQLiteStore
) -> None:
    read_back_breaks_at(router, 30)
    engine = start_deploy(make_ctx(), make_plan(STEPS))

    assert drive(engine) == Phase.ROLLED_BACK

    assert router.weights == {"stable": 100, "canary": 0}
    record = store.get_rollout(engine.record.id)
    assert record.runtime.rollback_reason == Reason.INTERNAL_ERROR
    assert "KeyError" in record.runtime.rollback_message
    (noted,) = [e for e in store.events(record.id) if e.reason == Reason.INTERNAL_ERROR
                and e.type == EventType.NOTICE]
    assert "Traceback (most recent call last)" in noted.data["traceback"]
    assert "KeyError: 'b'" in noted.data["traceback"]
    assert store.get_lock(record.lock_key) is None  # released: the rollout is over


def test_a_rollback_that_fails_the_same_way_ends_rollback_failed_and_keeps_the_lock(
    make_ctx: Any, router: FakeRouter, store: SQLiteStore
) -> None:
    read_back_breaks_at(router, 30)
    router.fail["restore"] = RuntimeError("bug in restore")
    engine = start_deploy(make_ctx(), make_plan(STEPS))

    assert drive(engine) == Phase.ROLLBACK_FAILED

    record = store.get_rollout(engine.record.id)
    assert record.phase == Phase.ROLLBACK_FAILED
    assert "the rollback failed too (RuntimeError: bug in restore)" in record.message
    lock = store.get_lock(record.lock_key)
    assert lock is not None and lock.lease_expires_at is None  # parked: nothing deploys over it


PLAN = "steps:\n  - setWeight: 10\n  - setWeight: 50\n  - pause: {duration: 1m}\n"


def test_the_cli_exits_3_not_1_and_prints_no_traceback(env: Path, fakes: Any) -> None:
    read_back_breaks_at(fakes.router_instance, 50)
    result = run("deploy", write_plan(env, PLAN), "-o", "json")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert json_lines(result.output)[-1]["phase"] == "rolled_back"
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}
    status = run("status", json_lines(result.output)[-1]["rollout_id"], "-o", "json")
    assert "Traceback (most recent call last)" in status.output  # kept in the store


def test_the_cli_exits_5_when_the_rollback_fails_too(env: Path, fakes: Any) -> None:
    read_back_breaks_at(fakes.router_instance, 50)
    fakes.router_instance.fail["restore"] = RuntimeError("bug in restore")
    result = run("deploy", write_plan(env, PLAN))
    assert result.exit_code == 5, result.output
    assert "Traceback" not in result.output
