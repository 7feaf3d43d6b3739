"""The CLI as users and agents run it: exit codes, one-line errors, JSON lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipsafe.cli.app import app
from shipsafe.clock import FakeClock
from shipsafe.store import default_state_dir
from tests.conftest import PLAN_HEAD
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter
from tests.support.trust_root import permissive_trust_root

runner = CliRunner()


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    """The CLI's provider registry answers with fakes (same instances for every process)."""
    providers = FakeProviders(FakeRouter(), FakeMetrics(0.001))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    return providers


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPSAFE_ACTOR", "ci-bot")
    monkeypatch.delenv("SHIPSAFE_STATE", raising=False)
    # these tests are about the CLI's mechanics; the guardrails have their own tests
    # (tests/guardrails/), so the trust root here signs an empty policy; ci-bot acts with
    # its CI key, bob is a human
    permissive_trust_root(tmp_path, monkeypatch)
    monkeypatch.delenv("SHIPSAFE_PARENT_ROLLOUT", raising=False)
    monkeypatch.delenv("CI", raising=False)
    # one fake clock for every "process" of the test: breaker warm-ups, evidence waits and
    # pauses pass in no time (real time here would be ~15 s a deploy)
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    return tmp_path


def write_plan(where: Path, steps: str, head: str = PLAN_HEAD) -> str:
    path = where / "plan.yaml"
    path.write_text(head + "breakers:\n  - analysis: error-rate\n" + steps)
    return str(path)


FAST = "steps:\n  - setWeight: 10\n  - setWeight: 50\n"


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_validate_accepts_a_good_plan_and_prints_its_digest(env: Path) -> None:
    result = run("validate", write_plan(env, FAST))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "digest sha256:" in result.output


def test_validate_rejects_a_bad_plan_with_exit_2_and_no_traceback(env: Path) -> None:
    result = run("validate", write_plan(env, "steps:\n  - setWeight: 500\n"))
    assert result.exit_code == 2
    assert "plan.yaml:" in result.output and "Traceback" not in result.output


def test_deploy_promotes_and_exits_0(env: Path, fakes: FakeProviders) -> None:
    result = run("deploy", write_plan(env, FAST))
    assert result.exit_code == 0, result.output
    assert "promoted" in result.output
    assert fakes.router_instance.weights == {"stable": 0, "canary": 100}
    assert (default_state_dir() / "state.db").exists()
    assert (default_state_dir() / "audit.jsonl").exists()


def test_deploy_that_trips_a_breaker_exits_3_and_says_what_tripped(
    env: Path, fakes: FakeProviders
) -> None:
    fakes.metrics_instance.answer = 0.25
    result = run("deploy", write_plan(env, FAST))
    assert result.exit_code == 3, result.output
    assert "breaker error-rate tripped" in result.output
    assert "0.25" in result.output and "result < 0.01" in result.output
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}


def test_json_output_is_one_event_per_line_and_ends_with_the_result(
    env: Path, fakes: FakeProviders
) -> None:
    result = run("deploy", write_plan(env, FAST), "--output", "json")
    assert result.exit_code == 0
    lines = json_lines(result.output)
    assert len(lines) == len(result.output.strip().splitlines())
    assert lines[0]["type"] == "rollout_created"
    assert lines[-1] == {
        "kind": "result",
        "rollout_id": lines[0]["rollout_id"],
        "phase": "succeeded",
        "exit_code": 0,
        "message": lines[-1]["message"],
    }


def test_detach_returns_4_at_an_approval_gate_and_approve_finishes_it(
    env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(env, "steps:\n  - setWeight: 10\n  - approval: {}\n  - setWeight: 50\n")
    result = run("deploy", plan, "--detach", "-o", "json")
    assert result.exit_code == 4
    rollout_id = json_lines(result.output)[0]["rollout_id"]
    assert fakes.router_instance.weights["canary"] == 10
    # another person approves from another shell, with their own (human) key
    monkeypatch.setenv("SHIPSAFE_ACTOR", "bob")
    monkeypatch.setenv("SHIPSAFE_KEY", str(env / "keys" / "bob.key"))
    result = run("approve", rollout_id)
    assert result.exit_code == 0, result.output
    assert fakes.router_instance.weights["canary"] == 100


def test_rollback_needs_only_the_store_not_the_plan_file(
    env: Path, fakes: FakeProviders
) -> None:
    plan = write_plan(env, "steps:\n  - setWeight: 10\n  - pause: {}\n")
    result = run("deploy", plan, "--detach", "-o", "json")
    assert result.exit_code == 4
    rollout_id = json_lines(result.output)[0]["rollout_id"]
    Path(plan).unlink()
    result = run("rollback", rollout_id, "--reason", "paged")
    assert result.exit_code == 0, result.output
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}
    status = run("status", rollout_id, "-o", "json")
    doc = json.loads(status.output)
    assert doc["rollout"]["phase"] == "rolled_back"
    assert "paged" in doc["rollout"]["runtime"]["rollback_message"]


