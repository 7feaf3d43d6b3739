"""Threat: deployment without approval, by reusing a real approval. Attacks: an approval
replayed on another rollout, on a rollout whose plan was edited after it was signed, and on
another gate. The signature binds rollout id, plan digest, gate and expiry."""

from __future__ import annotations

import json
from pathlib import Path

from shipsafe.records import sha256_hex
from shipsafe.store import default_state_dir
from shipsafe.store.sqlite import SQLiteStore
from tests.guardrails.conftest import World, rollout_id_of

GATED = """\
steps:
  - approval: {}
  - setWeight: 20
  - analysis: {templates: [error-rate]}
"""


def _sign(world: World, rid: str, who: str = "bob", *extra: str) -> Path:
    result = world.run("approve", rid, "--key", world.key(who), "--sign-only", *extra, actor=who)
    assert result.exit_code == 0, result.output
    path = world.root / f"approval-{rid}.json"
    path.write_text(result.output.strip().splitlines()[-1])
    return path


def test_an_approval_replayed_on_another_rollout_is_refused(world: World) -> None:
    first = rollout_id_of(world.deploy(world.plan(GATED), "--detach"))
    stolen = _sign(world, first)
    # another service, so both can wait at their gates at once
    second_plan = world.plan(GATED, name="other.yaml", service="payments",
                             backend="payments")
    second = rollout_id_of(world.deploy(second_plan, "--detach"))
    result = world.run("approve", second, "--signed", str(stolen), actor="alice")
    assert result.exit_code == 2, result.output
    assert world.untouched()
    reason = world.audit("approval_refused", second)[0]["data"]["reason"]
    assert f"signed for rollout {first}" in reason and "not transferable" in reason


def test_an_approval_for_a_plan_edited_after_signing_is_refused(world: World) -> None:
    rid = rollout_id_of(world.deploy(world.plan(GATED), "--detach"))
    signed = _sign(world, rid)
    # the deployer edits the stored plan (straight to 100%) and fixes up its digest
    store = SQLiteStore.open(default_state_dir() / "state.db")
    record = store.get_rollout(rid)
    record.plan["steps"] = [{"approval": {"count": 1}}, {"setWeight": {"weight": 100}}]
    record.plan_digest = sha256_hex(record.plan)
    store.save_rollout(record)
    store.close()
    result = world.run("approve", rid, "--signed", str(signed), actor="alice")
    assert result.exit_code == 2
    assert world.untouched()
    # refused before the approval is even looked at: the deploy's signature covers the plan
    (refused,) = world.audit("command_refused", rid)
    assert "signature no longer covers" in refused["message"]
    assert world.audit("approval_accepted", rid) == []


def test_an_edited_plan_without_a_fixed_digest_is_refused_too(world: World) -> None:
    rid = rollout_id_of(world.deploy(world.plan(GATED), "--detach"))
    signed = _sign(world, rid)
    store = SQLiteStore.open(default_state_dir() / "state.db")
    record = store.get_rollout(rid)
    record.plan["steps"] = [{"approval": {"count": 1}}, {"setWeight": {"weight": 100}}]
    store.save_rollout(record)  # digest left as it was
    store.close()
    assert world.run("approve", rid, "--signed", str(signed), actor="alice").exit_code == 2
    assert world.untouched()
    assert "record was edited" in world.audit("command_refused", rid)[0]["message"]


def test_an_approval_of_one_gate_does_not_open_another(world: World) -> None:
    rid = rollout_id_of(world.deploy(world.plan(GATED), "--detach"))
    signed = _sign(world, rid, "bob", "--gate", "gate-9")
    assert json.loads(signed.read_text())["payload"]["gate"] == "gate-9"
    result = world.run("approve", rid, "--signed", str(signed), "--gate", "gate-1", actor="bob")
    assert result.exit_code == 2
    assert world.untouched()
    assert "signed for gate gate-9, not gate-1" in (
        world.audit("approval_refused", rid)[0]["data"]["reason"]
    )


def test_the_honest_signed_approval_handed_over_works(world: World) -> None:
    rid = rollout_id_of(world.deploy(world.plan(GATED), "--detach"))
    signed = _sign(world, rid)
    result = world.run("approve", rid, "--signed", str(signed), actor="oncall-carol")
    assert result.exit_code == 0, result.output
    assert world.router.weights == {"stable": 0, "canary": 100}
    assert world.audit("approval_accepted", rid)[0]["data"]["signer"] == "bob"
