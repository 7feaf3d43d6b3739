"""Router writes under the fence, and router retries bounded so breakers never wait for them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from shipsafe.engine import analysis
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive, retry_budget
from shipsafe.engine.lease import FencedRouter
from shipsafe.errors import LeaseLost, ProviderError, TransientProviderError
from shipsafe.plan.targets import HAProxyTarget
from shipsafe.providers.traffic.haproxy import HAProxyRouter
from shipsafe.records import Phase, Reason
from tests.conftest import PLAN_HEAD, make_plan
from tests.fakes import FakeRouter


def refused_haproxy(tmp_path: Path, retry_for: float = 10.0) -> HAProxyRouter:
    """HAProxy whose runtime socket is not there: every connect fails, transiently."""
    router = HAProxyRouter(
        HAProxyTarget(
            socket=str(tmp_path / "gone.sock"), backend="be", stable="v1", canary="v2",
            retryFor=retry_for,
        )
    )
    router._servers_verified = True  # as after the first read: straight to the write
    return router


def test_a_retry_budget_cuts_the_routers_own_retries_short(tmp_path: Path) -> None:
    router = refused_haproxy(tmp_path)
    router.retry_budget = 0.2
    started = time.monotonic()
    with pytest.raises(TransientProviderError, match="unreachable"):
        router.get_weight()
    assert time.monotonic() - started < 1.0  # not the 10 s of retryFor


def test_every_write_attempt_passes_the_fence_first(tmp_path: Path) -> None:
    router = refused_haproxy(tmp_path)
    router.retry_budget = 0.3
    checks: list[int] = []
    router.before_write = lambda: checks.append(1)
    with pytest.raises(TransientProviderError):
        router.set_weight(10)
    assert len(checks) >= 2  # one per attempt, not one per call


def test_a_stale_fence_stops_the_retries_before_anything_is_sent(tmp_path: Path) -> None:
    router = refused_haproxy(tmp_path)

    def stale() -> None:
        raise LeaseLost("lost the lease on production/checkout (epoch 3)")

    router.before_write = stale
    started = time.monotonic()
    with pytest.raises(LeaseLost):
        router.set_weight(10)
    assert time.monotonic() - started < 0.5  # LeaseLost is not retried


class BudgetedRouter(FakeRouter):
    retry_budget: float | None = None


def test_the_fenced_router_hands_the_budget_of_the_moment_to_the_router() -> None:
    inner = BudgetedRouter()
    budget: list[float | None] = [1.0]
    fenced = FencedRouter(inner, lambda: None, retry_budget=lambda: budget[0])
    fenced.get_weight()
    assert inner.retry_budget == 1.0
    budget[0] = None  # rolling back: the restore keeps the router's own retry
    fenced.restore({"weights": {"stable": 100, "canary": 0}})
    assert inner.retry_budget is None


def test_no_forward_write_is_sent_once_a_signal_asked_for_a_rollback() -> None:
    inner = FakeRouter()
    fenced = FencedRouter(inner, lambda: None, stop_forward=lambda: "SIGTERM")
    with pytest.raises(ProviderError, match="SIGTERM asked for a rollback"):
        fenced.set_weight(30)
    fenced.restore({"weights": {"stable": 100, "canary": 0}})  # the way back always goes
    assert inner.calls == [("restore", {"weights": {"stable": 100, "canary": 0}})]


def test_the_budget_ends_when_the_next_breaker_is_due_while_breakers_are_watched(
    make_ctx: Any, router: FakeRouter, clock: Any
) -> None:
    head = PLAN_HEAD.replace("interval: 5s\n    count: 3", "interval: 1s\n    count: 3")
    plan = make_plan(
        "breakers:\n  - analysis: error-rate\n  - analysis: latency\n"
        "steps:\n  - setWeight: 10\n  - pause: {duration: 1m}\n",
        head,
    )
    engine = start_deploy(make_ctx(), plan)
    budget = retry_budget(engine)
    assert budget() == 1.0  # error-rate every 1 s, latency every 5 s
    engine.tick()  # 10% set and read back: the breakers are scheduled
    due = analysis.next_due(engine.runtime.breakers)
    assert due is not None
    clock.advance((due - clock.now()).total_seconds() - 0.3)
    assert budget() == pytest.approx(0.3)  # no longer than until the next breaker is due
    clock.advance(5)
    assert budget() == 0.1  # overdue: one short try, the breaker is measured next tick
    engine.begin_rollback(Reason.MANUAL_ROLLBACK, "asked for")
    assert budget() is None
    assert drive(engine) == Phase.ROLLED_BACK


def test_without_breakers_the_budget_still_keeps_the_weight_timeout(
    make_ctx: Any, router: FakeRouter
) -> None:
    engine = start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 10\n"))
    assert retry_budget(engine)() == 2.0
