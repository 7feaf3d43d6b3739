"""The SQLite store passes the store contract (the DynamoDB store: tests/aws)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipsafe.store.sqlite import SQLiteStore
from tests.contract.store_contract import StoreContract


class TestSQLiteStoreContract(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        s = SQLiteStore.open(tmp_path / "state.db")
        yield s
        s.close()

    @pytest.fixture
    def open_other(self, tmp_path: Path, store: SQLiteStore) -> Callable[[], SQLiteStore]:
        return lambda: SQLiteStore.open(tmp_path / "state.db")
