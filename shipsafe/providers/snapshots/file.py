"""The `file` data snapshot provider: a checksummed copy of a local file.

An SQLite database is copied with SQLite's online backup API (consistent while the service
writes to it); any other file is copied as it is. `verify` re-reads the copy and compares
its sha256 with the one recorded when it was taken.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError

_SQLITE_MAGIC = b"SQLite format 3\x00"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FileSnapshotProvider:
    def __init__(self, name: str, path: str, directory: str | None = None) -> None:
        self.name = name
        self.path = Path(path)
        self.dir = Path(directory) if directory else Path(f"{path}.snapshots")

    def take(self, label: str) -> dict[str, Any]:
        if not self.path.is_file():
            raise ConfigurationError(f"data snapshot {self.name}: no file at {self.path}")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        copy = self.dir / f"{self.path.name}.{label}.{stamp}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            if _is_sqlite(self.path):
                _sqlite_backup(self.path, copy)
                method = "sqlite-backup"
            else:
                shutil.copy2(self.path, copy)
                method = "copy"
            copy.chmod(0o400)  # a snapshot is read-only: nothing should edit it
            checksum = sha256_file(copy)
            size = copy.stat().st_size
        except (OSError, sqlite3.Error) as exc:
            raise ProviderError(
                f"data snapshot {self.name}: cannot copy {self.path}: {exc}"
            ) from exc
        return {
            "provider": "file",
            "name": self.name,
            "id": copy.name,
            "status": "available",
            "source": str(self.path.resolve()),
            "copy": str(copy.resolve()),
            "sha256": checksum,
            "size": size,
            "method": method,
        }

    def verify(self, record: dict[str, Any]) -> None:
        copy = Path(str(record.get("copy", "")))
        if not copy.is_file():
            raise ProviderError(f"data snapshot {self.name}: the copy {copy} is gone")
        try:
            actual = sha256_file(copy)
        except OSError as exc:
            raise ProviderError(f"data snapshot {self.name}: cannot read {copy}: {exc}") from exc
        if actual != record.get("sha256"):
            raise ProviderError(
                f"data snapshot {self.name}: {copy} changed since it was taken "
                f"(sha256 {actual[:12]}, recorded {str(record.get('sha256'))[:12]})"
            )
        if record.get("method") == "sqlite-backup":
            _sqlite_integrity(copy, self.name)

    def restore_hint(self, record: dict[str, Any]) -> str:
        return (
            f"stop the service, then copy {record.get('copy')} over {record.get('source')} "
            f"(sha256 {str(record.get('sha256'))[:12]})"
        )


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def _sqlite_backup(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _sqlite_integrity(copy: Path, name: str) -> None:
    try:
        conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            row = conn.execute("PRAGMA integrity_check").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ProviderError(f"data snapshot {name}: {copy} is not a readable database") from exc
    if not row or row[0] != "ok":
        raise ProviderError(f"data snapshot {name}: integrity check of {copy}: {row}")


def build(config: dict[str, Any], name: str) -> FileSnapshotProvider:
    path = config.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigurationError(f"data snapshot {name}: `path` is required")
    directory = config.get("dir")
    return FileSnapshotProvider(name, path, directory if isinstance(directory, str) else None)