def test_status_and_list_show_the_rollout(env: Path, fakes: FakeProviders) -> None:
    run("deploy", write_plan(env, FAST))
    listing = run("list")
    assert listing.exit_code == 0 and "checkout" in listing.output and "succeeded" in listing.output
    status = run("status", "checkout")
    assert status.exit_code == 0
    assert "succeeded" in status.output and "history" in status.output
    assert "snapshot" in status.output


def test_an_unknown_rollout_id_is_exit_2(env: Path, fakes: FakeProviders) -> None:
    run("deploy", write_plan(env, FAST))
    result = run("rollback", "nope-123")
    assert result.exit_code == 2
    assert "no rollout 'nope-123'" in result.output


def test_a_store_file_that_is_not_a_shipsafe_database_is_exit_2(
    env: Path, fakes: FakeProviders
) -> None:
    bogus = env / "bogus.db"
    bogus.write_text("hello, I am a text file")
    result = run("deploy", write_plan(env, FAST), "--state", str(bogus))
    assert result.exit_code == 2
    assert "not a shipsafe state store" in result.output
    assert fakes.router_instance.calls == []


def test_an_unreachable_router_at_preflight_changes_nothing_and_exits_2(
    env: Path, fakes: FakeProviders
) -> None:
    from shipsafe.errors import ProviderError

    fakes.router_instance.fail["check"] = ProviderError("haproxy runtime API /x unreachable")
    result = run("deploy", write_plan(env, FAST))
    assert result.exit_code == 2
    assert "preflight" in result.output and "unreachable" in result.output
    assert fakes.router_instance.calls == []


def test_audit_verify_passes_then_catches_an_edit(env: Path, fakes: FakeProviders) -> None:
    run("deploy", write_plan(env, FAST))
    assert run("audit", "verify").exit_code == 0
    log = default_state_dir() / "audit.jsonl"
    log.write_text(log.read_text().replace("ci-bot", "someone-else", 1))
    result = run("audit", "verify")
    assert result.exit_code == 5
    assert "altered" in result.output


def test_audit_verify_where_shipsafe_never_ran_is_a_usage_error_not_a_broken_chain(
    env: Path,
) -> None:
    result = run("audit", "verify")
    assert result.exit_code == 2, result.output
    assert "no audit log at" in result.output and "--state PATH" in result.output
    assert "Traceback" not in result.output


def test_audit_verify_of_a_store_whose_log_went_away_is_still_exit_5(
    env: Path, fakes: FakeProviders
) -> None:
    run("deploy", write_plan(env, FAST))
    (default_state_dir() / "audit.jsonl").unlink()
    assert run("audit", "verify").exit_code == 5


def test_schema_is_json_schema_of_the_plan(env: Path) -> None:
    """A valid Draft 2020-12 schema whose steps are exactly the step kinds the loader knows
    (tests/test_plan_schema.py validates the real plan files against it)."""
    import jsonschema

    from shipsafe.plan.steps import STEP_KINDS

    result = run("schema")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(doc)
    kinds = set()
    for ref in doc["properties"]["steps"]["items"]["oneOf"]:
        step = doc["$defs"][ref["$ref"].rsplit("/", 1)[-1]]
        assert step["additionalProperties"] is False and len(step["properties"]) == 1
        kinds |= set(step["properties"])
    assert kinds == set(STEP_KINDS)


