"""The `file` data snapshot provider passes the data snapshot contract, for a plain file and
for an SQLite database (copied with the backup API); aws-rds and aws-ebs run it in tests/aws."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from shipsafe.providers.snapshots.file import FileSnapshotProvider, build
from tests.contract.data_snapshot_contract import DataSnapshotContract, Tamper


def sqlite_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("create table orders (id integer primary key, total real)")
    conn.executemany("insert into orders (total) values (?)", [(9.5,), (12.0,)])
    conn.commit()
    conn.close()


class TestFileSnapshotContract(DataSnapshotContract):
    @pytest.fixture(params=["plain", "sqlite"])
    def source(self, request: pytest.FixtureRequest, tmp_path: Path) -> Path:
        path = tmp_path / "orders.db"
        if request.param == "sqlite":
            sqlite_file(path)
        else:
            path.write_text("id,total\n1,9.5\n")
        return path

    @pytest.fixture
    def provider(self, source: Path) -> FileSnapshotProvider:
        return build({"path": str(source)}, "orders")

    @pytest.fixture
    def tamper(self) -> Tamper:
        def alter(record: dict[str, Any]) -> None:
            copy = Path(record["copy"])
            copy.chmod(0o600)  # taken read-only
            with open(copy, "ab") as fh:
                fh.write(b"tampered")

        return alter

    @pytest.fixture
    def broken_provider(self, source: Path, tmp_path: Path) -> FileSnapshotProvider:
        # the snapshot directory lies under a regular file: mkdir raises NotADirectoryError
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        return build({"path": str(source), "dir": str(blocker / "snapshots")}, "orders")


def test_a_deleted_copy_fails_verify_naming_it(tmp_path: Path) -> None:
    from shipsafe.errors import ProviderError

    source = tmp_path / "data.csv"
    source.write_text("x\n")
    provider = build({"path": str(source)}, "data")
    record = provider.take("before")
    Path(record["copy"]).unlink()
    with pytest.raises(ProviderError, match="is gone"):
        provider.verify(record)
