"""CI as a user: --set and ${VAR} in named fields only, --timeout, status --watch exit codes,
--summary (and $GITHUB_STEP_SUMMARY) and --junit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipsafe.clock import FakeClock
from tests.conftest import PLAN_HEAD
from tests.fakes import FakeProviders
from tests.test_cli import FAST, json_lines, run, write_plan


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    return clock


def created(output: str) -> dict:
    return next(line for line in json_lines(output) if line.get("type") == "rollout_created")


def test_set_gives_the_version_and_the_digest_covers_it(env: Path, fakes: FakeProviders) -> None:
    plan = write_plan(env, FAST)
    plain = run("validate", plan, "-o", "json")
    result = run("deploy", plan, "--set", "release.version=9.9.9",
                 "--set", "metadata.labels.commit=abc123", "-o", "json")
    assert result.exit_code == 0, result.output
    event = created(result.output)
    assert event["data"]["version"] == "9.9.9"
    assert event["data"]["substitutions"] == [
        "release.version=9.9.9 (--set)", "metadata.labels.commit=abc123 (--set)"
    ]
    assert event["data"]["plan_digest"] != json.loads(plain.output)["digest"]
    shown = run("validate", plan, "--set", "release.version=9.9.9")
    assert "with release.version=9.9.9 (--set)" in shown.output


def test_set_refuses_fields_a_pipeline_may_not_set(env: Path, fakes: FakeProviders) -> None:
    result = run("deploy", write_plan(env, FAST), "--set", "analysis.error-rate.query=up")
    assert result.exit_code == 2
    assert "not a field a pipeline may set" in result.output
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}


def test_environment_variables_expand_in_named_fields_only(
    env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = PLAN_HEAD.replace('release: {version: "2.4.0"}', 'release: {version: "${VERSION}"}')
    head = head.replace('query: errors{server="{{canary}}"}',
                        'query: errors{server="{{canary}}",x="${VERSION}"}')
    plan = write_plan(env, FAST, head=head)
    missing = run("validate", plan)
    assert missing.exit_code == 2
    assert "plan.yaml:4: release.version: ${VERSION} is not set" in missing.output
    monkeypatch.setenv("VERSION", "3.1.4")
    result = run("deploy", plan, "-o", "json")
    assert result.exit_code == 0, result.output
    event = created(result.output)
    assert event["data"]["version"] == "3.1.4"
    assert event["data"]["substitutions"] == ["release.version=3.1.4 (from ${VERSION})"]
    errors = [q for q in fakes.metrics_instance.queries if q.startswith("errors")]
    assert errors and all('x="${VERSION}"' in q for q in errors)  # never inside a query


def test_deploy_timeout_rolls_back_and_exits_3(
    env: Path, fakes: FakeProviders, clock: FakeClock
) -> None:
    plan = write_plan(env, "steps:\n  - setWeight: 10\n  - pause: {duration: 1h}\n")
    result = run("deploy", plan, "--timeout", "10m")
    assert result.exit_code == 3, result.output
    assert "--timeout 10m ran out" in result.output
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}
    assert result.output.count("ran out") >= 1


def test_status_watch_exits_3_after_a_rollback(env: Path, fakes: FakeProviders) -> None:
    fakes.metrics_instance.answer = 0.25
    rolled = run("deploy", write_plan(env, FAST), "-o", "json")
    assert rolled.exit_code == 3
    result = run("status", "checkout", "--watch")
    assert result.exit_code == 3, result.output
    assert "rolled_back" in result.output or "aborted" in result.output


def test_status_watch_timeout_exits_4_and_changes_nothing(
    env: Path, fakes: FakeProviders, clock: FakeClock
) -> None:
    plan = write_plan(env, "steps:\n  - setWeight: 10\n  - approval: {}\n")
    assert run("deploy", plan, "--detach").exit_code == 4
    before = clock.now()
    result = run("status", "checkout", "--watch", "--timeout", "2m", "-o", "json")
    assert result.exit_code == 4, result.output
    final = json_lines(result.output)[-1]
    assert final["kind"] == "result" and final["phase"] == "awaiting_approval"
    assert 120 <= (clock.now() - before).total_seconds() < 122
    assert fakes.router_instance.weights["canary"] == 10


def test_summary_and_junit_say_what_tripped(
    env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    step_summary = env / "step-summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    fakes.metrics_instance.answer = 0.25
    result = run("deploy", write_plan(env, FAST), "--summary", "s.md", "--junit", "j.xml")
    assert result.exit_code == 3
    summary = (env / "s.md").read_text()
    assert "checkout 2.4.0 → production: rolled back" in summary
    assert "**Cause:** breaker error-rate tripped" in summary
    assert step_summary.read_text() == "earlier step\n" + summary
    suite = ET.parse(env / "j.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("failures") == "2"
    failed = {c.get("name") for c in suite if c.find("failure") is not None}
    # 10% was read back (step 1 done); step 2 held 10% waiting for breaker evidence and the
    # breaker tripped there, 10 s (the warm-up) after 10% was read back
    assert failed == {"2. setWeight 50%", "error-rate"}
    skipped = {c.get("name") for c in suite if c.find("skipped") is not None}
    assert skipped == {"3. promote"}


def test_a_rollback_run_as_a_ci_step_leaves_its_summary_and_junit(
    env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The on-call rollback (or resume, promote, approve) run as a pipeline step writes the
    same files deploy does, with the outcome the command left."""
    started = run("deploy", write_plan(env, "steps:\n  - setWeight: 10\n  - pause: {}\n"),
                  "--detach", "-o", "json")
    assert started.exit_code == 4, started.output
    rid = created(started.output)["rollout_id"]
    step_summary = env / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result = run("rollback", rid, "--reason", "pager", "--summary", "s.md", "--junit", "j.xml")
    assert result.exit_code == 0, result.output
    summary = (env / "s.md").read_text()
    assert "checkout 2.4.0 → production: rolled back" in summary
    assert rid in summary
    assert step_summary.read_text() == summary
    suite = ET.parse(env / "j.xml").getroot()
    assert suite.tag == "testsuite"
    assert {c.get("name") for c in suite if c.find("skipped") is not None} >= {"3. promote"}
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}
