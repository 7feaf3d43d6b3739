"""State stores, chosen by URL: a path (SQLite, the default) or dynamodb://TABLE."""

from __future__ import annotations

import os
from pathlib import Path

from shipsafe.store.base import StateStore

DEFAULT_STATE = ".shipsafe/state.db"


def state_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("SHIPSAFE_STATE") or DEFAULT_STATE


def open_store(url: str | None = None, create: bool = True) -> StateStore:
    """Open the store named by --state / SHIPSAFE_STATE / the default path."""
    target = state_url(url)
    if target.startswith("dynamodb://"):
        from shipsafe.store.dynamodb import DynamoDBStore  # boto3 only when asked for

        return DynamoDBStore.open(target)
    from shipsafe.store.sqlite import SQLiteStore

    return SQLiteStore.open(Path(target), create=create)


__all__ = ["DEFAULT_STATE", "StateStore", "open_store", "state_url"]
