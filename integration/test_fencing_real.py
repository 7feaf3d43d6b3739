"""Faults in the driver's own life, against the real rig (HAProxy over its runtime API):

- a kill-point sweep: SIGKILL at 24 points spread over a rollout and its rollback, each
  restored from a new process with `shipsafe rollback`, HAProxy equal to the snapshot;
- a signal sweep: SIGINT / SIGTERM / SIGHUP at 24 points, each ending rolled back (exit 3)
  with HAProxy equal to the snapshot;
- the lease-expiry split brain: a driver frozen past its lease, an on-call rollback taking
  over, the frozen driver woken: exactly one writer, HAProxy equal to the store.

Kill and signal points are counted in events: the process is hit as soon as it has printed
its k-th JSON line, so the points fall between (and, by the race of the pipe, inside) the
writes of a real rollout. Each test reads HAProxy itself, never the store alone.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from integration.rig import Rig
from integration.rig.waiting import wait_until
from integration.shipsafe_cli import Event, Running, ShipsafeCLI

pytestmark = pytest.mark.integration

SNAPSHOT = {"stable": 100, "canary": 0}
LEASE = "1.5"
STEPS = [
    {"setWeight": 10},
    {"pause": {"duration": "1s"}},
    {"setWeight": 30},
    {"setWeight": 50},
    {"pause": {"duration": "10m"}},
]


def quiet_plan(rig: Rig, name: str, steps: list[Any] = STEPS, **values: str) -> Path:
    """The quick-start plan with these steps; breakers measure every second but never trip
    (these tests are about the driver, not the release)."""
    plan = rig.plan(**values)
    for template in plan["analysis"].values():
        template["interval"] = "1s"
        template["failureLimit"] = 1000
    plan["steps"] = steps
    return rig.write_plan(plan, name=f"{name}.yaml")


def rollout_id(running: Running) -> str | None:
    for event in running.snapshot():
        if event.get("rollout_id"):
            return str(event["rollout_id"])
    return None


def hit_after(running: Running, count: int, sig: int, timeout: float = 30) -> Event:
    """Send `sig` as soon as the process has printed `count` events; the last one seen."""
    running.wait_for(lambda _e: len(running.snapshot()) >= count, f"{count} events", timeout)
    running.popen.send_signal(sig)
    return running.snapshot()[-1]


def phase_of(cli: ShipsafeCLI, rid: str) -> str:
    status = cli.run("status", rid, timeout=30)
    assert status.code == 0, status.transcript()
    return str(status.result.get("phase"))


# the kill-point sweep ----------------------------------------------------------------------
FORWARD_POINTS = [3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33]
ROLLBACK_POINTS = [0, 1, 2, 3, 4, 5, 6, 7]


def test_sigkill_at_24_points_each_restored_by_rollback_from_a_new_process(
    rig: Rig, tmp_path: Path
) -> None:
    deployer = ShipsafeCLI(tmp_path / "state.db", "deployer", {"SHIPSAFE_LEASE_SECONDS": LEASE})
    oncall = deployer.as_actor("oncall")
    plan = quiet_plan(rig, "kill-sweep")
    killed_mid_way: list[str] = []
    for point in [("forward", k) for k in FORWARD_POINTS] + [
        ("rollback", k) for k in ROLLBACK_POINTS
    ]:
        running = deployer.deploy(plan)
        if point[0] == "forward":
            last = hit_after(running, point[1], signal.SIGKILL)
        else:
            # a rollback under way: SIGTERM at the first weight, then SIGKILL inside it
            running.wait_for_type("weight_verified", timeout=30, weight=10)
            running.popen.send_signal(signal.SIGTERM)
            seen = len(running.snapshot())
            last = hit_after(running, seen + point[1], signal.SIGKILL)
        running.kill()
        rid = rollout_id(running)
        assert rid is not None, running.transcript()
        where = f"{point[0]} +{point[1]} after {last.get('type')}"
        if running.popen.returncode == -signal.SIGKILL:
            restored = oncall.run("rollback", rid, "--reason", "sweep", timeout=60)
            if restored.code == 2 and "it is aborted" in restored.transcript():
                pass  # the rollback had finished before the kill landed
            else:
                assert restored.code == 0, f"{where}:\n{restored.transcript()}"
                killed_mid_way.append(where)
        assert rig.haproxy.weights() == SNAPSHOT, where
        assert phase_of(oncall, rid) in ("rolled_back", "aborted"), where
    assert len(killed_mid_way) >= 20, killed_mid_way


# the signal sweep --------------------------------------------------------------------------
SIGNAL_POINTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 22, 24,
                 26, 28, 30]
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


def test_a_signal_at_24_points_always_ends_rolled_back_to_the_snapshot(
    rig: Rig, tmp_path: Path
) -> None:
    cli = ShipsafeCLI(tmp_path / "state.db", "deployer")
    plan = quiet_plan(rig, "signal-sweep")
    for i, count in enumerate(SIGNAL_POINTS):
        sig = SIGNALS[i % len(SIGNALS)]
        running = cli.deploy(plan)
        last = hit_after(running, count, sig)
        finished = running.wait(timeout=60)
        where = f"{sig.name} after event {count} ({last.get('type')})"
        assert finished.code == 3, f"{where}:\n{finished.transcript()}"
        assert finished.result["phase"] == "aborted", where
        assert rig.haproxy.weights() == SNAPSHOT, where
        if finished.of_type("snapshot_taken"):
            (taken,) = finished.of_type("snapshot_taken")
            assert taken["data"]["state"]["weights"] == SNAPSHOT


def test_a_second_signal_within_5s_leaves_the_rollout_for_rollback_and_says_so(
    rig: Rig, tmp_path: Path
) -> None:
    cli = ShipsafeCLI(tmp_path / "state.db", "deployer")
    running = cli.deploy(quiet_plan(rig, "two-signals"))
    running.wait_for_type("step_started", timeout=30, step=2, kind="pause")
    # the first one's rollback is quick: stop the process so both land before it runs
    running.popen.send_signal(signal.SIGSTOP)
    running.popen.send_signal(signal.SIGTERM)
    running.popen.send_signal(signal.SIGCONT)
    time.sleep(0.01)
    running.popen.send_signal(signal.SIGTERM)
    finished = running.wait(timeout=60)
    rid = finished.rollout_id if finished.code != 3 else None
    if finished.code == 3:
        pytest.skip("the rollback finished between the two signals on this machine")
    assert finished.code == 5, finished.transcript()
    assert f"shipsafe rollback {rid}" in finished.transcript()
    rolled_back = cli.as_actor("oncall").run("rollback", str(rid), timeout=60)
    assert rolled_back.code == 0, rolled_back.transcript()
    assert rig.haproxy.weights() == SNAPSHOT


# the lease-expiry split brain ---------------------------------------------------------------
def test_a_frozen_driver_taken_over_after_its_lease_writes_nothing_when_it_wakes(
    rig: Rig, tmp_path: Path
) -> None:
    lease = {"SHIPSAFE_LEASE_SECONDS": "3"}
    deployer = ShipsafeCLI(tmp_path / "state.db", "deployer", lease)
    oncall = deployer.as_actor("oncall")
    steps = [{"setWeight": 10}, {"pause": {"duration": "4s"}}, {"setWeight": 30},
             {"pause": {"duration": "10m"}}]
    running = deployer.deploy(quiet_plan(rig, "split-brain", steps))
    running.wait_for_type("step_started", timeout=30, step=2, kind="pause")
    running.popen.send_signal(signal.SIGSTOP)  # frozen mid-step: no heartbeat, no tick
    try:
        time.sleep(3.5)  # its lease runs out
        restored = oncall.run("rollback", str(rollout_id(running)), "--reason", "frozen",
                              timeout=60)
        assert restored.code == 0, restored.transcript()
        assert rig.haproxy.weights() == SNAPSHOT
        time.sleep(1.0)  # the frozen driver's pause is over: it would set 30% on waking
    finally:
        running.popen.send_signal(signal.SIGCONT)
    finished = running.wait(timeout=60)

    assert finished.code == 5, finished.transcript()
    assert "lost the lease" in finished.transcript()
    # exactly one writer: HAProxy as the store says, and nothing from the woken driver
    time.sleep(1.0)
    assert rig.haproxy.weights() == SNAPSHOT
    rid = str(rollout_id(running))
    status = oncall.run("status", rid, timeout=30)
    assert status.result["phase"] == "rolled_back", status.transcript()
    history = [e for e in status.events if e.get("kind") == "event"] or status.events
    taken = next(i for i, e in enumerate(history) if e.get("type") == "lock_taken_over")
    late = [e for e in history[taken:] if e.get("actor") == "deployer"]
    assert late == [], late
    assert not [e for e in history if (e.get("data") or {}).get("weight") == 30]


def test_a_step_that_outlasts_the_lease_keeps_it_and_a_rollback_goes_through_its_driver(
    rig: Rig, tmp_path: Path
) -> None:
    """The heartbeat, not the step, keeps the lease: HAProxy's socket refuses for three
    leases while the driver sets a weight; on-call's rollback is applied by that driver."""
    lease = {"SHIPSAFE_LEASE_SECONDS": "2"}
    deployer = ShipsafeCLI(tmp_path / "state.db", "deployer", lease)
    steps = [{"setWeight": 10}, {"pause": {"duration": "2s"}}, {"setWeight": 30},
             {"pause": {"duration": "10m"}}]
    plan = quiet_plan(rig, "slow-step", steps, RIG_HAPROXY_SOCKET=str(rig.gate.path))
    running = deployer.deploy(plan)
    running.wait_for_type("step_started", timeout=30, step=2, kind="pause")
    rig.gate.refuse_for(6.0)
    running.wait_for_type("step_started", timeout=30, step=3)
    time.sleep(2.5)  # longer than the lease, the weight still not set
    rolled_back = deployer.as_actor("oncall").run("rollback", str(rollout_id(running)),
                                                  timeout=60)
    assert rolled_back.code == 0, rolled_back.transcript()
    assert "applied by the running driver" in rolled_back.transcript()
    finished = running.wait(timeout=60)
    assert finished.code == 3, finished.transcript()
    assert not finished.of_type("lock_taken_over")
    wait_until(lambda: rig.haproxy.weights() == SNAPSHOT, "snapshot weights", 15, 0.2)
