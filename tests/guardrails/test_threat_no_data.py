"""Threat: insufficient monitoring. Attack: a deploy whose metrics return no data (or an
error) is judged on nothing. Preflight runs every analysis query once against the stable
target before traffic moves; no data or an error refuses the deploy (exit 2), naming the
query."""

from __future__ import annotations

from shipsafe.errors import ProviderError
from tests.guardrails.conftest import World

STEPS = """\
steps:
  - setWeight: 10
  - analysis: {templates: [error-rate]}
  - approval: {}
"""


def test_a_query_with_no_data_on_stable_refuses_the_deploy(world: World) -> None:
    world.metrics.answer = lambda q: None if q.startswith("errors") else 1.0
    result = world.deploy(world.plan(STEPS))
    assert result.exit_code == 2, result.output
    assert "analysis 'error-rate'" in result.output and 'errors{server=\\"v1\\"}' in result.output
    assert world.untouched()
    failed = world.audit("preflight_failed")
    assert len(failed) == 1 and "returned no data" in failed[0]["message"]
    assert world.audit("snapshot_taken") == []


def test_a_query_that_errors_refuses_the_deploy(world: World) -> None:
    def answer(query: str) -> float | None:
        if query.startswith("up"):
            raise ProviderError("parse error at char 3: unexpected '{'")
        return 0.001

    world.metrics.answer = answer
    result = world.deploy(world.plan(STEPS))
    assert result.exit_code == 2
    assert "analysis 'blue-up'" in result.output
    assert world.untouched()
    assert "parse error" in world.audit("preflight_failed")[0]["message"]


def test_nan_counts_as_no_data(world: World) -> None:
    world.metrics.answer = lambda q: float("nan") if q.startswith("errors") else 1.0
    assert world.deploy(world.plan(STEPS)).exit_code == 2
    assert world.untouched()


def test_queries_are_checked_against_stable_not_the_idle_canary(world: World) -> None:
    seen: list[str] = []

    def answer(query: str) -> float | None:
        seen.append(query)
        return 1.0 if query.startswith("up") else 0.001

    world.metrics.answer = answer
    assert world.deploy(world.plan(STEPS), "--detach").exit_code == 4
    assert seen[0] == 'errors{server="v1"}'
    assert world.audit("preflight_passed")[0]["data"]["queries"] == {
        "error-rate": 0.001, "blue-up": 1.0,
    }
