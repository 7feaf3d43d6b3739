"""On-call rollback while a driver is frozen inside a SQLite write transaction (issue 9):
the router is restored and verified from a read-only look at the store, the outcome waits in a
journal beside the store, the next command records it (audited) first, and the frozen driver,
thawed, moves no traffic."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shipsafe.cli.locked_rollback import restore_while_locked
from shipsafe.engine.control import start_deploy, submit_command
from shipsafe.engine.driver import drive
from shipsafe.errors import LeaseLost, StoreLocked
from shipsafe.records import CommandKind, Event, EventType, Phase
from shipsafe.store import default_state_dir
from shipsafe.store.pending_journal import PendingJournal
from shipsafe.store.sqlite import SQLiteStore
from tests.conftest import BOB, make_plan
from tests.fakes import FakeProviders, FakeRouter
from tests.test_cli import env, fakes, json_lines, run, write_plan  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shipsafe.store.sqlite.BUSY_TIMEOUT_SECONDS", 0.1)


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another process inside a write transaction (as a driver stopped by SIGSTOP is)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("COMMIT")
        conn.close()


# the CLI: exit 5 with one line, router restored; the next command records it --------------
def _paused_at_10(fakes: FakeProviders, env: Path) -> str:  # noqa: F811
    plan = write_plan(env, "steps:\n  - setWeight: 10\n  - pause: {}\n  - setWeight: 50\n")
    result = run("deploy", plan, "--detach", "-o", "json")
    assert result.exit_code == 4, result.output
    assert fakes.router_instance.weights["canary"] == 10
    return str(json_lines(result.output)[0]["rollout_id"])


def test_rollback_while_the_store_is_write_locked_restores_the_router_and_exits_5(
    env: Path, fakes: FakeProviders  # noqa: F811
) -> None:
    rollout_id = _paused_at_10(fakes, env)
    state = default_state_dir() / "state.db"
    with write_locked(state):
        result = run("rollback", rollout_id, "--reason", "paged at 3am")
    assert result.exit_code == 5, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1, result.output
    assert "router restored to the snapshot and verified" in lines[0]
    assert "is locked by another process" in lines[0]
    assert "will be recorded when the store is free" in lines[0]
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}
    (entry,) = PendingJournal.beside(state).entries()
    assert entry["state"] == "restored" and entry["rollout_id"] == rollout_id
    assert entry["last_verified_weight"] == 10 and entry["reason"] == "paged at 3am"
    with SQLiteStore.open(state, create=False) as store:  # nothing could be written
        assert store.get_rollout(rollout_id).phase == Phase.PAUSED


def test_the_next_command_records_the_journaled_rollback_first_and_audits_it(
    env: Path, fakes: FakeProviders  # noqa: F811
) -> None:
    rollout_id = _paused_at_10(fakes, env)
    state = default_state_dir() / "state.db"
    with write_locked(state):
        assert run("rollback", rollout_id).exit_code == 5
    # the next command is a deploy of the same service: the rollback is recorded first, and
    # the deploy then finds the lock free
    deployed = run("deploy", write_plan(env, "steps:\n  - setWeight: 10\n  - pause: {}\n"),
                   "--detach", "-o", "json")
    assert deployed.exit_code == 4, deployed.output
    with SQLiteStore.open(state, create=False) as store:
        record = store.get_rollout(rollout_id)
        events = store.events(rollout_id)
    assert record.phase == Phase.ROLLED_BACK
    assert "journaled rollback by ci-bot" in str(record.runtime.rollback_message)
    notice = next(e for e in events if (e.data or {}).get("locked_rollback"))
    assert "while the state store was locked" in notice.message
    assert PendingJournal.beside(state).entries() == []
    audit = [json.loads(x) for x in (state.parent / "audit.jsonl").read_text().splitlines()]
    mine = [r for r in audit if r.get("rollout_id") == rollout_id]
    recorded = next(r for r in mine if (r.get("data") or {}).get("locked_rollback"))
    assert "rollout_finished" in [r["type"] for r in mine if r["seq"] > recorded["seq"]]
    (result,) = [x for x in json_lines(deployed.output) if x["kind"] == "result"]
    new_id = result["rollout_id"]
    assert new_id != rollout_id
    assert all(x.get("rollout_id") == new_id for x in json_lines(deployed.output))
    created = next(r for r in audit if r.get("rollout_id") == new_id)
    assert recorded["seq"] < created["seq"]  # recorded before the deploy did anything
    assert run("audit", "verify").exit_code == 0


def test_rollback_again_once_the_store_is_free_records_it_and_exits_0(
    env: Path, fakes: FakeProviders  # noqa: F811
) -> None:
    rollout_id = _paused_at_10(fakes, env)
    with write_locked(default_state_dir() / "state.db"):
        assert run("rollback", rollout_id).exit_code == 5
    again = run("rollback", rollout_id)
    assert again.exit_code == 0, again.output
    assert "journaled rollback was recorded" in again.output
    assert "rolled_back" in again.output


def test_a_store_still_locked_leaves_the_journal_for_the_next_command(
    env: Path, fakes: FakeProviders  # noqa: F811
) -> None:
    rollout_id = _paused_at_10(fakes, env)
    state = default_state_dir() / "state.db"
    with write_locked(state):
        assert run("rollback", rollout_id).exit_code == 5
        second = run("rollback", rollout_id)  # still locked: journaled again, still exit 5
        assert second.exit_code == 5, second.output
        assert "still locked" in second.output
    assert len(PendingJournal.beside(state).entries()) == 2
    assert run("rollback", rollout_id).exit_code == 0
    assert PendingJournal.beside(state).entries() == []


# the frozen driver, thawed, moves no traffic ------------------------------------------------
PLAN = "steps:\n  - setWeight: 10\n  - pause: {duration: 5s}\n  - setWeight: 50\n"


def _on_call_while_locked(make_ctx: Any, store: SQLiteStore, rollout_id: str) -> str:
    """What `shipsafe rollback` does from another process while the store is write-locked."""
    oncall = SQLiteStore.open(store.path, create=False)
    try:
        ctx = make_ctx(BOB)
        ctx.store = oncall
        with write_locked(store.path):  # the driver, frozen inside a write transaction
            try:
                submit_command(ctx, rollout_id, CommandKind.ROLLBACK, wait_seconds=0)
            except StoreLocked as locked:
                return restore_while_locked(ctx, rollout_id, None, locked).message
        raise AssertionError("the store was not locked")
    finally:
        oncall.close()


def test_a_driver_frozen_before_its_first_weight_change_moves_no_traffic_once_thawed(
    make_ctx: Any, store: SQLiteStore, router: FakeRouter
) -> None:
    """The weight fence alone cannot tell the restored router (canary 0%) from a rollout
    that had not moved traffic yet (it last verified 0%): the journal tells it."""
    engine = start_deploy(make_ctx(), make_plan(PLAN))
    said: list[str] = []

    def frozen_at_the_weight_intent(event: Event) -> None:
        if event.type == EventType.WEIGHT_INTENT and not said:
            said.append(_on_call_while_locked(make_ctx, store, engine.record.id))

    engine.ctx.subscribers.append(frozen_at_the_weight_intent)
    with pytest.raises(LeaseLost, match=r"rolled back by bob.* while this store was locked"):
        drive(engine)
    assert "restored to the snapshot and verified" in said[0]
    assert ("set", 10) not in router.calls
    assert router.weights == {"stable": 100, "canary": 0}


def test_a_driver_frozen_after_verifying_a_weight_moves_no_traffic_once_thawed(
    make_ctx: Any, store: SQLiteStore, router: FakeRouter, clock: Any
) -> None:
    engine = start_deploy(make_ctx(), make_plan(PLAN))
    said: list[str] = []

    def frozen_in_the_pause(event: Event) -> None:
        if event.type == EventType.STEP_STARTED and engine.runtime.canary_weight == 10 \
                and not said:
            said.append(_on_call_while_locked(make_ctx, store, engine.record.id))

    engine.ctx.subscribers.append(frozen_in_the_pause)
    # thawed, its next traffic change reads the router first: canary 0%, not the 10% it
    # verified: stopped there (paused, exit 6), nothing written
    assert drive(engine) == Phase.PAUSED
    assert engine.runtime.pause_reason is not None
    assert engine.runtime.pause_reason.value == "target_changed"
    assert said and "verified" in said[0]
    sets = [c for c in router.calls if c[0] == "set"]
    assert sets == [("set", 10)]  # the first step, before the freeze; nothing after it
    assert router.weights == {"stable": 100, "canary": 0}


def test_without_the_journal_the_weight_fence_alone_stops_a_driver_past_its_first_weight(
    make_ctx: Any, store: SQLiteStore, router: FakeRouter
) -> None:
    """The other half of the argument: a restore the journal does not mention (its file
    lost) still stops a driver that had verified a weight above the snapshot's (exit 6)."""
    engine = start_deploy(make_ctx(), make_plan(PLAN))
    done: list[bool] = []

    def restored_behind_its_back(event: Event) -> None:
        if event.type == EventType.STEP_STARTED and engine.runtime.canary_weight == 10 \
                and not done:
            done.append(True)
            snapshot = store.get_snapshot(engine.record.id)
            assert snapshot is not None
            router.restore(snapshot.state)

    engine.ctx.subscribers.append(restored_behind_its_back)
    phase = drive(engine)
    assert phase == Phase.PAUSED and engine.runtime.pause_reason.value == "target_changed"
    assert [c for c in router.calls if c[0] == "set"] == [("set", 10)]


def test_the_journal_stops_the_epoch_it_names_and_older_never_a_later_takeover(
    tmp_path: Path,
) -> None:
    journal = PendingJournal.beside(tmp_path / "state.db")
    assert journal.pending_for("production/checkout", 7) is None  # no journal: nothing stops
    journal.append({"id": "a1", "rollout_id": "r1", "lock_key": "production/checkout",
                    "epoch": 7, "by": "bob", "state": "restoring"})
    journal.append({"id": "a1", "state": "restored"})
    assert journal.pending_for("production/checkout", 7)["state"] == "restored"  # type: ignore[index]
    assert journal.pending_for("production/checkout", 6) is not None
    assert journal.pending_for("production/checkout", 8) is None  # took the lock afterwards
    assert journal.pending_for("staging/checkout", 7) is None
    with journal.path.open("a") as fh:
        fh.write('{"id": "a2", "torn')  # killed mid-write: ignored, the rest still read
    journal.mark_applied("a1")
    assert journal.entries() == [] and journal.pending_for("production/checkout", 7) is None
