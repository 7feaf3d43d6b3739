"""Threat: cascading deployment failures. Attacks: a deploy started from inside another
deploy past the chain-depth limit (or with a parent this store does not know), and one
rollout too many in an environment. Every command shipsafe runs carries
SHIPSAFE_PARENT_ROLLOUT, so a deploy started by a migration or a router command knows."""

from __future__ import annotations

import json
import sys

from shipsafe.store import default_state_dir
from shipsafe.store.sqlite import SQLiteStore
from tests.guardrails.conftest import World, result_line, rollout_id_of

STEPS = """\
steps:
  - approval: {}
  - setWeight: 20
  - analysis: {templates: [error-rate]}
"""


def _started(world: World, service: str, parent: str | None = None) -> str:
    env = {"SHIPSAFE_PARENT_ROLLOUT": parent} if parent else None
    result = world.deploy(world.plan(STEPS, name=f"{service}.yaml", service=service,
                                     backend=service),
                          "--detach", env=env)
    assert result.exit_code == 4, result.output
    rid = rollout_id_of(result)
    assert world.run("abort", rid).exit_code == 0  # it only has to exist as a parent
    return rid


def _parent_of(world: World, rid: str) -> str | None:
    store = SQLiteStore.open(default_state_dir() / "state.db")
    try:
        return store.get_rollout(rid).parent_id
    finally:
        store.close()


def test_a_child_deploy_records_its_parent(world: World) -> None:
    parent = _started(world, "api")
    result = world.deploy(world.plan(STEPS), "--detach",
                          env={"SHIPSAFE_PARENT_ROLLOUT": parent})
    assert result.exit_code == 4  # depth 1: allowed, at the plan's own gate
    rid = rollout_id_of(result)
    assert _parent_of(world, rid) == parent
    assert world.audit("rollout_created", rid)[0]["data"]["parent"] == parent
    assert world.audit("policy_evaluated", rid)[0]["data"]["gates"] == []


def test_a_chain_past_the_depth_limit_needs_a_human_checkpoint(world: World) -> None:
    grandparent = _started(world, "api")
    parent = _started(world, "worker", grandparent)
    world.router.calls.clear()
    result = world.deploy(world.plan(STEPS), "--detach",
                          env={"SHIPSAFE_PARENT_ROLLOUT": parent}, actor="robot")
    assert result.exit_code == 4
    rid = rollout_id_of(result)
    assert "cascade-checkpoint" in result_line(result)["message"]
    assert world.untouched()
    evaluated = world.audit("policy_evaluated", rid)[0]
    assert evaluated["data"]["gates"] == ["cascade-checkpoint"]
    assert "2 deep" in evaluated["data"]["findings"][0]["message"]
    assert world.approve(rid, "robot").exit_code == 2  # the agent cannot wave itself through
    assert world.untouched()
    assert world.approve(rid, "bob", "--gate", "cascade-checkpoint").exit_code == 4
    assert world.untouched()  # now at the plan's own gate, still before any traffic


def test_a_parent_unknown_to_the_store_counts_as_too_deep(world: World) -> None:
    result = world.deploy(world.plan(STEPS), "--detach",
                          env={"SHIPSAFE_PARENT_ROLLOUT": "somewhere-else-123"})
    assert result.exit_code == 4
    rid = rollout_id_of(result)
    assert world.untouched()
    finding = world.audit("policy_evaluated", rid)[0]["data"]["findings"][0]
    assert finding["rule"] == "maxChainDepth" and "not in this state store" in finding["message"]


def test_one_rollout_too_many_in_an_environment_is_refused(world: World) -> None:
    for service in ("api", "worker"):
        plan = world.plan(STEPS, name=f"{service}.yaml", service=service, backend=service)
        assert world.deploy(plan, "--detach").exit_code == 4
    result = world.deploy(world.plan(STEPS))
    assert result.exit_code == 6
    assert "allows 2 at once" in result.output
    assert world.untouched()
    refused = world.audit("deploy_refused")[-1]
    assert refused["data"]["findings"][0]["rule"] == "maxConcurrentRollouts"


def test_commands_shipsafe_runs_carry_the_rollout_as_parent(world: World) -> None:
    db = world.root / "app.db"
    db.write_bytes(b"data")
    probe = json.dumps(
        [sys.executable, "-c",
         "import os; print('parent=' + os.environ['SHIPSAFE_PARENT_ROLLOUT'])"]
    )
    steps = f"""\
dataSnapshots:
  db: {{provider: file, path: {db}}}
steps:
  - approval: {{}}
  - snapshot: {{data: [db]}}
  - migrate: {{name: probe, up: {probe}, down: {probe}, compatibility: expand}}
  - setWeight: 20
  - analysis: {{templates: [error-rate]}}
"""
    rid = rollout_id_of(world.deploy(world.plan(steps), "--detach"))
    assert world.approve(rid, "bob").exit_code == 0
    finished = world.audit("migration_finished", rid)
    assert finished[0]["data"]["output"].strip() == f"parent={rid}"
