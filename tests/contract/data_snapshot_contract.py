"""The contract every data snapshot provider passes: take -> verify, a snapshot altered or
gone after it was taken fails verify, the restore hint names the snapshot, and no library
error ever escapes. Subclass DataSnapshotContract and define three fixtures:

    provider          a provider on a healthy source (a file, a database, a volume)
    tamper            record -> None: alter or delete the snapshot behind the provider's back
    broken_provider   the same provider whose transport raises its library's own errors
                      (OSError, sqlite3's, botocore's ...)

No provider restores data itself today (a human does, from `restore_hint`), so there is no
restore round trip to run yet; a provider that gains `restore` adds it here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from shipsafe.errors import ProviderError, ShipsafeError
from shipsafe.providers.snapshots.base import DataSnapshotProvider

Tamper = Callable[[dict[str, Any]], None]


class DataSnapshotContract:
    @pytest.fixture
    def provider(self) -> DataSnapshotProvider:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def tamper(self) -> Tamper:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def broken_provider(self) -> DataSnapshotProvider:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_a_snapshot_taken_verifies(self, provider: DataSnapshotProvider) -> None:
        record = provider.take("r-0001 before")
        assert record["provider"] and record["id"] and record["status"]
        stored = json.loads(json.dumps(record))  # what the store keeps
        provider.verify(stored)

    def test_a_tampered_snapshot_fails_verify(
        self, provider: DataSnapshotProvider, tamper: Tamper
    ) -> None:
        record = provider.take("r-0001 before")
        provider.verify(record)
        tamper(record)
        with pytest.raises(ProviderError):
            provider.verify(record)

    def test_two_snapshots_are_two_records(self, provider: DataSnapshotProvider) -> None:
        first, second = provider.take("one"), provider.take("two")
        assert first["id"] != second["id"]
        provider.verify(first)
        provider.verify(second)

    def test_the_restore_hint_names_the_snapshot(self, provider: DataSnapshotProvider) -> None:
        record = provider.take("r-0001 before")
        assert str(record["id"]) in provider.restore_hint(record)

    def test_library_errors_never_escape(self, broken_provider: DataSnapshotProvider) -> None:
        with pytest.raises(ShipsafeError):
            broken_provider.take("r-0001 before")
