"""Judge checks against the real rig: Kayenta mode over Prometheus range queries, and
`shipsafe replay` of the same window fetched back from Prometheus."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from integration.rig import Rig
from integration.shipsafe_cli import ShipsafeCLI

pytestmark = pytest.mark.integration

MEDIAN = (
    "histogram_quantile(0.5, sum by (le) "
    '(rate(demo_request_duration_seconds_bucket{{server="{{{{{side}}}}}"}}[6s])))'
)


@pytest.fixture
def cli(tmp_path: Path) -> ShipsafeCLI:
    return ShipsafeCLI(tmp_path / "state.db", actor="deployer")


def judge_plan(rig: Rig, name: str) -> Path:
    """The quick-start plan (its Prometheus checks) with one more check: the canary's median
    latency judged against the stable server's by Kayenta's rules (critical: a High fails
    the judgement)."""
    plan: dict[str, Any] = rig.plan()
    # replay answers from recorded Prometheus data: the quick-start plan's built-in error
    # rate reads HAProxy's live counters, which a recording does not hold, so this plan's
    # breaker is the Prometheus latency one alone
    del plan["analysis"]["error-rate"]
    plan["breakers"] = [{"analysis": "latency-p95"}]
    plan["analysis"]["vs-stable"] = {
        "source": "prom",
        "interval": "4s",
        "count": 2,
        "initialDelay": "8s",
        "judge": {
            "mode": "kayenta",
            "step": "1s",
            "lookback": "8s",
            "metrics": [
                {
                    "name": "median-latency",
                    "canary": MEDIAN.format(side="canary"),
                    "baseline": MEDIAN.format(side="stable"),
                    "direction": "increase",
                    "critical": True,
                    "effectSize": {"allowedIncrease": 1.5},
                }
            ],
        },
    }
    plan["steps"] = [
        {"setWeight": 25},
        {"analysis": {"templates": ["vs-stable"]}},
        {"setWeight": 50},
    ]
    return rig.write_plan(plan, name=f"{name}.yaml")


def test_a_canary_as_fast_as_stable_passes_the_judge(rig: Rig, cli: ShipsafeCLI) -> None:
    finished = cli.deploy(judge_plan(rig, "judge-good"), "-o", "json").wait(timeout=120)
    assert finished.code == 0, finished.transcript()
    judged = [e for e in finished.of_type("measurement") if e["data"]["metric"] == "vs-stable"]
    assert [e["data"]["phase"] for e in judged] == ["successful", "successful"]
    assert all(e["data"]["value"] == 100.0 for e in judged)


def test_a_slower_canary_is_rolled_back_by_the_judge_and_replay_agrees(
    rig: Rig, cli: ShipsafeCLI, tmp_path: Path
) -> None:
    # 40 ms on every canary answer: well under the p95 breaker's 250 ms, far over stable
    rig.canary.set_faults(latency_ms=40)
    plan = judge_plan(rig, "judge-slow")
    finished = cli.deploy(plan, "-o", "json").wait(timeout=120)
    ended = time.time()
    assert finished.code == 3, finished.transcript()
    assert finished.result["phase"] == "rolled_back"
    judged = [e for e in finished.of_type("measurement") if e["data"]["metric"] == "vs-stable"]
    assert judged and judged[-1]["data"]["phase"] == "failed"
    assert "median-latency: High (critical)" in judged[-1]["message"]
    assert not finished.of_type("breaker_tripped")  # the judge caught it, not a threshold

    # replay from the moment the live canary had its traffic: the recording before that
    # holds no canary answers, which a replay starting earlier would judge instead
    (verified,) = [e for e in finished.of_type("weight_verified") if e["data"]["weight"] == 25]
    started = datetime.fromisoformat(verified["time"].replace("Z", "+00:00")).timestamp()
    window = ["--from", f"{started:.0f}", "--to", f"{ended + 1:.0f}"]
    time.sleep(2)  # let the last scrape land
    capture = str(tmp_path / "capture.json")
    replayed = cli.run("replay", str(plan), *window, "--save", capture, "-o", "json", timeout=120)
    assert replayed.code == 0, replayed.transcript()
    assert replayed.result["phase"] == "rolled_back", replayed.transcript()
    failed = [
        e
        for e in replayed.of_type("measurement")
        if e["data"]["metric"] == "vs-stable" and e["data"]["phase"] == "failed"
    ]
    assert failed, replayed.transcript()
    # the capture replays offline, to the same outcome
    again = cli.run("replay", str(plan), *window, "--capture", capture, "-o", "json", timeout=120)
    assert again.result["phase"] == "rolled_back", again.transcript()
