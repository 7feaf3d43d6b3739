"""The HAProxy router passes the router contract over a fake runtime API (its socket
factory); integration/test_haproxy_router.py runs the same contract against HAProxy 2.6."""

from __future__ import annotations

from typing import Any

import pytest

from shipsafe.errors import ConfigurationError, ProviderError, TransientProviderError
from shipsafe.plan.targets import HAProxyTarget
from shipsafe.providers.traffic.haproxy import HAProxyRouter
from tests.contract.router_contract import Rebuild, RouterContract
from tests.haproxy_runtime_fake import FakeRuntime

CONFIG = {"socket": "/fake/admin.sock", "backend": "demo", "stable": "stable", "canary": "canary"}


def haproxy(runtime: FakeRuntime | None = None, factory: Any = None, **extra: Any) -> HAProxyRouter:
    target = HAProxyTarget.model_validate({**CONFIG, **extra})
    return HAProxyRouter(target, socket_factory=factory or (runtime or FakeRuntime()).connect)


def refusing(exc: OSError) -> Any:
    def connect() -> Any:
        raise exc

    return connect


class TestHAProxyRouterContract(RouterContract):
    @pytest.fixture
    def runtime(self) -> FakeRuntime:
        return FakeRuntime()

    @pytest.fixture
    def router(self, runtime: FakeRuntime) -> HAProxyRouter:
        return haproxy(runtime)

    @pytest.fixture
    def broken_router(self) -> HAProxyRouter:
        return haproxy(factory=refusing(OSError(113, "No route to host")))

    @pytest.fixture
    def rebuild(self, runtime: FakeRuntime) -> Rebuild:
        return lambda name, config: HAProxyRouter(
            HAProxyTarget.model_validate(config), socket_factory=runtime.connect
        )


def test_both_weights_go_in_one_connection_after_both_servers_are_read() -> None:
    runtime = FakeRuntime()
    haproxy(runtime).set_weight(25)
    assert runtime.commands == [
        "get weight demo/stable",
        "get weight demo/canary",
        "set weight demo/canary 25",
        "set weight demo/stable 75",
    ]
    assert runtime.weights == {"stable": 75, "canary": 25}


def test_a_server_not_in_the_backend_is_named_before_any_write() -> None:
    runtime = FakeRuntime(weights={"stable": 100, "green": 0})
    with pytest.raises(ConfigurationError, match="'canary' is not in backend 'demo'"):
        haproxy(runtime).set_weight(10)
    assert not any(c.startswith("set ") for c in runtime.commands)


def test_a_refused_socket_is_transient_once_retry_for_is_spent() -> None:
    router = haproxy(factory=refusing(ConnectionRefusedError(111, "Connection refused")),
                     retryFor="0s")
    with pytest.raises(TransientProviderError, match="unreachable: Connection refused"):
        router.get_weight()


def test_permission_denied_is_not_retried() -> None:
    attempts: list[int] = []

    def denied() -> Any:
        attempts.append(1)
        raise PermissionError(13, "Permission denied")

    with pytest.raises(ProviderError, match="permission denied"):
        haproxy(factory=denied, retryFor="5s").get_weight()
    assert len(attempts) == 1


def test_an_error_answer_to_set_weight_is_a_provider_error() -> None:
    runtime = FakeRuntime()
    router = haproxy(runtime)
    router.get_weight()
    runtime.answer = lambda line: "Backend is being reloaded.\n"  # type: ignore[method-assign]
    with pytest.raises(ProviderError, match="being reloaded"):
        router.set_weight(10)
