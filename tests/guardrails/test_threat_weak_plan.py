"""Threat: a plan weaker than the policy (bigger blast radius, no approval, no breakers, no
way back). `validate` prints every finding with the threat it guards against and exits 2;
`deploy` refuses the same before touching anything, and the refusal is audited."""

from __future__ import annotations

import pytest

from tests.guardrails.conftest import HEAD, POLICY, World

GOOD = """\
steps:
  - setWeight: 10
  - analysis: {templates: [error-rate]}
  - approval: {}
  - setWeight: 50
  - analysis: {templates: [error-rate]}
"""

WEAK = {
    "requireApproval": ("deployment-without-approval", GOOD.replace("  - approval: {}\n", "")),
    "maxFirstWeight": ("blast-radius", GOOD.replace("setWeight: 10", "setWeight: 50")),
    "maxWeightIncrease": (
        "blast-radius",
        "steps:\n  - setWeight: 10\n  - approval: {}\n  - setWeight: 80\n"
        "  - analysis: {templates: [error-rate]}\n",
    ),
    "rollbackWindow": ("rollback-impossibility", "rollbackWindow: 10m\n" + GOOD),
    "migration.snapshot": (
        "state-migration-lock-in",
        GOOD + "  - migrate: {name: m1, up: [x], down: [y], compatibility: expand}\n",
    ),
    "migration.irreversible": (
        "rollback-impossibility",
        "dataSnapshots:\n  db: {provider: file, path: app.db}\n"
        "steps:\n  - snapshot: {data: [db]}\n"
        "  - migrate: {name: m1, up: [x], compatibility: contract, irreversible: true}\n"
        + GOOD.removeprefix("steps:\n"),
    ),
}


@pytest.mark.parametrize("rule", sorted(WEAK))
def test_a_plan_weaker_than_the_policy_is_refused(world: World, rule: str) -> None:
    threat, steps = WEAK[rule]
    plan = world.plan(steps)
    checked = world.run("validate", plan)
    assert checked.exit_code == 2, checked.output
    assert f"[{threat}]" in checked.output and f"({rule})" in checked.output
    result = world.deploy(plan)
    assert result.exit_code == 2, result.output
    assert world.untouched()
    refused = world.audit("deploy_refused")
    assert len(refused) == 1 and refused[0]["reason"] == "policy_violation"
    assert rule in [f["rule"] for f in refused[0]["data"]["findings"]]
    assert world.audit("preflight_passed") == []


def test_a_plan_without_breakers_is_refused(world: World) -> None:
    head = HEAD.replace("breakers:\n  - analysis: error-rate\n", "")
    plan = world.plan(GOOD, head=head)
    checked = world.run("validate", plan)
    assert checked.exit_code == 2
    assert "[blast-radius]" in checked.output and "(requireBreakers)" in checked.output
    assert world.deploy(plan).exit_code == 2
    assert world.untouched()
    assert world.audit("deploy_refused")[0]["data"]["findings"][0]["rule"] == "requireBreakers"


def test_fewer_approvals_than_the_policy_requires_is_looser_and_refused(world: World) -> None:
    # a policy given on the command line adds rules to the trust root's: count 2 wins
    policy = world.root / "policy.yaml"
    policy.write_text(POLICY.replace("{count: 1, signed: true}", "{count: 2, signed: true}"))
    plan = world.plan(GOOD)  # its gate asks for 1
    assert world.run("validate", plan, "--policy", str(policy)).exit_code == 2
    assert world.deploy(plan, "--policy", str(policy)).exit_code == 2
    assert world.untouched()
    assert "requireApproval.count" in [
        f["rule"] for f in world.audit("deploy_refused")[0]["data"]["findings"]
    ]


def test_the_built_in_policy_guards_production_when_no_policy_is_given(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no trust root at all: the built-in policy, and no key is trusted
    monkeypatch.delenv("SHIPSAFE_TRUST_ROOT")
    monkeypatch.setattr("shipsafe.trust.root.DEFAULT_ROOT", str(world.root / "no-such-root"))
    head = HEAD.replace("breakers:\n  - analysis: error-rate\n", "")
    plan = world.plan("steps:\n  - setWeight: 100\n", head=head)
    checked = world.run("validate", plan)
    assert checked.exit_code == 2
    assert "(requireApproval)" in checked.output and "(requireBreakers)" in checked.output
    assert "policy builtin" in checked.output
    assert world.deploy(plan).exit_code == 2
    assert world.untouched()
    created = world.audit("rollout_created")[0]
    assert created["data"]["policy"] == "builtin" and created["data"]["policy_digest"]


def test_a_stricter_plan_passes_and_the_policy_digest_is_audited(world: World) -> None:
    strict = GOOD.replace("approval: {}", "approval: {count: 2}")
    plan = world.plan("rollbackWindow: 2h\n" + strict)
    checked = world.run("validate", plan)
    assert checked.exit_code == 0, checked.output
    assert world.deploy(plan, "--detach").exit_code == 4
    created = world.audit("rollout_created")[0]
    assert created["data"]["policy_digest"] and created["data"]["trust_digest"]


def _builtin_findings(world: World, steps: str, head: str = HEAD) -> str:
    """`validate` under the built-in policy (no trust root, no --policy)."""
    plan = world.plan(steps, head=head)
    checked = world.run("validate", plan,
                        env={"SHIPSAFE_POLICY": "", "SHIPSAFE_TRUST_ROOT": ""})
    assert "builtin" in checked.output or "built-in" in checked.output, checked.output
    return str(checked.output)


def test_the_builtin_policy_caps_the_first_production_weight_at_10(world: World) -> None:
    assert "(maxFirstWeight)" in _builtin_findings(
        world, GOOD.replace("setWeight: 10", "setWeight: 50")
    )
    assert "(maxFirstWeight)" not in _builtin_findings(world, GOOD)


def test_the_builtin_policy_wants_an_analysis_or_a_bake_between_increases(world: World) -> None:
    back_to_back = "steps:\n  - setWeight: 10\n  - approval: {}\n  - setWeight: 25\n" \
        "  - analysis: {templates: [error-rate]}\n"
    found = _builtin_findings(world, back_to_back)
    assert "(requireCheckBetweenIncreases)" in found and "steps[2].setWeight" in found
    baked = back_to_back.replace("  - approval: {}\n", "  - pause: {duration: 5m}\n")
    assert "(requireCheckBetweenIncreases)" not in _builtin_findings(world, baked)


def test_the_builtin_policy_caps_the_step_size_without_an_analysis(world: World) -> None:
    steps = "steps:\n  - setWeight: 10\n  - pause: {duration: 5m}\n  - setWeight: 50\n" \
        "  - analysis: {templates: [error-rate]}\n"
    assert "(maxWeightIncrease)" in _builtin_findings(world, steps)


def test_a_dry_run_breaker_does_not_satisfy_require_breakers(world: World) -> None:
    head = HEAD.replace("    successCondition:", "    dryRun: true\n    successCondition:", 1)
    assert "dryRun: true" in head
    plan = world.plan(GOOD, head=head)
    checked = world.run("validate", plan)
    assert checked.exit_code == 2
    assert "(requireBreakers)" in checked.output and "dryRun" in checked.output
