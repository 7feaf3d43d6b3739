"""Threat: hotfix bypass. Attacks: an emergency deploy without a reason, an agent declaring
an emergency, emergencies piling up unreviewed. An emergency may shorten pauses as the
policy allows; it keeps breakers, snapshots and the audit, and its approval comes after:
the rollout stays listed by `shipsafe audit pending` until a human other than the deployer
approves it."""

from __future__ import annotations

import json

from tests.guardrails.conftest import World, rollout_id_of

STEPS = """\
steps:
  - setWeight: 10
  - analysis: {templates: [error-rate]}
  - pause: {duration: 10m}
  - approval: {}
  - setWeight: 50
  - analysis: {templates: [error-rate]}
"""


def _pending(world: World) -> list[dict[str, object]]:
    result = world.run("audit", "pending", "-o", "json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def test_an_emergency_without_a_reason_is_refused(world: World) -> None:
    result = world.deploy(world.plan(STEPS), "--emergency")
    assert result.exit_code == 2, result.output
    assert "needs --reason" in result.output
    assert world.untouched()
    refused = world.audit("deploy_refused")[0]
    assert refused["data"]["findings"][0]["threat"] == "hotfix-bypass"
    assert world.audit("rollout_created")[0]["data"]["emergency"] is True


def test_a_reason_that_says_nothing_is_refused(world: World) -> None:
    assert world.deploy(world.plan(STEPS), "--emergency", "--reason", "   fix ").exit_code == 2
    assert world.untouched()
    assert world.audit("deploy_refused")[0]["data"]["findings"][0]["rule"] == (
        "emergency.minReasonLength"
    )


def test_an_agent_cannot_declare_an_emergency_where_the_policy_says_humans_only(
    world: World,
) -> None:
    result = world.deploy(world.plan(STEPS), "--emergency", "--reason",
                          "checkout 500s after 2.3.9", env={"SHIPSAFE_AGENT": "1"})
    assert result.exit_code == 2
    assert world.untouched()
    assert world.audit("deploy_refused")[0]["data"]["findings"][0]["rule"] == (
        "emergency.allowedKinds"
    )


def test_an_emergency_shortens_pauses_defers_the_approval_and_stays_pending(
    world: World,
) -> None:
    result = world.deploy(world.plan(STEPS), "--emergency", "--reason",
                          "INC-4411: checkout 500s since 2.3.9")
    assert result.exit_code == 0, result.output
    rid = rollout_id_of(result)
    assert world.router.weights == {"stable": 0, "canary": 100}
    # the ten-minute pause took the policy's 30 s at most
    started = {e["data"]["step"]: e["time"] for e in world.audit("step_started", rid)}
    assert started[4] <= "2026-03-04T12:01:00Z"
    # breakers kept measuring, the snapshot was taken and verified
    assert any(e["data"]["run"] == "breakers" for e in world.audit("measurement", rid))
    assert world.audit("snapshot_verified", rid)
    deferred = [e for e in world.audit("notice", rid) if e.get("reason") == "approval_deferred"]
    assert deferred and deferred[0]["data"]["gate"] == "gate-4"
    pending = _pending(world)
    assert [p["rollout_id"] for p in pending] == [rid]
    assert pending[0]["reason"] == "INC-4411: checkout 500s since 2.3.9"
    # the deployer cannot review their own emergency
    assert world.approve(rid, "alice").exit_code == 2
    assert _pending(world)
    assert world.approve(rid, "bob").exit_code == 0
    assert _pending(world) == []
    review = world.audit("approval_accepted", rid)[0]
    assert review["data"]["gate"] == "emergency-review" and review["data"]["signer"] == "bob"


def test_an_emergency_still_rolls_back_when_a_breaker_trips(world: World) -> None:
    world.metrics.answer = lambda q: 1.0 if q.startswith("up") else (
        0.4 if '"v2"' in q else 0.001
    )
    # the breaker (10 s after 10% is read back) trips during the pause, before any analysis
    steps = STEPS.replace("  - analysis: {templates: [error-rate]}\n  - pause: {duration: 10m}\n",
                          "  - pause: {duration: 10m}\n  - analysis: {templates: [error-rate]}\n")
    result = world.deploy(world.plan(steps), "--emergency", "--reason",
                          "INC-4411: checkout 500s since 2.3.9")
    assert result.exit_code == 3
    assert world.on_stable()
    assert world.audit("breaker_tripped")


def test_a_second_emergency_waits_until_the_first_is_reviewed(world: World) -> None:
    reason = ("--reason", "INC-4411: checkout 500s since 2.3.9")
    first = world.deploy(world.plan(STEPS), "--emergency", *reason)
    assert first.exit_code == 0
    world.router.weights = {"stable": 100, "canary": 0}  # the next release's view
    world.router.calls.clear()
    other = world.plan(STEPS, name="payments.yaml", service="payments",
                       backend="payments")
    result = world.deploy(other, "--emergency", *reason)
    assert result.exit_code == 6
    assert "await their review" in result.output
    assert world.untouched()
    assert world.audit("deploy_refused")[-1]["data"]["findings"][0]["rule"] == (
        "emergency.maxPendingReviews"
    )
    assert world.approve(rollout_id_of(first), "bob").exit_code == 0
    assert world.deploy(other, "--emergency", *reason).exit_code == 0
