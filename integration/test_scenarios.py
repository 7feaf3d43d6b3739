"""End-to-end scenarios: the real `shipsafe` CLI against the rig.

Every check on traffic reads HAProxy itself over its runtime API (rig.haproxy.weights()),
never shipsafe's store; shipsafe is driven only through its command line and JSON lines.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from integration.rig import Rig
from integration.shipsafe_cli import Event, Finished, ShipsafeCLI

pytestmark = pytest.mark.integration

SNAPSHOT = {"stable": 100, "canary": 0}
PROMOTED = {"stable": 0, "canary": 100}


@pytest.fixture
def cli(tmp_path: Path) -> ShipsafeCLI:
    return ShipsafeCLI(tmp_path / "state.db", actor="deployer")


def write_plan(rig: Rig, name: str, steps: list[Any] | None = None, **values: str) -> Path:
    """plans/local-canary.yaml made concrete, with other steps when given."""
    plan = rig.plan(**values)
    if steps is not None:
        plan["steps"] = steps
    return rig.write_plan(plan, name=f"{name}.yaml")


def snapshot_weights(finished: Finished) -> dict[str, int]:
    (taken,) = finished.of_type("snapshot_taken")
    weights: dict[str, int] = taken["data"]["state"]["weights"]
    return weights


def tripped(finished: Finished) -> Event:
    trips = finished.of_type("breaker_tripped")
    assert trips, f"no breaker tripped:\n{finished.transcript()}"
    return trips[0]


def is_phase_change(to: str) -> Any:
    return lambda e: e.get("type") == "phase_changed" and (e.get("data") or {}).get("to") == to


# 1 ------------------------------------------------------------------------------------------
def test_good_release_is_promoted_and_haproxy_ends_at_0_100(rig: Rig, cli: ShipsafeCLI) -> None:
    mark = rig.load.now()
    finished = cli.deploy(write_plan(rig, "good")).wait(timeout=90)

    assert finished.code == 0, finished.transcript()
    assert finished.result["phase"] == "succeeded"
    assert rig.haproxy.weights() == PROMOTED
    weights_set = [e["data"]["weight"] for e in finished.of_type("weight_verified")]
    assert weights_set[:4] == [5, 25, 50, 100]
    tally = rig.load.tally(since=mark)
    assert tally.answers.get("canary", 0) > 0 and tally.total_errors == 0, str(tally)


# 2 ------------------------------------------------------------------------------------------
def test_canary_5xx_is_rolled_back_by_a_breaker_to_the_snapshot(rig: Rig, cli: ShipsafeCLI) -> None:
    before = rig.haproxy.weights()
    rig.canary.set_faults(error_share=0.3)

    finished = cli.deploy(write_plan(rig, "bad-5xx", RIG_RELEASE="1.2.0")).wait(timeout=60)

    assert finished.code == 3, finished.transcript()
    assert finished.result["phase"] == "rolled_back"
    # the built-in error-rate check (HAProxy's own counters, every 250 ms) catches it, as a
    # breaker or in the analysis step at 5%, whichever reads first
    cause = finished.result["message"]
    assert "error-rate" in cause and "does not meet result < 0.05" in cause, cause
    failed = [
        e["data"]["value"]
        for e in finished.of_type("measurement")
        if e["data"]["metric"] == "error-rate" and e["data"]["phase"] == "failed"
    ]
    assert failed and failed[-1] > 0.05
    assert rig.haproxy.weights() == before == snapshot_weights(finished) == SNAPSHOT
    assert (
        not finished.of_type("weight_verified")
        or max(e["data"]["weight"] for e in finished.of_type("weight_verified")) < 50
    ), "a 30% error canary should be caught early"


# 3 ------------------------------------------------------------------------------------------
def test_latency_regression_on_the_canary_is_rolled_back(rig: Rig, cli: ShipsafeCLI) -> None:
    rig.canary.set_faults(latency_ms=300)

    finished = cli.deploy(write_plan(rig, "slow", RIG_RELEASE="1.3.0")).wait(timeout=60)

    assert finished.code == 3, finished.transcript()
    # the analysis at 5% and the breakers (started 4 s after 5% was read back) both measure
    # latency-p95 every 2 s: whichever sees its second failure first rolls back
    (started,) = finished.of_type("rollback_started")
    assert started["reason"] in ("breaker_tripped", "analysis_failed")
    assert "latency-p95" in started["message"], finished.transcript()
    slow = [
        e for e in finished.of_type("measurement")
        if e["data"]["metric"] == "latency-p95" and e["data"]["phase"] == "failed"
    ]
    assert slow and all(e["data"]["value"] >= 0.25 for e in slow)
    assert rig.haproxy.weights() == snapshot_weights(finished) == SNAPSHOT


# 4 ------------------------------------------------------------------------------------------
def test_prometheus_stopped_mid_rollout_never_promotes_and_rolls_back(
    rig: Rig, cli: ShipsafeCLI
) -> None:
    steps = [{"setWeight": 10}, {"pause": {"duration": "20s"}}, {"setWeight": 100}]
    running = cli.deploy(write_plan(rig, "prom-stops", steps))
    running.wait_for_type("measurement", timeout=30, run="breakers", phase="successful")
    assert rig.haproxy.weights() == {"stable": 90, "canary": 10}

    rig.prometheus.stop()
    finished = running.wait(timeout=60)

    assert finished.code == 3, finished.transcript()
    assert finished.result["phase"] == "rolled_back"
    assert not finished.of_type("weight_verified") or all(
        e["data"]["weight"] <= 10 for e in finished.of_type("weight_verified")
    )
    errors = [
        e for e in finished.of_type("measurement") if (e.get("data") or {}).get("phase") == "error"
    ]
    assert len(errors) >= 5, finished.transcript()  # consecutiveErrorLimit 4 (default) + 1
    assert "consecutiveErrors" in tripped(finished)["message"]
    assert rig.haproxy.weights() == SNAPSHOT


# 5 ------------------------------------------------------------------------------------------
LEASE_SECONDS = 2.0


def start_and_kill_mid_step(rig: Rig, deployer: ShipsafeCLI) -> str:
    """Deploy, SIGKILL the deployer during its pause step at 10%; the rollout id."""
    steps = [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"setWeight": 100}]
    running = deployer.deploy(write_plan(rig, "killed", steps))
    started = running.wait_for_type("step_started", timeout=30, step=2, kind="pause")
    running.kill()  # SIGKILL: no handler runs, the lock lease is left to expire
    assert running.popen.returncode == -9
    assert rig.haproxy.weights() == {"stable": 90, "canary": 10}, "nobody restored yet"
    return str(started["rollout_id"])


def test_sigkill_mid_step_then_rollback_from_a_new_process(rig: Rig, tmp_path: Path) -> None:
    lease = {"SHIPSAFE_LEASE_SECONDS": str(LEASE_SECONDS)}
    deployer = ShipsafeCLI(tmp_path / "state.db", actor="deployer", env=lease)
    rollout_id = start_and_kill_mid_step(rig, deployer)
    # right away: the dead driver's lease is still live, so the rollback waits for it to run
    # out (nobody renews it any more) and then takes the rollout over
    oncall = deployer.as_actor("oncall")
    rolled_back = oncall.run("rollback", rollout_id, "--reason", "deployer died", timeout=60)
    assert rolled_back.code == 0, rolled_back.transcript()
    assert rig.haproxy.weights() == SNAPSHOT

    status = oncall.run("status", rollout_id, timeout=30)
    assert status.code == 0, status.transcript()
    history = status.transcript()
    assert "step 2/4: pause" in history  # the step that was interrupted ...
    assert not any(
        e.get("type") == "step_completed" and (e.get("data") or {}).get("step") == 2
        for e in status.events
    ), "... and never completed"
    assert "rolled_back" in history and "oncall" in history


# 6 ------------------------------------------------------------------------------------------
def test_refused_runtime_socket_is_retried_and_the_rollout_carries_on(
    rig: Rig, cli: ShipsafeCLI
) -> None:
    steps = [
        {"setWeight": 10},
        {"pause": {"duration": "2s"}},
        {"setWeight": 50},
        {"pause": {"duration": "2s"}},
        {"setWeight": 100},
    ]
    plan = write_plan(rig, "flaky-socket", steps, RIG_HAPROXY_SOCKET=str(rig.gate.path))
    running = cli.deploy(plan)
    running.wait_for_type("step_started", timeout=30, step=2, kind="pause")
    rig.gate.refuse_for(4.0)  # covers the setWeight 50 due in 2 s

    finished = running.wait(timeout=60)

    assert finished.code == 0, finished.transcript()
    assert rig.haproxy.weights() == PROMOTED
    (to_50,) = [e for e in finished.of_type("step_started") if e["data"]["step"] == 3]
    (set_50,) = [e for e in finished.of_type("weight_set") if e["data"]["weight"] == 50]
    waited = set_50["_seen"] - to_50["_seen"]
    assert waited >= 1.0, f"setWeight 50 took {waited:.2f}s: the refusal was not met"


# 7 ------------------------------------------------------------------------------------------
def test_two_deploys_of_one_service_at_once_one_runs_one_is_refused(
    rig: Rig, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    steps = [{"setWeight": 10}, {"pause": {"duration": "3s"}}, {"setWeight": 100}]
    plan = write_plan(rig, "twice", steps)
    first = ShipsafeCLI(state, actor="alice").deploy(plan)
    second = ShipsafeCLI(state, actor="bob").deploy(plan)
    results = {"alice": first.wait(timeout=60), "bob": second.wait(timeout=60)}

    codes = sorted(r.code for r in results.values())
    assert codes == [0, 6], "\n\n".join(r.transcript() for r in results.values())
    refused = next(r for r in results.values() if r.code == 6)
    assert not refused.of_type("weight_intent"), "the refused deploy touched the router"
    assert rig.haproxy.weights() == PROMOTED


# 8 ------------------------------------------------------------------------------------------
def test_approval_gate_holds_the_weight_until_approved_from_another_process(
    rig: Rig, cli: ShipsafeCLI
) -> None:
    steps = [{"setWeight": 10}, {"approval": {"name": "go-live"}}, {"setWeight": 100}]
    running = cli.deploy(write_plan(rig, "gated", steps))
    waiting = running.wait_for(is_phase_change("awaiting_approval"), "awaiting approval", 30)

    held_until = time.monotonic() + 3.0
    while time.monotonic() < held_until:  # observe the hold: the weight must not move
        assert rig.haproxy.weights() == {"stable": 90, "canary": 10}
        assert running.popen.poll() is None, running.transcript()
        time.sleep(0.2)

    # a person at another terminal: not a CI job, even when the tests run under CI=true
    # (only humans may approve)
    approver = cli.as_actor("approver")
    approved = approver.run("approve", waiting["rollout_id"], timeout=60, env={"CI": "false"})
    assert approved.code == 0, approved.transcript()
    finished = running.wait(timeout=60)

    assert finished.code == 0, finished.transcript()
    assert rig.haproxy.weights() == PROMOTED
    accepted = finished.of_type("approval_accepted")
    assert accepted and accepted[0]["data"]["by"] == "approver"
