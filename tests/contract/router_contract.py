"""The contract every traffic router passes. Subclass RouterContract and define

    router          a router on a healthy target
    broken_router   a router on the same target whose transport raises its library's own
                    errors (OSError from a socket, botocore's from a client, ...)
    rebuild         (name, stored config) -> a router, as the rollback builds one from the
                    snapshot; defaults to the registry, override only to hand in a seam

    class TestHAProxyContract(RouterContract):
        @pytest.fixture
        def router(self, ...): return HAProxyRouter(...)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from shipsafe.errors import ShipsafeError
from shipsafe.providers.registry import Registry
from shipsafe.providers.traffic.base import TrafficRouter

Rebuild = Callable[[str, dict[str, Any]], TrafficRouter]


class RouterContract:
    @pytest.fixture
    def router(self) -> TrafficRouter:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def broken_router(self) -> TrafficRouter:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def rebuild(self) -> Rebuild:
        return Registry().router

    def test_check_passes_on_a_good_target(self, router: TrafficRouter) -> None:
        router.check()

    def test_set_then_get_round_trips(self, router: TrafficRouter) -> None:
        for weight in (5, 25, 50, 0, 100, 0):
            router.set_weight(weight)
            assert router.get_weight() == weight

    def test_set_is_idempotent(self, router: TrafficRouter) -> None:
        router.set_weight(30)
        state = router.read_state()
        router.set_weight(30)
        assert router.read_state() == state
        assert router.get_weight() == 30

    def test_read_state_then_restore_round_trips(self, router: TrafficRouter) -> None:
        before = router.read_state()
        weight_before = router.get_weight()
        router.set_weight(40)
        assert router.read_state() != before
        router.restore(before)
        assert router.read_state() == before
        assert router.get_weight() == weight_before

    def test_restore_is_idempotent(self, router: TrafficRouter) -> None:
        before = router.read_state()
        router.set_weight(60)
        router.restore(before)
        router.restore(before)
        assert router.read_state() == before

    def test_weight_100_sends_everything_to_the_canary(self, router: TrafficRouter) -> None:
        # promote is the final setWeight 100: no router verb of its own
        router.set_weight(100)
        assert router.get_weight() == 100

    def test_config_is_json(self, router: TrafficRouter) -> None:
        import json

        json.dumps(router.config())
        json.dumps(router.read_state())

    def test_rebuilt_from_its_stored_config_it_restores_the_snapshot(
        self, router: TrafficRouter, rebuild: Rebuild
    ) -> None:
        # the rollback path: nothing but the snapshot (router name, config, state), stored
        # as JSON, then read back by another process
        before = router.read_state()
        weight_before = router.get_weight()
        stored = json.loads(json.dumps({"router": router.name, "config": router.config()}))
        router.set_weight(35)
        again = rebuild(stored["router"], stored["config"])
        assert again.get_weight() == 35  # the same target, read from the router itself
        again.restore(json.loads(json.dumps(before)))
        assert again.read_state() == before
        assert router.get_weight() == weight_before

    @pytest.mark.parametrize("verb", ["check", "get_weight", "set_weight", "read_state", "restore"])
    def test_library_errors_never_escape(
        self, router: TrafficRouter, broken_router: TrafficRouter, verb: str
    ) -> None:
        state = router.read_state()
        calls: dict[str, Callable[[], object]] = {
            "check": broken_router.check,
            "get_weight": broken_router.get_weight,
            "set_weight": lambda: broken_router.set_weight(20),
            "read_state": broken_router.read_state,
            "restore": lambda: broken_router.restore(state),
        }
        with pytest.raises(ShipsafeError):
            calls[verb]()
