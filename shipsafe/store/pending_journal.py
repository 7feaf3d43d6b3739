"""Rollbacks done while the SQLite store was write-locked by another process, waiting to be
recorded: a JSON-lines file beside the store (`state.db.pending.jsonl`).

Why a file of its own: a driver frozen inside a write transaction (SIGSTOP, a paused VM)
holds the store's write lock; an on-call `shipsafe rollback` can still read the store (WAL)
and restore the router, but can neither take the lease nor write what it did. It appends
what it did here instead, and:

- every router write of a fenced driver first looks here (SQLiteStore.check_fence): a driver
  thawed after the on-call restore stops without moving traffic, whatever weight it last
  verified (the weight fence alone cannot tell a restore to 0% from a rollout that had not
  moved traffic yet);
- the next shipsafe command that opens the store records it (audited) before anything
  else (shipsafe.cli.pending_rollbacks) and marks it applied.

Entries are appended, never rewritten: {"id", "rollout_id", "lock_key", "state", ...}; a later
line with the same id supersedes an earlier one, and {"id", "applied": true} closes it.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from shipsafe.errors import StoreError

SUFFIX = ".pending.jsonl"


class PendingJournal:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, store_path: Path) -> PendingJournal:
        return cls(store_path.with_name(store_path.name + SUFFIX))

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = "\n" + line  # after a torn line (killed mid-write): a line of its own
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot write the pending journal {self.path}: {exc}") from exc

    def entries(self) -> list[dict[str, Any]]:
        """Every entry not yet applied, each as its latest line says, in first-seen order."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read the pending journal {self.path}: {exc}") from exc
        latest: dict[str, dict[str, Any]] = {}
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn last line (killed mid-write): its entry is the earlier line
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            if entry.get("applied"):
                latest[entry["id"]] = {"applied": True}
            else:
                latest[entry["id"]] = {**latest.get(entry["id"], {}), **entry}
        return [e for e in latest.values() if not e.get("applied")]

    def pending_for(self, lock_key: str, epoch: int) -> dict[str, Any] | None:
        """The rollback journaled against a driver of `lock_key` holding `epoch` (or an
        older one), if any: that driver must not write the router. A driver that took the
        lock after the journal was written has a higher epoch and is not stopped. Cheap when
        there is no journal (one failed stat): it is asked before every router write."""
        if not self.path.exists():
            return None
        try:
            found = self.entries()
        except StoreError:
            return {"rollout_id": "?", "by": "an unreadable pending journal"}  # fail closed
        return next(
            (e for e in found if e.get("lock_key") == lock_key
             and isinstance(e.get("epoch"), int) and epoch <= e["epoch"]),
            None,
        )

    def mark_applied(self, entry_id: str) -> None:
        self.append({"id": entry_id, "applied": True})
