"""StateStore is exactly the union of its four small Protocols, which share no member, and
both stores have every member of each (so code may take the smallest part it needs)."""

from __future__ import annotations

import pytest

from shipsafe.store import base
from shipsafe.store.dynamodb import DynamoDBStore
from shipsafe.store.sqlite import SQLiteStore

PARTS = [base.RolloutStore, base.HistoryStore, base.ControlStore, base.CoordinationStore]


def members(protocol: type) -> set[str]:
    own = set(vars(protocol)) | set(getattr(protocol, "__annotations__", {}))
    return {name for name in own if not name.startswith("_")}


def test_the_parts_share_no_member() -> None:
    seen: set[str] = set()
    for part in PARTS:
        assert not (members(part) & seen), part.__name__
        seen |= members(part)


def test_state_store_is_the_union_of_its_parts_plus_url_and_close() -> None:
    union = set().union(*(members(part) for part in PARTS))
    assert set(base.StateStore.__mro__[1:5]) == set(PARTS)
    assert members(base.StateStore) == {"url", "close"}
    # every method a store implementation offers to the engine is in one of the parts
    assert {"create_rollout", "get_snapshot", "append_event", "measurements",
            "begin_operation", "add_command", "approvals", "acquire_lock", "fence_to",
            "set_meta"} <= union


@pytest.mark.parametrize("store", [SQLiteStore, DynamoDBStore], ids=lambda c: c.__name__)
@pytest.mark.parametrize("part", PARTS, ids=lambda p: p.__name__)
def test_every_store_has_every_member_of_each_part(store: type, part: type) -> None:
    missing = {m for m in members(part) if m != "fence" and not hasattr(store, m)}
    assert missing == set()
