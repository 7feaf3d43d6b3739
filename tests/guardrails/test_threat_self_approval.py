"""Threat: deployment without approval. Attacks: approving your own rollout, approving with
an agent's or a CI system's key, approving without a signature where signatures are
required, and counting one person twice."""

from __future__ import annotations

from shipsafe.store import default_state_dir
from tests.guardrails.conftest import World, result_line, rollout_id_of

GATED = """\
steps:
  - approval: {}
  - setWeight: 20
  - analysis: {templates: [error-rate]}
"""


def _waiting(world: World, steps: str = GATED) -> str:
    result = world.deploy(world.plan(steps), "--detach")
    assert result.exit_code == 4, result.output
    assert result_line(result)["phase"] == "awaiting_approval"
    return rollout_id_of(result)


def test_the_deployer_cannot_approve_their_own_rollout(world: World) -> None:
    rid = _waiting(world)
    result = world.approve(rid, "alice")  # alice started it, and signs with her own key
    assert result.exit_code == 2, result.output
    assert "nobody approves their own rollout" in result.output or "own identity" in result.output
    assert world.untouched()
    refused = world.audit("approval_refused", rid)
    assert len(refused) == 1
    assert "signed this rollout's deploy" in refused[0]["data"]["reason"]
    assert world.audit("approval_accepted", rid) == []


def test_the_deployer_under_another_name_is_still_the_deployer(world: World) -> None:
    # alice deploys with her key under the label of a pipeline, then approves as alice
    result = world.deploy(world.plan(GATED), "--detach", actor="deploy-pipeline",
                          env={"SHIPSAFE_KEY": world.key("alice")})
    rid = rollout_id_of(result)
    assert world.approve(rid, "alice").exit_code == 2
    assert world.untouched()
    reason = world.audit("approval_refused", rid)[0]["data"]["reason"]
    assert "signed this rollout's deploy" in reason  # the key, not the name, decides


def test_an_agent_key_cannot_approve(world: World) -> None:
    rid = _waiting(world)
    result = world.approve(rid, "robot")
    assert result.exit_code == 2
    assert world.untouched()
    reason = world.audit("approval_refused", rid)[0]["data"]["reason"]
    assert "agent key: only human keys approve" in reason


def test_a_ci_key_cannot_approve(world: World) -> None:
    rid = _waiting(world)
    assert world.approve(rid, "pipeline").exit_code == 2
    assert world.untouched()
    assert "ci key" in world.audit("approval_refused", rid)[0]["data"]["reason"]


def test_an_unsigned_approval_is_refused_where_signatures_are_required(world: World) -> None:
    rid = _waiting(world)
    # no key at all: just a name, anyone can type it (an unverified agent)
    result = world.run("approve", rid, actor="bob", env={"SHIPSAFE_KEY": ""})
    assert result.exit_code == 2
    assert world.untouched()
    reason = world.audit("approval_refused", rid)[0]["data"]["reason"]
    assert "every approval is signed" in reason and "unverified agent" in reason


def test_one_person_approving_twice_counts_once(world: World) -> None:
    rid = _waiting(world, GATED.replace("approval: {}", "approval: {count: 2}"))
    assert world.approve(rid, "bob").exit_code == 4  # 1 of 2: still waiting
    result = world.approve(rid, "bob")
    assert result.exit_code == 4  # the same person again: still 1 of 2
    assert "(1 of 2)" in result.output
    assert world.untouched()
    assert world.approve(rid, "carol").exit_code == 0
    assert world.router.weights == {"stable": 0, "canary": 100}


def test_a_trusted_human_other_than_the_deployer_approves_and_it_is_audited(
    world: World,
) -> None:
    rid = _waiting(world)
    result = world.approve(rid, "bob")
    assert result.exit_code == 0, result.output
    assert world.router.weights == {"stable": 0, "canary": 100}
    accepted = world.audit("approval_accepted", rid)
    assert accepted[0]["data"]["signer"] == "bob"
    assert accepted[0]["data"]["key_id"].startswith("ed25519:")
    # the private key never reaches the audit log
    private = (world.root / "keys" / "bob.key").read_text().splitlines()[1]
    assert private not in (default_state_dir() / "audit.jsonl").read_text()
