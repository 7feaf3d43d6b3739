"""Threats: blast radius at the worst moment, and cascading failures. Attacks: a deploy
inside a freeze window (weekly, or one-off in another time zone), a deploy into an
environment that is rolling back or just rolled back. Each is refused (exit 6) with nothing
changed, unless a human other than the deployer approves an override gate first."""

from __future__ import annotations

from tests.guardrails.conftest import POLICY, World, result_line, rollout_id_of

STEPS = """\
steps:
  - setWeight: 20
  - analysis: {templates: [error-rate]}
  - approval: {}
"""


def _bad_canary(query: str) -> float | None:
    if query.startswith("up"):
        return 1.0
    return 0.5 if '"v2"' in query else 0.001


def test_a_deploy_inside_a_weekly_freeze_window_is_refused(world: World) -> None:
    world.clock.advance(3 * 86400)  # Saturday
    result = world.deploy(world.plan(STEPS))
    assert result.exit_code == 6, result.output
    assert "freeze window weekend" in result.output
    assert world.untouched()
    refused = world.audit("deploy_refused")
    assert len(refused) == 1 and refused[0]["reason"] == "frozen"
    assert refused[0]["data"]["findings"][0]["rule"] == "freezeWindows"
    assert world.audit("weight_set") == []


def test_a_one_off_freeze_window_in_its_own_time_zone(world: World) -> None:
    world.sign_root(policy=POLICY.replace(
        "      - {name: weekend,",
        '      - {name: launch, start: "2026-03-04T06:30", end: "2026-03-04T08:00", '
        "timezone: America/New_York}\n      - {name: weekend,",
    ))
    # 12:00 UTC is 07:00 in New York: inside the window
    assert world.deploy(world.plan(STEPS)).exit_code == 6
    assert world.untouched()
    assert "freeze window launch" in world.audit("deploy_refused")[0]["message"]
    world.clock.advance(3600)  # 08:00 New York: the window is over
    assert world.deploy(world.plan(STEPS), "--detach").exit_code == 4


def _roll_back_a_production_deploy(world: World) -> None:
    """A deploy whose breaker trips (rolled back in production); the canary then healthy
    and the router's calls forgotten, so what follows sees only the freeze."""
    world.metrics.answer = _bad_canary
    first = world.deploy(world.plan(STEPS))
    assert first.exit_code == 3, first.output  # the breaker tripped: rolled back
    world.metrics.answer = lambda q: 1.0 if q.startswith("up") else 0.001
    world.router.calls.clear()


def test_an_environment_that_just_rolled_back_refuses_new_deploys(world: World) -> None:
    _roll_back_a_production_deploy(world)
    other = world.plan(STEPS, name="payments.yaml", service="payments", backend="payments")
    result = world.deploy(other)
    assert result.exit_code == 6, result.output
    assert "frozen until" in result.output
    assert world.untouched()
    refused = world.audit("deploy_refused")[-1]
    assert refused["data"]["findings"][0]["rule"] == "freezeAfterRollback"
    assert refused["data"]["findings"][0]["threat"] == "cascading-failure"
    world.clock.advance(31 * 60)  # the 30-minute freeze is over
    assert world.deploy(other, "--detach").exit_code == 4


def test_a_target_that_just_rolled_back_stays_frozen_under_other_labels(world: World) -> None:
    """The freeze is the target's too: the same HAProxy backend, planned as another service
    in an environment without a freeze of its own, waits out production's freeze."""
    _roll_back_a_production_deploy(world)
    relabelled = world.plan(STEPS, name="relabelled.yaml", service="checkout-next",
                            environment="staging")
    result = world.deploy(relabelled)
    assert result.exit_code == 6, result.output
    assert "the target is frozen until" in result.output
    assert world.untouched()
    refused = world.audit("deploy_refused")[-1]
    assert refused["data"]["findings"][0]["rule"] == "freezeAfterRollback"
    # another target in staging is not frozen by it
    elsewhere = world.plan(STEPS, name="other.yaml", environment="staging", backend="other")
    assert world.deploy(elsewhere, "--detach").exit_code == 4
    world.clock.advance(31 * 60)  # production's 30-minute freeze is over
    world.router.weights = {"stable": 100, "canary": 0}
    assert world.deploy(relabelled, "--detach").exit_code in (0, 4)


def test_an_environment_whose_rollback_failed_stays_frozen(world: World) -> None:
    world.metrics.answer = _bad_canary
    world.router.restore_corrupts = True
    assert world.deploy(world.plan(STEPS)).exit_code == 5
    world.router.restore_corrupts = False
    world.router.weights = {"stable": 100, "canary": 0}
    world.router.calls.clear()
    world.clock.advance(24 * 3600)  # a day later, still not resolved
    result = world.deploy(world.plan(STEPS, name="payments.yaml", service="payments",
                                     backend="payments"))
    assert result.exit_code == 6
    assert "rollback_failed" in result.output
    assert world.untouched()


def test_an_override_waits_for_a_human_other_than_the_deployer(world: World) -> None:
    world.clock.advance(3 * 86400)  # Saturday
    result = world.deploy(world.plan(STEPS), "--detach", "--request-override")
    assert result.exit_code == 4, result.output
    rid = rollout_id_of(result)
    assert "freeze-override" in result_line(result)["message"]
    assert world.untouched()
    assert world.approve(rid, "alice").exit_code == 2  # not the deployer
    assert world.untouched()
    result = world.approve(rid, "bob", "--gate", "freeze-override")
    assert result.exit_code == 4  # past the override, now at the plan's own gate
    assert world.router.weights["canary"] == 20
    evaluated = world.audit("policy_evaluated", rid)[0]
    assert evaluated["data"]["gates"] == ["freeze-override"]
    assert world.audit("approval_accepted", rid)[0]["data"]["gate"] == "freeze-override"
