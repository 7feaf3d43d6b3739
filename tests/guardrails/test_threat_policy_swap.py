"""Threat: an agent (or a hurried human) hands deploy a permissive policy of its own.

Once a human pins the organisation's policy into the state store, every deploy against that
store obeys it: another --policy or SHIPSAFE_POLICY is refused before anything changes, an
agent cannot re-pin, and every pin and refusal is in the audit log.
"""

from __future__ import annotations

from tests.guardrails.conftest import World

NO_APPROVAL = """\
steps:
  - setWeight: 10
  - analysis: {templates: [error-rate]}
  - setWeight: 50
"""

PERMISSIVE = """\
apiVersion: shipsafe/v1
kind: Policy
environments:
  "*": {}
"""


def _pin(world: World, actor: str = "alice", *args: str) -> object:
    return world.run("policy", "pin", str(world.root / "policy.yaml"), *args, actor=actor)


def test_a_permissive_policy_is_refused_once_the_real_one_is_pinned(
    world: World, monkeypatch: object
) -> None:
    assert _pin(world).exit_code == 0
    (world.root / "lax.yaml").write_text(PERMISSIVE)
    plan = world.plan(NO_APPROVAL)
    result = world.deploy(plan, "--policy", str(world.root / "lax.yaml"), actor="robot",
                          env={"SHIPSAFE_AGENT": "1"})
    assert result.exit_code == 2, result.output
    assert "not the one pinned in the state store" in result.output
    assert world.untouched()
    (refused,) = world.audit("deploy_refused")
    assert refused["actor"] == "robot" and "pinned" in refused["message"]


def test_the_pinned_policy_applies_when_none_is_given(world: World, monkeypatch: object) -> None:
    assert _pin(world).exit_code == 0
    monkeypatch.delenv("SHIPSAFE_POLICY")  # type: ignore[attr-defined]
    checked = world.run("validate", world.plan(NO_APPROVAL))
    assert checked.exit_code == 2 and "requireApproval" in checked.output
    result = world.deploy(world.plan(NO_APPROVAL), actor="robot", env={"SHIPSAFE_AGENT": "1"})
    assert result.exit_code == 2, result.output
    assert world.untouched()


def test_an_agent_cannot_pin_a_policy(world: World) -> None:
    (world.root / "lax.yaml").write_text(PERMISSIVE)
    result = world.run("policy", "pin", str(world.root / "lax.yaml"), actor="robot",
                       env={"SHIPSAFE_AGENT": "1"})
    assert result.exit_code == 6, result.output
    shown = world.run("policy", "show")
    assert "no policy pinned" in shown.output
    (refused,) = world.audit("policy_pin_refused")
    assert refused["actor"] == "robot"


def test_a_pin_is_audited_with_the_policy_it_replaced(world: World) -> None:
    assert _pin(world).exit_code == 0
    (world.root / "lax.yaml").write_text(PERMISSIVE)
    assert world.run("policy", "pin", str(world.root / "lax.yaml"), actor="bob").exit_code == 0
    first, second = world.audit("policy_pinned")
    assert first["data"]["previous_digest"] is None
    assert second["data"]["previous_digest"] == first["data"]["digest"]
    assert second["actor"] == "bob"
    assert world.run("audit", "verify").exit_code == 0
