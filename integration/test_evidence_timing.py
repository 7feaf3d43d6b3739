"""Timing and evidence against the real HAProxy rig: a pause after a slow weight change lasts
its whole duration from the read-back, and consecutive setWeight steps each wait for breaker
evidence at their own weight (one traffic change per tick).

Times come from the events shipsafe prints (its own clock); weights are read from HAProxy.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from integration.rig import Rig
from integration.shipsafe_cli import Event, Finished, ShipsafeCLI

pytestmark = pytest.mark.integration

PROMOTED = {"stable": 0, "canary": 100}


@pytest.fixture
def cli(tmp_path: Path) -> ShipsafeCLI:
    return ShipsafeCLI(tmp_path / "state.db", actor="deployer")


def at(event: Event) -> datetime:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00"))


def verified(finished: Finished, weight: int) -> Event:
    return next(e for e in finished.of_type("weight_verified") if e["data"]["weight"] == weight)


def intent(finished: Finished, weight: int) -> Event:
    return next(e for e in finished.of_type("weight_intent") if e["data"]["weight"] == weight)


def plan_with(
    rig: Rig, name: str, steps: list[Any], breakers: list[Any] | None = None, **values: str
) -> Path:
    plan = rig.plan(**values)
    plan["steps"] = steps
    if breakers is not None:
        plan["breakers"] = breakers
    return rig.write_plan(plan, name=f"{name}.yaml")


def test_a_pause_after_a_slow_weight_change_lasts_its_full_duration_from_the_read_back(
    rig: Rig, cli: ShipsafeCLI
) -> None:
    steps = [
        {"setWeight": 10},
        {"pause": {"duration": "1s"}},
        {"setWeight": 20},
        {"pause": {"duration": "3s"}},
        {"setWeight": 30},
        {"analysis": {"templates": ["error-rate"]}},
    ]
    # the breaker and the analysis read Prometheus, not the runtime API that is refused
    # (the built-in error rate reads HAProxy's counters over that same socket)
    plan = plan_with(
        rig, "slow-router", steps, RIG_HAPROXY_SOCKET=str(rig.gate.path),
        breakers=[{"analysis": "latency-p95"}],
    )
    running = cli.deploy(plan)
    running.wait_for_type("step_started", timeout=30, step=2, kind="pause")
    # HAProxy's runtime API refuses connections for 8 s from the pause on: setWeight 20 (due
    # once the breaker has evidence at 10%, a few seconds from now) cannot be read before,
    # nor sent, nor read back until it answers again
    rig.gate.refuse()
    try:
        time.sleep(8.0)
    finally:
        reopened = datetime.now(UTC)
        rig.gate.accept()
    finished = running.wait(timeout=90)

    assert finished.code == 0, finished.transcript()
    assert rig.haproxy.weights() == PROMOTED
    sent_20, read_20 = intent(finished, 20), verified(finished, 20)
    assert at(read_20) >= reopened and at(read_20) >= at(sent_20)
    # ...and the refusal was met: the router (read before every change) failed while it refused
    refused = [
        e for e in finished.of_type("provider_error")
        if at(e) < reopened and (e.get("data") or {}).get("provider") == "router"
    ]
    assert refused, "the refusal was not met: " + " ".join(
        sorted({e["type"] for e in finished.events})
    )
    (pause,) = [e for e in finished.of_type("step_started") if e["data"]["step"] == 4]
    until = datetime.fromisoformat(pause["data"]["until"])
    assert until >= at(pause), "step_started.until is in the past"
    assert (until - at(read_20)).total_seconds() >= 3.0
    # the pause lasted its 3 s from the read-back of 20%, however long 20% took to set
    assert (at(intent(finished, 30)) - at(read_20)).total_seconds() >= 3.0


def test_consecutive_weight_steps_each_get_breaker_evidence_at_their_own_weight(
    rig: Rig, cli: ShipsafeCLI
) -> None:
    steps = [{"setWeight": 5}, {"setWeight": 10}, {"setWeight": 15}]
    finished = cli.deploy(plan_with(rig, "weights-in-a-row", steps)).wait(timeout=90)

    assert finished.code == 0, finished.transcript()
    assert rig.haproxy.weights() == PROMOTED
    measured = finished.of_type("measurement")
    for held, nxt in [(5, 10), (10, 15), (15, 100)]:
        read_back, moved = at(verified(finished, held)), at(intent(finished, nxt))
        for metric in ("error-rate", "latency-p95"):  # both breakers, each at this weight
            evidence = [
                e for e in measured
                if e["data"]["metric"] == metric and e["data"]["weight"] == held
                and e["data"]["phase"] == "successful" and read_back <= at(e) <= moved
            ]
            assert evidence, f"{nxt}% was set without {metric} evidence at {held}%"
        # the plan's initialDelay (4 s) counts from the read-back of each weight
        assert (moved - read_back).total_seconds() >= 4.0
