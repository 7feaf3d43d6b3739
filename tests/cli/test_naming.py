"""Naming a rollout by id, unique prefix or SERVICE [--env ENV]; `status` alone lists what is
active; -h, examples and shell completion everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from shipsafe.cli.app import app
from tests.conftest import PLAN_HEAD
from tests.fakes import FakeProviders
from tests.test_cli import json_lines, run, runner

GATE = "steps:\n  - setWeight: 10\n  - approval: {}\n  - setWeight: 50\n"
FAST = "steps:\n  - setWeight: 10\n  - setWeight: 50\n"


def plan_for(where: Path, service: str, environment: str, steps: str) -> str:
    head = PLAN_HEAD.replace(
        "metadata: {name: checkout, service: checkout, environment: production}",
        f"metadata: {{name: {service}, service: {service}, environment: {environment}}}",
    )
    path = where / f"{service}-{environment}.yaml"
    path.write_text(head + "breakers:\n  - analysis: error-rate\n" + steps)
    return str(path)


def deploy(plan: str, *flags: str) -> str:
    result = run("deploy", plan, "-o", "json", *flags)
    assert result.exit_code in (0, 4), result.output
    return str(json_lines(result.output)[0]["rollout_id"])


@pytest.fixture
def two_checkouts(env: Path, fakes: FakeProviders) -> tuple[str, str]:
    """checkout in staging (promoted), then checkout in production (waiting at a gate)."""
    staging = deploy(plan_for(env, "checkout", "staging", FAST))
    fakes.router_instance.weights = {"stable": 100, "canary": 0}  # one fake router for both
    production = deploy(plan_for(env, "checkout", "production", GATE), "--detach")
    return staging, production


def test_a_service_names_its_active_rollout(two_checkouts: tuple[str, str]) -> None:
    _, production = two_checkouts
    result = run("status", "checkout")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(production)


def test_a_service_with_env_names_the_latest_rollout_there_when_none_is_active(
    two_checkouts: tuple[str, str],
) -> None:
    staging, _ = two_checkouts
    result = run("status", "checkout", "--env", "staging")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(staging)


def test_a_service_unknown_in_that_env_is_a_one_line_error(
    two_checkouts: tuple[str, str],
) -> None:
    result = run("status", "checkout", "--env", "qa")
    assert result.exit_code == 2
    assert "no rollout of service 'checkout' in environment 'qa'" in result.output


def test_a_unique_prefix_names_the_rollout(two_checkouts: tuple[str, str]) -> None:
    staging, production = two_checkouts
    prefix = next(
        staging[:n] for n in range(len(staging)) if not production.startswith(staging[:n])
    )
    result = run("status", prefix)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(staging)


def test_an_ambiguous_prefix_exits_2_listing_the_candidates(
    two_checkouts: tuple[str, str],
) -> None:
    staging, production = two_checkouts
    result = run("rollback", "checkout-")
    assert result.exit_code == 2, result.output
    assert "prefix of 2 rollouts" in result.output
    assert staging in result.output and production in result.output
    result = run("rollback", "checkout-", "-o", "json")
    errors = json_lines(result.output)
    assert errors[0]["error"] == "rollout.ambiguous"
    assert errors[-1]["kind"] == "result" and errors[-1]["exit_code"] == 2


def test_control_verbs_take_a_service_and_env(
    two_checkouts: tuple[str, str], fakes: FakeProviders
) -> None:
    _, production = two_checkouts
    result = run("rollback", "checkout", "--env", "production", "--reason", "p99 up")
    assert result.exit_code == 0, result.output
    assert production in result.output and "rolled_back" in result.output
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}


def test_status_alone_lists_only_the_active_rollouts(two_checkouts: tuple[str, str]) -> None:
    staging, production = two_checkouts
    result = run("status")
    assert result.exit_code == 0, result.output
    assert production in result.output and staging not in result.output
    run("abort", production)
    result = run("status")
    assert "no rollout is active now" in result.output and production in result.output


def _commands(group: Any, path: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer ships its own click)
            found += _commands(command, f"{path}{name} ")
        else:
            found.append((f"{path}{name}", command))
    return found


def test_every_command_answers_dash_h_and_its_help_ends_with_examples() -> None:
    group = typer.main.get_command(app)
    commands = _commands(group)
    assert len(commands) >= 15
    for path, _ in commands:
        result = runner.invoke(app, [*path.split(), "-h"])
        assert result.exit_code == 0, (path, result.output)
        tail = result.output.rstrip().split("Examples:")
        assert len(tail) == 2, f"{path}: no examples in its help"
        assert all(
            line.strip().startswith("shipsafe ") for line in tail[1].strip().splitlines()
        ), path


def test_shell_completion_offers_services_and_ids(two_checkouts: tuple[str, str]) -> None:
    staging, production = two_checkouts
    result = runner.invoke(
        app,
        [],
        prog_name="shipsafe",
        env={"_SHIPSAFE_COMPLETE": "complete_bash", "COMP_WORDS": "shipsafe rollback che",
             "COMP_CWORD": "2"},
    )
    assert result.exit_code == 0, result.output
    assert result.output.split()[0] == "checkout"  # the service first, then its ids
    assert sorted(result.output.split()[1:]) == sorted([staging, production])
    result = runner.invoke(
        app,
        [],
        prog_name="shipsafe",
        env={"_SHIPSAFE_COMPLETE": "complete_bash",
             "COMP_WORDS": "shipsafe status checkout-", "COMP_CWORD": "2"},
    )
    assert sorted(result.output.split()) == sorted([staging, production])
