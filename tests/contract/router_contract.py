"""The contract every traffic router passes. Subclass RouterContract and define `router`.

    class TestHAProxyContract(RouterContract):
        @pytest.fixture
        def router(self, ...): return HAProxyRouter(...)
"""

from __future__ import annotations

import pytest

from shipsafe.providers.traffic.base import TrafficRouter


class RouterContract:
    @pytest.fixture
    def router(self) -> TrafficRouter:  # pragma: no cover - overridden
        raise NotImplementedError

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
