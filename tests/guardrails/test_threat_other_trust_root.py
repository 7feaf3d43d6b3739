"""Threat: the agent points SHIPSAFE_TRUST_ROOT at another valid root-owned root on the
machine (a staging root listing its key as human, a root a test left behind). Where the
machine's default root exists, the environment may name only that file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.guardrails.conftest import PEOPLE, World, result_line, rollout_id_of
from tests.support.trust_root import write_trust_root

GATED = """\
steps:
  - approval: {}
  - setWeight: 20
  - analysis: {templates: [error-rate]}
"""

LAX = 'apiVersion: shipsafe/v1\nkind: Policy\nenvironments: {"*": {}}\n'


@pytest.fixture
def default_root(world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The world's root is this machine's default root (never the real /etc)."""
    path = world.root / "trust-root.yaml"
    monkeypatch.setattr("shipsafe.trust.root.DEFAULT_ROOT", str(path))
    return path


def _staging_root(world: World) -> Path:
    """Another valid root-owned root, signed by the same admin, where robot is human."""
    people = {**PEOPLE, "robot": ("human", ["release"])}
    return write_trust_root(world.root, LAX, people, path=world.root / "staging" / "trust.yaml")


def test_deploy_naming_another_root_is_refused_while_the_default_exists(
    world: World, default_root: Path
) -> None:
    staging = _staging_root(world)
    result = world.deploy(world.plan(GATED), "--detach", actor="robot",
                          env={"SHIPSAFE_TRUST_ROOT": str(staging)})
    assert result.exit_code == 2, result.output
    assert str(staging) in result.output and str(default_root) in result.output
    assert "Traceback" not in result.output
    assert world.untouched()


def test_approve_naming_a_root_that_lists_the_agent_as_human_is_refused(
    world: World, default_root: Path
) -> None:
    waiting = world.deploy(world.plan(GATED), "--detach", actor="alice")
    assert waiting.exit_code == 4, waiting.output
    rid = rollout_id_of(waiting)
    staging = _staging_root(world)
    result = world.run("approve", rid, "--key", world.key("robot"), actor="robot",
                       env={"SHIPSAFE_TRUST_ROOT": str(staging)})
    assert result.exit_code == 2, result.output
    assert str(staging) in result.output and str(default_root) in result.output
    assert world.audit("approval_accepted", rid) == []
    assert world.untouched()


def test_naming_the_default_root_itself_works(world: World, default_root: Path) -> None:
    link = world.root / "link-to-default.yaml"
    link.symlink_to(default_root)
    for named in (str(default_root), str(link)):
        result = world.deploy(world.plan(GATED), "--detach",
                              env={"SHIPSAFE_TRUST_ROOT": named})
        assert result.exit_code == 4, result.output
        assert result_line(result)["phase"] == "awaiting_approval"
        world.run("abort", rollout_id_of(result), "--reason", "next one")


def test_without_a_default_root_the_environment_may_name_any_root_owned_root(
    world: World,
) -> None:
    assert not os.path.lexists(world.root / "no-default-root")  # the world's DEFAULT_ROOT
    staging = _staging_root(world)
    result = world.deploy(world.plan(GATED), "--detach", actor="robot",
                          env={"SHIPSAFE_TRUST_ROOT": str(staging)})
    assert result.exit_code == 4, result.output  # as today: the named root is used
    assert result_line(result)["phase"] == "awaiting_approval"
    assert "by robot (human)" in result.output  # staging's entry for robot's key


def test_trust_show_with_an_explicit_root_stays_available_to_admins(
    world: World, default_root: Path
) -> None:
    staging = _staging_root(world)
    shown = world.run("trust", "show", "--root", str(staging))
    assert shown.exit_code == 0, shown.output
    assert str(staging) in shown.output
    refused = world.run("trust", "show", env={"SHIPSAFE_TRUST_ROOT": str(staging)})
    assert refused.exit_code == 2, refused.output
