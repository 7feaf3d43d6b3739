"""State stores, chosen by URL: a path (SQLite, the default) or dynamodb://TABLE.

The default is one store per user, in the XDG state directory
(`$XDG_STATE_HOME/shipsafe/state.db`, else `~/.local/state/shipsafe/state.db`), never
relative to the working directory: two deploys of one target from two checkouts share it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shipsafe.store.base import StateStore


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/shipsafe`, or `~/.local/state/shipsafe` (the XDG Base Directory
    rule: an unset, empty or relative XDG_STATE_HOME is ignored)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME", "")
    if not base or not os.path.isabs(base):
        home = env.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".local", "state")
    return Path(base) / "shipsafe"


def default_state() -> str:
    return str(default_state_dir() / "state.db")


def state_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("SHIPSAFE_STATE") or default_state()


def ensure_private_dir(url: str) -> None:
    """Create the default state directory readable by its user only (0700). A path the user
    named (--state, SHIPSAFE_STATE) is theirs to prepare; SQLite creates its parents."""
    path = Path(url)
    if "://" in url or path.parent != default_state_dir() or path.parent.exists():
        return
    from shipsafe.errors import StoreUnopenable

    try:
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StoreUnopenable(f"{path.parent}: cannot create the state directory: {exc}") from None


def open_store(url: str | None = None, create: bool = True) -> StateStore:
    """Open the store named by --state / SHIPSAFE_STATE / the default path."""
    target = state_url(url)
    if target.startswith("dynamodb://"):
        from shipsafe.store.dynamodb import DynamoDBStore  # boto3 only when asked for

        return DynamoDBStore.open(target)
    from shipsafe.store.sqlite import SQLiteStore

    if create:
        ensure_private_dir(target)
    return SQLiteStore.open(Path(target), create=create)


__all__ = [
    "StateStore", "default_state", "default_state_dir", "ensure_private_dir", "open_store",
    "state_url",
]
