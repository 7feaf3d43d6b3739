"""SIGINT, SIGTERM and SIGHUP: a rollback request handled between ticks; a second signal
within 5 s stops the process and leaves the rollout for `shipsafe rollback` (exit 5)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipsafe import interrupts
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.interrupts import Interrupts, LeaveNow
from shipsafe.records import Phase, Reason
from shipsafe.store.sqlite import SQLiteStore
from tests import test_cli
from tests.conftest import Recorder, make_plan
from tests.fakes import FakeRouter
from tests.test_cli import FAST, json_lines, run, write_plan

env = test_cli.env  # the CLI tests' fixtures: a working directory, fake providers
fakes = test_cli.fakes

STEPS = """
breakers:
  - analysis: error-rate
steps:
  - setWeight: 10
  - pause: {duration: 1m}
  - setWeight: 30
  - pause: {duration: 1m}
"""


class Ticker:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def fresh_interrupts() -> Iterator[None]:
    interrupts.INTERRUPTS.reset()
    yield
    interrupts.INTERRUPTS.reset()


# the request and the second signal -----------------------------------------------------
def test_the_first_signal_only_asks_for_a_rollback() -> None:
    state = Interrupts(Ticker())
    state.on_signal(signal.SIGTERM)
    assert state.take_request() == "SIGTERM"
    assert state.take_request() is None


def test_a_second_signal_within_5s_leaves_at_once() -> None:
    ticker = Ticker()
    state = Interrupts(ticker)
    state.on_signal(signal.SIGINT)
    ticker.t += 4.9
    with pytest.raises(LeaveNow) as raised:
        state.on_signal(signal.SIGHUP)
    assert raised.value.signal_name == "SIGHUP"


def test_a_signal_after_5s_is_a_new_first_one() -> None:
    ticker = Ticker()
    state = Interrupts(ticker)
    state.on_signal(signal.SIGTERM)
    state.take_request()
    ticker.t += 5.1
    state.on_signal(signal.SIGTERM)  # no LeaveNow
    assert state.take_request() == "SIGTERM"


def test_a_second_signal_inside_a_critical_section_waits_for_its_end() -> None:
    state = Interrupts(Ticker())
    done = []
    with pytest.raises(LeaveNow), state.critical():
        state.on_signal(signal.SIGTERM)
        state.on_signal(signal.SIGTERM)  # deferred: the section goes on
        done.append("rest of the section")
    assert done == ["rest of the section"]


# store transactions ----------------------------------------------------------------------
def test_a_second_signal_inside_a_store_transaction_commits_it_first(store: SQLiteStore) -> None:
    from tests.contract.store_contract import rollout

    with pytest.raises(LeaveNow), store._tx() as c:
        interrupts.INTERRUPTS.on_signal(signal.SIGTERM)
        interrupts.INTERRUPTS.on_signal(signal.SIGTERM)
        c.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    assert not store._conn.in_transaction
    assert store.get_meta("k") == "v"
    store.create_rollout(rollout())  # the next write starts its own transaction


def test_a_transaction_left_open_is_rolled_back_before_the_next_write(
    store: SQLiteStore,
) -> None:
    from tests.contract.store_contract import rollout

    store._conn.execute("BEGIN IMMEDIATE")  # as a signal landing after BEGIN once did
    store._conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'done')")
    store.create_rollout(rollout())  # no "cannot start a transaction within a transaction"
    assert store.get_meta("half") is None
    assert store.get_rollout(rollout().id) is not None


# the driver ------------------------------------------------------------------------------
def test_a_signal_during_a_weight_change_rolls_back_at_the_next_safe_point(
    make_ctx: Any, router: FakeRouter, store: SQLiteStore, recorder: Recorder
) -> None:
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    router.on_set = lambda w: interrupts.INTERRUPTS.on_signal(signal.SIGTERM) if w == 10 else None

    assert drive(engine) == Phase.ABORTED

    assert router.weights == {"stable": 100, "canary": 0}
    record = store.get_rollout(engine.record.id)
    assert record.runtime.rollback_reason == Reason.MANUAL_ABORT
    assert "SIGTERM" in record.runtime.rollback_message
    (notice,) = [e for e in recorder.of("notice") if e.data.get("signal")]
    assert f"shipsafe rollback {engine.record.id}" in notice.message
    # the intent of the weight change got its outcome before the rollback began
    assert store.open_operations(engine.record.id) == []


def test_sighup_is_treated_like_sigterm(make_ctx: Any, router: FakeRouter) -> None:
    engine = start_deploy(make_ctx(), make_plan(STEPS))
    router.on_set = lambda w: interrupts.INTERRUPTS.on_signal(signal.SIGHUP) if w == 10 else None
    assert drive(engine) == Phase.ABORTED
    assert router.weights == {"stable": 100, "canary": 0}


# the command line: real signals sent to this process ---------------------------------------
@pytest.fixture
def cli_env(env: Path, fakes: Any) -> Path:
    return env


def _kill_self(times: int) -> Any:
    sent = []

    def on_set(weight: int) -> None:
        if weight == 50 and not sent:
            for _ in range(times):
                sent.append(weight)
                os.kill(os.getpid(), signal.SIGTERM)

    return on_set


def test_sigterm_during_a_deploy_ends_rolled_back_with_exit_3(cli_env: Path, fakes: Any) -> None:
    fakes.router_instance.on_set = _kill_self(1)
    result = run("deploy", write_plan(cli_env, FAST), "-o", "json")
    assert result.exit_code == 3, result.output
    assert json_lines(result.output)[-1]["phase"] == "aborted"
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}


def test_a_second_sigterm_leaves_the_rollout_for_rollback_with_exit_5(
    cli_env: Path, fakes: Any
) -> None:
    fakes.router_instance.on_set = _kill_self(2)
    result = run("deploy", write_plan(cli_env, FAST), "-o", "json")
    assert result.exit_code == 5, result.output
    last = json_lines(result.output)[-1]
    rollout_id = next(e["rollout_id"] for e in json_lines(result.output) if "rollout_id" in e)
    assert f"shipsafe rollback {rollout_id}" in last["message"]
    assert fakes.router_instance.weights["canary"] == 50  # left as it was
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers given back

    fakes.router_instance.on_set = None
    rolled_back = run("rollback", rollout_id, "--wait", "0")  # parked: taken over at once
    assert rolled_back.exit_code == 0, rolled_back.output
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}


def test_a_transaction_in_the_heartbeat_thread_neither_defers_nor_raises_a_second_signal() -> None:
    import threading

    state = Interrupts(Ticker())
    inside, leave = threading.Event(), threading.Event()
    raised_in_thread: list[BaseException] = []

    def heartbeat() -> None:
        try:
            with state.critical():
                inside.set()
                leave.wait(5)
        except BaseException as exc:  # pragma: no cover - the failure this test looks for
            raised_in_thread.append(exc)

    thread = threading.Thread(target=heartbeat)
    thread.start()
    inside.wait(5)
    state.on_signal(signal.SIGTERM)
    with pytest.raises(LeaveNow):  # the main thread is in no transaction: it leaves now
        state.on_signal(signal.SIGTERM)
    leave.set()
    thread.join(5)
    assert raised_in_thread == []