def test_ci_and_agent_identities_are_recorded(
    env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the kind comes from the trust root's entry for the key, never from a flag or CI=true
    result = run("deploy", write_plan(env, FAST), "-o", "json")
    first = json_lines(result.output)[0]
    assert first["data"]["actor"]["kind"] == "ci"
    assert first["data"]["actor"]["key_id"].startswith("ed25519:")
    fakes.router_instance.weights = {"stable": 100, "canary": 0}  # a fresh target
    result = run("deploy", write_plan(env, FAST), "-o", "json", "--agent")
    assert result.exit_code == 0
    assert json_lines(result.output)[0]["data"]["actor"]["kind"] == "agent"  # only lowers
    fakes.router_instance.weights = {"stable": 100, "canary": 0}
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("SHIPSAFE_KEY", "")  # no key: CI=true or not, an unverified agent
    result = run("deploy", write_plan(env, FAST), "-o", "json", "--actor", "bob")
    assert result.exit_code == 0, result.output
    actor = json_lines(result.output)[0]["data"]["actor"]
    assert actor["kind"] == "agent" and actor["key_id"] is None and actor["id"] == "bob"


def test_a_deploy_refused_at_preflight_names_its_rollout_on_the_last_json_line(
    env: Path, fakes: FakeProviders
) -> None:
    from shipsafe.errors import ProviderError

    fakes.router_instance.fail["check"] = ProviderError("unreachable")
    result = run("deploy", write_plan(env, FAST), "-o", "json")
    assert result.exit_code == 2
    last = json_lines(result.output)[-1]  # every run ends with its result line
    assert last["kind"] == "result" and last["error"] == "preflight.failed"
    assert last["rollout_id"] == json_lines(result.output)[0]["rollout_id"]


def test_version_is_printed() -> None:
    """The version of the installed package, which is the one pyproject.toml declares."""
    import tomllib

    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    result = run("--version")
    assert result.exit_code == 0
    assert result.output == f"shipsafe {declared['project']['version']}\n"


def test_pausing_a_rollout_that_waits_at_an_approval_gate_is_refused(
    env: Path, fakes: FakeProviders
) -> None:
    plan = write_plan(env, "steps:\n  - setWeight: 10\n  - approval: {}\n")
    rollout_id = json_lines(run("deploy", plan, "--detach", "-o", "json").output)[0]["rollout_id"]
    result = run("pause", rollout_id, "-o", "json")
    # awaiting approval is already a wait for a human: pausing it is refused, exit 2
    assert result.exit_code == 2, result.output
    assert "cannot pause" in result.output


def test_a_store_that_fails_while_driving_exits_5_with_what_to_do(
    env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipsafe.errors import StoreError
    from shipsafe.store.sqlite import SQLiteStore

    real_save = SQLiteStore.save_rollout
    calls = {"n": 0}

    def flaky_save(self: SQLiteStore, record: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:  # start() saves once; the first tick cannot
            raise StoreError("database is locked")
        return real_save(self, record)

    monkeypatch.setattr(SQLiteStore, "save_rollout", flaky_save)
    result = run("deploy", write_plan(env, FAST))
    assert result.exit_code == 5, result.output
    assert "state store failed while driving" in result.output
    assert "shipsafe rollback" in result.output


def test_resume_watches_a_detached_rollout_and_its_breakers_until_a_human_acts(
    env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from shipsafe.clock import FakeClock

    clock = FakeClock(datetime.now(UTC))  # the breaker's 5 s interval passes in no time
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    plan = write_plan(env, "steps:\n  - setWeight: 10\n  - approval: {}\n")
    out = run("deploy", plan, "--detach", "-o", "json").output
    assert "breakers are not measured while nobody drives it" in json_lines(out)[-1]["message"]
    rollout_id = json_lines(out)[0]["rollout_id"]
    fakes.metrics_instance.answer = lambda q: 0.3 if "v2" in q else 0.0  # the canary fails
    result = run("resume", rollout_id, "-o", "json")
    assert result.exit_code == 3, result.output  # the watcher's breaker rolled it back
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}


def test_list_limit_below_one_is_a_usage_error_not_an_empty_list(
    env: Path, fakes: FakeProviders
) -> None:
    run("deploy", write_plan(env, FAST))
    refused = run("list", "--limit", "0")
    assert refused.exit_code == 2
    assert "no rollouts yet" not in refused.output
    assert run("list", "--limit", "1").exit_code == 0
