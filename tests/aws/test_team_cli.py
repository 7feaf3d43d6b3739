"""Teams, through the CLI: a CloudWatch ALARMS() breaker names the alarm that fired; the last
notification says the outcome in words; a command waiting on a live driver's lease says so
and counts down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipsafe.cli.app import app
from shipsafe.clock import FakeClock
from shipsafe.providers.registry import Registry
from shipsafe.store import open_store
from tests.aws.worlds import put_alarm
from tests.conftest import PLAN_HEAD
from tests.fakes import FakeMetrics, FakeRouter
from tests.support.trust_root import permissive_trust_root
from tests.test_cli import json_lines
from tests.test_notify import hook_server

__all__ = ["hook_server"]
runner = CliRunner()

ALARM_PLAN = PLAN_HEAD.split("metricSources:")[0] + """\
metricSources:
  cw: {provider: cloudwatch}
analysis:
  alarms:
    source: cw
    query: ALARMS(checkout-5xx, checkout-latency)
    successCondition: result == 0
    interval: 5s
breakers:
  - analysis: alarms
steps:
  - setWeight: 10
  - pause: {duration: 30s}
  - setWeight: 50
"""


class RealCloudWatchFakeRouter:
    """The CLI's providers: CloudWatch on moto, a fake router whose first weight change
    makes the canary's 5xx alarm fire."""

    def __init__(self, fire: Any) -> None:
        self.router_instance = FakeRouter()
        self.router_instance.on_set = lambda weight: fire() if weight > 0 else None

    def router(self, name: str, config: dict[str, Any]) -> FakeRouter:
        return self.router_instance

    def metric_source(self, name: str, config: dict[str, Any]) -> Any:
        return Registry().metric_source(name, config)

    def data_snapshot(self, name: str, config: dict[str, Any]) -> Any:
        raise AssertionError("no data snapshots here")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPSAFE_ACTOR", "ci-bot")
    permissive_trust_root(tmp_path, monkeypatch)
    for var in ("SHIPSAFE_STATE", "SHIPSAFE_PARENT_ROLLOUT", "CI", "SHIPSAFE_AUDIT_S3"):
        monkeypatch.delenv(var, raising=False)
    # the breaker's warm-up and interval pass in no time (real time here: ~10 s a deploy)
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    return tmp_path


def test_an_alarms_breaker_names_the_alarm_that_fired(aws: Any, cli_env: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    put_alarm(aws, "checkout-5xx", "OK")
    put_alarm(aws, "checkout-latency", "OK")
    providers = RealCloudWatchFakeRouter(lambda: put_alarm(aws, "checkout-5xx", "ALARM"))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    clock = FakeClock(datetime.now(UTC))  # the pause and the breaker's interval, at once
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    plan = cli_env / "plan.yaml"
    plan.write_text(ALARM_PLAN)
    result = runner.invoke(app, ["deploy", str(plan)])
    assert result.exit_code == 3, result.output
    assert "breaker alarms tripped" in result.output
    assert "(in ALARM: checkout-5xx)" in result.output
    assert "checkout-latency" not in result.output.split("breaker alarms tripped")[1]


def test_the_last_slack_message_says_rolled_back(
    cli_env: Path, hook_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FakeProviders

    providers = FakeProviders(FakeRouter(), FakeMetrics(0.3))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    plan = cli_env / "plan.yaml"
    plan.write_text(
        PLAN_HEAD + "breakers:\n  - analysis: error-rate\n"
        f"notifications:\n  - webhook: {{url: '{hook_server.url}/slack', format: slack}}\n"
        "steps:\n  - setWeight: 10\n"
    )
    result = runner.invoke(app, ["deploy", str(plan)])
    assert result.exit_code == 3, result.output
    last = hook_server.received[-1][1]["text"]
    assert last.startswith(":leftwards_arrow_with_hook: *production/checkout 2.4.0*")
    assert "*rolled back: breaker error-rate tripped" in last


def test_a_command_waiting_on_a_live_lease_says_so_and_counts_down(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FakeProviders

    providers = FakeProviders(FakeRouter(), FakeMetrics(0.001))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    plan = cli_env / "plan.yaml"
    plan.write_text(PLAN_HEAD + "breakers:\n  - analysis: error-rate\n"
                    "steps:\n  - setWeight: 10\n  - pause: {}\n")
    deployed = runner.invoke(app, ["deploy", str(plan), "--detach", "-o", "json"])
    assert deployed.exit_code == 4, deployed.output
    rollout_id = json_lines(deployed.output)[0]["rollout_id"]
    # a driver on another machine took it, then died: its lease has 13 s left
    store = open_store(None, create=False)
    try:
        record = store.get_rollout(rollout_id)
        store.acquire_lock(record.lock_key, rollout_id, "deployer@ci-7", clock.now(), 13)
    finally:
        store.close()
    started = clock.now()
    result = runner.invoke(app, ["rollback", "checkout", "--reason", "paged"])
    assert result.exit_code == 0, result.output
    waits = [line for line in result.output.splitlines() if line.startswith("waiting for")]
    assert waits[0].startswith(
        f"waiting for deployer@ci-7, which drives {rollout_id}, to act on rollback: its lease "
        "runs out in 13s"
    )
    counted = [int(line.split("runs out in ")[1].split("s")[0]) for line in waits]
    assert counted == [13, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert (clock.now() - started) >= timedelta(seconds=13)
    assert providers.router_instance.weights == {"stable": 100, "canary": 0}
