"""Threat: deployment without approval, with a key that should not count. Attacks: a key
not in the trust root, a trust file of one's own given to the deploy, an expired approval,
an approval valid for longer than the policy allows, a forged (altered) approval."""

from __future__ import annotations

import json
from pathlib import Path

from tests.guardrails.conftest import World, rollout_id_of

GATED = """\
steps:
  - approval: {}
  - setWeight: 20
  - analysis: {templates: [error-rate]}
"""


def _waiting(world: World) -> str:
    result = world.deploy(world.plan(GATED), "--detach")
    assert result.exit_code == 4, result.output
    return rollout_id_of(result)


def _sign(world: World, rid: str, who: str, *extra: str) -> Path:
    result = world.run("approve", rid, "--key", world.key(who), "--sign-only", *extra, actor=who)
    assert result.exit_code == 0, result.output
    path = world.root / "approval.json"
    path.write_text(result.output.strip().splitlines()[-1])
    return path


def test_an_untrusted_key_is_refused(world: World) -> None:
    rid = _waiting(world)
    result = world.approve(rid, "mallory")
    assert result.exit_code == 2
    assert world.untouched()
    reason = world.audit("approval_refused", rid)[0]["data"]["reason"]
    assert "is not in the trust root" in reason


def test_a_trust_file_given_to_the_deploy_adds_no_key(world: World) -> None:
    public = (world.root / "keys" / "mallory.pub").read_text().strip()
    own = world.root / "own-trust.yaml"
    own.write_text(
        "apiVersion: shipsafe/v1\nkind: Trust\napprovers:\n"
        f'  - {{identity: mallory, kind: human, groups: [release], publicKey: "{public}"}}\n'
    )
    result = world.deploy(world.plan(GATED), "--detach", "--trust", str(own))
    # --trust only narrows the root's keys: none of the root's is left, so nobody could
    # approve and the deploy is refused before anything changes
    assert result.exit_code == 2, result.output
    assert "requireApproval.signed" in result.output
    assert world.untouched()
    assert world.audit("deploy_refused")


def test_an_expired_approval_is_refused(world: World) -> None:
    rid = _waiting(world)
    signed = _sign(world, rid, "bob", "--expires", "5m")
    world.clock.advance(600)  # it sat in a chat for ten minutes
    result = world.run("approve", rid, "--signed", str(signed), actor="bob")
    assert result.exit_code == 2
    assert world.untouched()
    assert "expired at" in world.audit("approval_refused", rid)[0]["data"]["reason"]


def test_an_approval_valid_for_longer_than_the_policy_allows_is_refused(world: World) -> None:
    rid = _waiting(world)
    assert world.approve(rid, "bob", "--expires", "30d").exit_code == 2
    assert world.untouched()
    assert "longer than" in world.audit("approval_refused", rid)[0]["data"]["reason"]


def test_an_altered_approval_does_not_verify(world: World) -> None:
    rid = _waiting(world)
    signed = _sign(world, rid, "bob", "--expires", "5m")
    doc = json.loads(signed.read_text())
    doc["payload"]["expires_at"] = "2099-01-01T00:00:00+00:00"  # stretch it
    signed.write_text(json.dumps(doc))
    world.clock.advance(600)
    assert world.run("approve", rid, "--signed", str(signed), actor="bob").exit_code == 2
    assert world.untouched()
    reason = world.audit("approval_refused", rid)[0]["data"]["reason"]
    assert "does not verify" in reason and "forged or altered" in reason


def test_a_group_gate_refuses_a_trusted_human_outside_the_group(world: World) -> None:
    plan = world.plan(GATED.replace("approval: {}", "approval: {group: release}"))
    rid = rollout_id_of(world.deploy(plan, "--detach"))
    assert world.approve(rid, "carol").exit_code == 2  # trusted, human, but not in release
    assert world.untouched()
    assert "needs an approver from group release" in (
        world.audit("approval_refused", rid)[0]["data"]["reason"]
    )
    assert world.approve(rid, "bob").exit_code == 0
