"""On-call rollback while the driver is frozen (SIGSTOP) inside a SQLite write transaction,
against the real rig (HAProxy over its runtime API; issue 9): the rollback restores HAProxy
from a read-only look at the store and exits 5 saying so; the driver, woken, moves no
traffic; the next command records the rollback."""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from integration.rig import Rig
from integration.shipsafe_cli import Running, ShipsafeCLI
from integration.test_fencing_real import SNAPSHOT, quiet_plan, rollout_id, status_of

pytestmark = pytest.mark.integration


def freeze_inside_a_transaction(running: Running, state: Path, attempts: int = 3000) -> int:
    """SIGSTOP the driver at a moment it holds the store's write lock (inside a write
    transaction). Returns how many tries it took."""
    for attempt in range(1, attempts + 1):
        running.popen.send_signal(signal.SIGSTOP)
        time.sleep(0.002)  # the stop has landed
        probe = sqlite3.connect(str(state), timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return attempt  # locked: frozen inside a write
        finally:
            probe.close()
        running.popen.send_signal(signal.SIGCONT)
        time.sleep(random.uniform(0.0, 0.01))
    raise AssertionError(f"the driver held no write lock in {attempts} freezes")


@pytest.mark.parametrize("first", ["before-the-first-weight", "after-10-percent"])
def test_rollback_while_the_driver_is_frozen_inside_a_write_then_the_driver_wakes(
    rig: Rig, tmp_path: Path, first: str
) -> None:
    state = tmp_path / "state.db"
    deployer = ShipsafeCLI(state, "deployer", {"SHIPSAFE_LEASE_SECONDS": "3"})
    oncall = deployer.as_actor("oncall")
    if first == "before-the-first-weight":
        # the pause outlasts the freezing (it may take a few hundred tries, seconds) and is
        # over when the driver wakes (the rollback alone waits 10 s for the store)
        steps = [{"pause": {"duration": "8s"}}, {"setWeight": 10}, {"pause": {"duration": "10m"}}]
        at_freeze = {"stable": 100, "canary": 0}
    else:
        steps = [{"setWeight": 10}, {"pause": {"duration": "8s"}}, {"setWeight": 30},
                 {"pause": {"duration": "10m"}}]
        at_freeze = None
    running = deployer.deploy(quiet_plan(rig, f"locked-{first}", steps))
    try:
        running.wait_for_type("step_started", timeout=30, step=1 if at_freeze else 2,
                              kind="pause")
        tries = freeze_inside_a_transaction(running, state)
        print(f"frozen inside a write transaction after {tries} tries")
        frozen_at = rig.haproxy.weights()
        assert frozen_at == (at_freeze or {"stable": 90, "canary": 10}), frozen_at
        try:
            started = time.monotonic()
            restored = oncall.run("rollback", str(rollout_id(running)), "--reason", "frozen",
                                  "-o", "human", timeout=90)
            took = time.monotonic() - started
            assert restored.code == 5, restored.transcript()
            text = restored.transcript()
            assert "router restored to the snapshot and verified" in text
            assert "locked by another process" in text and "recorded when the store" in text
            assert rig.haproxy.weights() == SNAPSHOT
            assert took < 30, took  # the busy timeout (10 s), then the restore
        finally:
            running.popen.send_signal(signal.SIGCONT)
        finished = running.wait(timeout=60)
    finally:
        running.kill()
    # woken, the driver stopped before writing HAProxy: by the journal (before its first
    # weight: it last verified 0%, as HAProxy reads now) or by the weight fence (exit 6)
    if at_freeze:
        assert finished.code == 5, finished.transcript()
        assert "while this store was locked" in finished.transcript()
    else:
        assert finished.code == 6, finished.transcript()
    time.sleep(1.0)
    assert rig.haproxy.weights() == SNAPSHOT
    set_after_freeze = [10] if at_freeze else [30]  # the weight it was about to set
    assert not [e for e in finished.events if e.get("type") == "weight_set"
                and (e.get("data") or {}).get("weight") in set_after_freeze]
    # the next command records the journaled rollback (after the woken driver's lease ran out)
    time.sleep(3.5)
    again = oncall.run("rollback", str(rollout_id(running)), timeout=60)
    assert again.code == 0, again.transcript()
    status = status_of(oncall, str(rollout_id(running)))
    assert status["rollout"]["phase"] == "rolled_back"
    assert any((e.get("data") or {}).get("locked_rollback") for e in status["events"])
    assert rig.haproxy.weights() == SNAPSHOT
    assert not list(tmp_path.glob("*.pending.jsonl")) or all(
        '"applied":true' in p.read_text() for p in tmp_path.glob("*.pending.jsonl"))
