from __future__ import annotations

import pytest

from tests.contract.router_contract import RouterContract
from tests.fakes import FakeRouter


class TestFakeRouterContract(RouterContract):
    @pytest.fixture
    def router(self) -> FakeRouter:
        return FakeRouter()
