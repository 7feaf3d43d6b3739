"""The data snapshot Protocol: take a snapshot of data before an irreversible step."""

from __future__ import annotations

from typing import Any, Protocol


class DataSnapshotProvider(Protocol):
    name: str

    def take(self, label: str) -> dict[str, Any]:
        """Take a snapshot and wait until it is usable. Returns its record (JSON): at least
        `provider`, `id`, `status`, and whatever `verify` and `restore_hint` need."""
        ...

    def verify(self, record: dict[str, Any]) -> None:
        """Raise ProviderError unless the snapshot still exists and is usable."""
        ...

    def restore_hint(self, record: dict[str, Any]) -> str:
        """One line telling a human how to restore the data from this snapshot."""
        ...
