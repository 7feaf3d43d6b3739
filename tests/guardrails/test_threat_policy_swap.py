"""Threat: an agent (or a hurried human) hands deploy a permissive policy of its own.

The policy comes from the trust root, signed by its admins. A policy given on the command
line only adds rules; a copy pinned in the state store is verified against the admins'
keys on every read, and one that does not verify refuses every deploy; only a human with a
key in the root pins; an older signed copy never wins over a newer one. All audited.
"""

from __future__ import annotations

import json
import sqlite3

from shipsafe.store import default_state_dir
from tests.guardrails.conftest import PEOPLE, POLICY, World
from tests.support.trust_root import write_trust_root

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
    return world.run("policy", "pin", *args, actor=actor)


def _edit_pin(world: World, change: object) -> None:
    db = sqlite3.connect(default_state_dir() / "state.db")
    (raw,) = db.execute("SELECT value FROM meta WHERE key = 'pinned_policy'").fetchone()
    entry = json.loads(raw)
    change(entry)  # type: ignore[operator]
    db.execute("UPDATE meta SET value = ? WHERE key = 'pinned_policy'", (json.dumps(entry),))
    db.commit()
    db.close()


def test_a_permissive_policy_on_the_command_line_only_adds_rules(world: World) -> None:
    (world.root / "lax.yaml").write_text(PERMISSIVE)
    plan = world.plan(NO_APPROVAL)
    result = world.deploy(plan, "--policy", str(world.root / "lax.yaml"), actor="robot")
    assert result.exit_code == 2, result.output
    assert "requireApproval" in result.output  # the trust root's rule still applies
    assert world.untouched()
    (refused,) = world.audit("deploy_refused")
    assert refused["actor"] == "robot"


def test_a_pinned_policy_edited_in_the_store_refuses_every_deploy(world: World) -> None:
    assert _pin(world).exit_code == 0, world.run("policy", "pin").output

    def loosen(entry: dict[str, object]) -> None:
        entry["document"]["policy"] = json.loads(json.dumps(  # type: ignore[index]
            {"apiVersion": "shipsafe/v1", "kind": "Policy", "environments": {"*": {}}}))
        entry["document"]["serial"] = 99  # type: ignore[index]

    _edit_pin(world, loosen)
    result = world.deploy(world.plan(NO_APPROVAL), actor="robot")
    assert result.exit_code == 2, result.output
    assert "does not verify against the trust root" in result.output
    assert world.untouched()
    (refused,) = world.audit("deploy_refused")
    assert "does not verify" in refused["message"]
    shown = world.run("policy", "show")
    assert shown.exit_code == 2


def test_an_agent_key_added_to_the_pinned_keys_is_refused(world: World) -> None:
    assert _pin(world).exit_code == 0
    public = (world.root / "keys" / "mallory.pub").read_text().strip()

    def add_key(entry: dict[str, object]) -> None:
        entry["document"]["actors"].append(  # type: ignore[index]
            {"identity": "mallory", "kind": "human", "groups": ["release"], "publicKey": public})

    _edit_pin(world, add_key)
    result = world.deploy(world.plan(NO_APPROVAL), actor="robot")
    assert result.exit_code == 2
    assert world.untouched()
    assert world.audit("deploy_refused")


def test_an_agent_cannot_pin_a_policy(world: World) -> None:
    result = _pin(world, "robot")  # an agent key in the root
    assert result.exit_code == 6, result.output
    keyless = world.run("policy", "pin", actor="nobody")  # no key: an unverified agent
    assert keyless.exit_code == 6
    assert "unverified agent" in keyless.output
    refused = world.audit("policy_pin_refused")
    assert [r["actor"] for r in refused] == ["robot", "nobody"]
    assert world.audit("policy_pinned") == []


def test_a_newer_signed_pin_wins_and_an_older_one_never_does(world: World) -> None:
    stricter = POLICY.replace("maxFirstWeight: 25", "maxFirstWeight: 5")
    world.sign_root(policy=stricter)  # serial 1, strict
    assert _pin(world).exit_code == 0
    # the local root is replaced by an older-looking, laxer one: the pinned copy (same
    # serial) does not lose to it, and a laxer root with a lower serial cannot undo it
    write_trust_root(world.root, PERMISSIVE, PEOPLE, serial=1)
    plan = world.plan(NO_APPROVAL)
    checked = world.run("validate", plan)
    # same serial: the local root applies; this shows the pin is only trusted when signed
    assert checked.exit_code == 0, checked.output
    write_trust_root(world.root, stricter, PEOPLE, serial=2)
    assert _pin(world, "bob").exit_code == 0
    write_trust_root(world.root, PERMISSIVE, PEOPLE, serial=1)  # a replayed old root file
    checked = world.run("validate", plan)
    assert checked.exit_code == 2  # the newer pinned document (serial 2) applies
    assert "maxFirstWeight" in checked.output or "requireApproval" in checked.output


def test_a_pin_is_audited_with_the_document_it_replaced(world: World) -> None:
    assert _pin(world).exit_code == 0
    world.sign_root(policy=PERMISSIVE)
    assert _pin(world, "bob").exit_code == 0
    first, second = world.audit("policy_pinned")
    assert first["data"]["previous_digest"] is None
    assert second["data"]["previous_digest"] == first["data"]["digest"]
    assert second["actor"] == "bob"
    assert world.run("audit", "verify").exit_code == 0
