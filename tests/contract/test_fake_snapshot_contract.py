from __future__ import annotations

from typing import Any

import pytest

from tests.contract.data_snapshot_contract import DataSnapshotContract, Tamper
from tests.fakes import FakeDataSnapshots


class TestFakeDataSnapshotContract(DataSnapshotContract):
    @pytest.fixture
    def provider(self) -> FakeDataSnapshots:
        return FakeDataSnapshots()

    @pytest.fixture
    def tamper(self, provider: FakeDataSnapshots) -> Tamper:
        def alter(record: dict[str, Any]) -> None:
            provider.snapshots[record["id"]] = "orders v1, edited"

        return alter

    @pytest.fixture
    def broken_provider(self) -> FakeDataSnapshots:
        broken = FakeDataSnapshots()
        broken.down = True  # the fake has no library: it fails as a translated error does
        return broken
