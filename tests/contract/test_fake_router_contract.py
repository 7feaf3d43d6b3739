from __future__ import annotations

from typing import Any

import pytest

from shipsafe.errors import ProviderError
from tests.contract.router_contract import Rebuild, RouterContract
from tests.fakes import FakeRouter

# the fake's "target": weights kept apart from any one router object, named by its config,
# so a router rebuilt from the stored config finds the weights the first one set
WORLDS: dict[str, dict[str, int]] = {}


class WorldRouter(FakeRouter):
    def __init__(self, world: str) -> None:
        self.world = world
        WORLDS.setdefault(world, {"stable": 100, "canary": 0})
        super().__init__(**WORLDS[world])

    @property  # type: ignore[override]
    def weights(self) -> dict[str, int]:
        return WORLDS[self.world]

    @weights.setter
    def weights(self, value: dict[str, int]) -> None:
        WORLDS[self.world] = value

    def config(self) -> dict[str, Any]:
        return {"world": self.world}


class TestFakeRouterContract(RouterContract):
    @pytest.fixture
    def router(self, request: pytest.FixtureRequest) -> FakeRouter:
        return WorldRouter(request.node.nodeid)

    @pytest.fixture
    def broken_router(self) -> FakeRouter:
        # the fake has no library: it fails as a translated provider error does
        broken = FakeRouter()
        for op in ("check", "get", "set", "read", "restore"):
            broken.fail[op] = ProviderError(f"fake router: {op} failed")
        return broken

    @pytest.fixture
    def rebuild(self) -> Rebuild:
        return lambda name, config: WorldRouter(str(config["world"]))
