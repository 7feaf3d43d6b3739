"""Bypasses 1 and 2 of issue 10: a trust file of the agent's own, a self-declared kind, and
a human approving their own rollout under another name."""

from __future__ import annotations

import json

from tests.attacks.conftest import Site, rollout_id

GATED = "steps:\n  - approval: {}\n  - setWeight: 100\n"


def _waiting(site: Site) -> str:
    """A production rollout waiting at its gate, started by the agent (no key)."""
    done = site.agent("deploy", site.plan(GATED), "--detach")
    assert done.returncode == 4, done.stdout + done.stderr
    assert site.untouched()
    return rollout_id(done)


def test_the_agent_deploys_where_the_policy_allows_agents(site: Site) -> None:
    # the control: the harness works, and an agent may deploy to staging on its own
    done = site.agent("deploy", site.plan("steps:\n  - setWeight: 100\n",
                                          environment="staging"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert site.weight() == 100
    (created,) = site.audit("rollout_created")
    actor = created["data"]["actor"]
    assert actor["kind"] == "agent" and actor["key_id"] is None


def test_an_own_trust_file_with_an_own_human_key_approves_nothing(site: Site) -> None:
    mallory = site.give_agent("mallory")  # a key the agent made, not in the trust root
    public = (site.keys / "mallory.pub").read_text().strip()
    own = site.work / "trust.yaml"
    site.agent_python(
        f"open({str(own)!r}, 'w').write('apiVersion: shipsafe/v1\\nkind: Trust\\napprovers:\\n"
        f"  - {{identity: mallory, kind: human, groups: [release], publicKey: \"{public}\"}}\\n')"
    )
    # given to the deploy, it only narrows the root's keys: to none, so nobody could approve
    refused = site.agent("deploy", site.plan(GATED), "--trust", str(own))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "requireApproval.signed" in refused.stdout
    assert site.untouched()
    assert site.audit("deploy_refused")
    # and the agent's key approves nothing, whatever trust file is in the environment
    rid = _waiting(site)
    approved = site.agent("approve", rid, "--key", str(mallory), env={"SHIPSAFE_TRUST": str(own)})
    assert approved.returncode == 2, approved.stdout + approved.stderr
    assert site.untouched()
    (narrowed,) = site.audit("command_refused")  # its trust file leaves no key to approve with
    assert "requireApproval.signed" in narrowed["message"]
    approved = site.agent("approve", rid, "--key", str(mallory))
    assert approved.returncode == 2, approved.stdout + approved.stderr
    assert site.untouched()
    (why,) = site.audit("approval_refused")
    assert "not in the trust root" in why["data"]["reason"]
    assert site.audit("approval_accepted") == []


def test_an_agent_leaving_out_agent_is_still_an_agent(site: Site) -> None:
    # it cannot pin a policy ...
    pin = site.agent("policy", "pin", "--actor", "bob")
    assert pin.returncode == 6, pin.stdout + pin.stderr
    (refused_pin,) = site.audit("policy_pin_refused")
    assert refused_pin["data"]["by"]["kind"] == "agent"
    # ... nor declare an emergency (which would skip the approval gate) ...
    emergency = site.agent("deploy", site.plan(GATED), "--emergency", "--reason",
                           "checkout is down for everyone", "--actor", "bob")
    assert emergency.returncode == 2, emergency.stdout + emergency.stderr
    assert "unverified agent" in emergency.stdout
    assert site.untouched()
    (refused,) = site.audit("deploy_refused")
    assert [f["rule"] for f in refused["data"]["findings"]] == ["emergency.verified"]
    # ... nor approve as "bob" without bob's key
    rid = _waiting(site)
    approved = site.agent("approve", rid, "--actor", "bob")
    assert approved.returncode == 2
    assert site.untouched()
    (why,) = site.audit("approval_refused")
    assert "unverified agent" in why["data"]["reason"]


def test_the_agents_own_agent_key_cannot_approve(site: Site) -> None:
    key = site.give_agent("robot")
    rid = _waiting(site)
    approved = site.agent("approve", rid, env={"SHIPSAFE_KEY": str(key)})
    assert approved.returncode == 2
    assert site.untouched()
    assert "only human keys approve" in site.audit("approval_refused")[0]["data"]["reason"]


def test_a_human_deploying_under_a_pipelines_name_cannot_approve_it(site: Site) -> None:
    bob = site.give_agent("bob")  # bob works through this account with his key
    done = site.agent("deploy", site.plan(GATED), "--detach", "--actor", "deploy-pipeline",
                      env={"SHIPSAFE_KEY": str(bob)})
    assert done.returncode == 4, done.stdout + done.stderr
    rid = rollout_id(done)
    approved = site.agent("approve", rid, "--actor", "bob", env={"SHIPSAFE_KEY": str(bob)})
    assert approved.returncode == 2
    assert site.untouched()
    (why,) = site.audit("approval_refused")
    assert "bob signed this rollout's deploy" in why["data"]["reason"]
    created = site.audit("rollout_created")[-1]["data"]["actor"]
    assert created["id"] == "deploy-pipeline" and created["identity"] == "bob"
    # alice, another human, can
    assert site.human("alice", "approve", rid).returncode == 0
    assert site.weight() == 100
    assert json.dumps(site.audit("approval_accepted")[0]["data"]["signer"]) == '"alice"'
