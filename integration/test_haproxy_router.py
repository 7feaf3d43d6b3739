"""HAProxyRouter against a real HAProxy 2.6: the router contract, retries, bad names."""

from __future__ import annotations

import time
from typing import Any

import pytest

from integration.rig import Rig
from integration.rig.haproxy import BACKEND, CANARY, STABLE
from shipsafe.errors import ConfigurationError, TransientProviderError
from shipsafe.plan.targets import HAProxyTarget
from shipsafe.providers.traffic.haproxy import HAProxyRouter, build
from tests.contract.router_contract import RouterContract

pytestmark = pytest.mark.integration


def _config(rig: Rig, endpoint: str, **extra: Any) -> dict[str, Any]:
    where = (
        {"address": rig.haproxy.address}
        if endpoint == "address"
        else {"socket": str(rig.gate.path if endpoint == "gate" else rig.haproxy.socket)}
    )
    return {**where, "backend": BACKEND, "stable": STABLE, "canary": CANARY, **extra}


@pytest.fixture
def fresh_weights(rig_session: Rig) -> Rig:
    rig_session.gate.accept()
    rig_session.haproxy.reset()
    return rig_session


class TestHAProxyRouterContract(RouterContract):
    @pytest.fixture(params=["socket", "address"])
    def router(self, request: pytest.FixtureRequest, fresh_weights: Rig) -> HAProxyRouter:
        return build(_config(fresh_weights, request.param), "haproxy")

    @pytest.fixture
    def broken_router(self, fresh_weights: Rig) -> HAProxyRouter:
        def unreachable() -> Any:
            raise OSError(113, "No route to host")

        target = HAProxyTarget.model_validate(_config(fresh_weights, "socket"))
        return HAProxyRouter(target, socket_factory=unreachable)


def test_weights_written_are_the_ones_haproxy_reads_back(fresh_weights: Rig) -> None:
    router = build(_config(fresh_weights, "socket"), "haproxy")
    router.set_weight(25)
    assert fresh_weights.haproxy.weights() == {STABLE: 75, CANARY: 25}


def test_traffic_follows_the_weights(fresh_weights: Rig) -> None:
    router = build(_config(fresh_weights, "socket"), "haproxy")
    router.set_weight(20)
    since = fresh_weights.load.now()
    tally = fresh_weights.load.wait_for_requests(200, since)
    assert 0.15 <= tally.share(CANARY) <= 0.25, str(tally)


def test_refused_socket_is_retried_until_it_answers(fresh_weights: Rig) -> None:
    router = build(_config(fresh_weights, "gate", retryFor="10s"), "haproxy")
    fresh_weights.gate.refuse_for(2.0)
    started = time.monotonic()
    router.set_weight(30)
    elapsed = time.monotonic() - started
    assert elapsed >= 1.5, f"set_weight returned after {elapsed:.2f}s: the refusal was not met"
    assert fresh_weights.haproxy.weights() == {STABLE: 70, CANARY: 30}


def test_refused_longer_than_retry_for_is_a_transient_error(fresh_weights: Rig) -> None:
    router = build(_config(fresh_weights, "gate", retryFor="1s"), "haproxy")
    fresh_weights.gate.refuse()
    started = time.monotonic()
    with pytest.raises(TransientProviderError, match="unreachable"):
        router.set_weight(30)
    assert time.monotonic() - started < 3.0
    assert fresh_weights.haproxy.weights() == {STABLE: 100, CANARY: 0}


def test_server_not_in_backend_is_a_configuration_error(fresh_weights: Rig) -> None:
    router = build(_config(fresh_weights, "socket", canary="v3"), "haproxy")
    with pytest.raises(ConfigurationError, match="v3"):
        router.check()
    with pytest.raises(ConfigurationError):
        router.set_weight(10)
    assert fresh_weights.haproxy.weights() == {STABLE: 100, CANARY: 0}


def test_unknown_backend_is_a_configuration_error(fresh_weights: Rig) -> None:
    router = build(_config(fresh_weights, "socket", backend="nope"), "haproxy")
    with pytest.raises(ConfigurationError, match="nope"):
        router.check()
