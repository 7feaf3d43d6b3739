"""The default audit log: JSON lines in a file, hash-chained, appended under a file lock."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from shipsafe.audit.chain import GENESIS, Verification, chain, verify_records
from shipsafe.errors import AuditError, ConflictError, ShipsafeError
from shipsafe.records import Event, canonical_json
from shipsafe.redact import redact
from shipsafe.store.base import StateStore


class AuditMirror(Protocol):
    """A second home for each chained record (e.g. an S3 bucket)."""

    @property
    def url(self) -> str: ...

    def check(self) -> None:
        """Raise ConfigurationError unless records can be written there."""
        ...

    def put(self, record: dict[str, Any]) -> None: ...


def event_record(event: Event) -> dict[str, Any]:
    body = event.model_dump(mode="json", exclude_none=True)
    body.pop("seq", None)  # the rollout's event number; the audit chain has its own
    return dict(redact(body))


class FileAuditLog:
    def __init__(
        self,
        path: str | Path,
        store: StateStore | None = None,
        mirrors: list[AuditMirror] | None = None,
    ) -> None:
        self.path = Path(path)
        self.store = store
        self.mirrors = mirrors or []
        # records a mirror could not take yet, retried in order on the next append: a mirror
        # outage must not interrupt a rollout (least of all its rollback); the file log stays
        # complete and `audit verify --source` shows any gap that outlives this process
        self.backlog: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(self.mirrors))}
        self.on_mirror_error: Any = None
        self._anchor_key = f"audit_head:{self.path.resolve()}"

    def __call__(self, event: Event) -> None:
        self.append(event_record(event))

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    prev_seq, prev_hash = _last(fh)
                    chained = chain(record, prev_seq, prev_hash)
                    fh.seek(0, os.SEEK_END)
                    fh.write(canonical_json(chained).encode() + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                    self._anchor(prev_seq, prev_hash, chained)
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc}") from exc
        for i, mirror in enumerate(self.mirrors):
            self._mirror(i, mirror, chained)
        return chained

    def check_mirrors(self) -> None:
        """Before a deploy changes anything: every mirror must be writable."""
        for mirror in self.mirrors:
            mirror.check()

    def _mirror(self, i: int, mirror: AuditMirror, record: dict[str, Any]) -> None:
        pending = self.backlog[i]
        pending.append(record)
        while pending:
            try:
                mirror.put(pending[0])
            except ShipsafeError as exc:
                if self.on_mirror_error is not None and len(pending) == 1:
                    self.on_mirror_error(f"audit mirror {mirror.url}: {exc} (will retry)")
                return
            pending.pop(0)

    def _anchor(self, prev_seq: int, prev_hash: str, chained: dict[str, Any]) -> None:
        if self.store is None:
            return
        expected = None if prev_seq == 0 else f"{prev_seq}:{prev_hash}"
        current = self.store.get_meta(self._anchor_key)
        if current is not None and current != expected:
            # the head we hold under the file lock disagrees with the store: keep the store's
            # record of the truth for `verify` and refuse to paper over it
            raise AuditError(
                f"audit log {self.path} does not continue from the head the state store "
                f"recorded ({current}); run shipsafe audit verify"
            )
        try:
            self.store.set_meta(self._anchor_key, f"{chained['seq']}:{chained['hash']}", current)
        except ConflictError as exc:
            raise AuditError(f"audit head changed concurrently: {exc}") from exc

    def records(self) -> Iterator[tuple[str, dict[str, Any] | None]]:
        try:
            with open(self.path, encoding="utf-8") as fh:
                for number, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        rec = None
                    yield f"{self.path}:{number}", rec if isinstance(rec, dict) else None
        except FileNotFoundError:
            raise AuditError(f"no audit log at {self.path}") from None

    def verify(self) -> Verification:
        anchor = None
        if self.store is not None:
            head = self.store.get_meta(self._anchor_key)
            if head:
                seq, _, digest = head.partition(":")
                anchor = (int(seq), digest)
        return verify_records(self.records(), anchor)


def _last(fh: Any) -> tuple[int, str]:
    """Sequence number and hash of the last record (0 and GENESIS for an empty log)."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return 0, GENESIS
    block = 65536
    fh.seek(max(0, size - block))
    tail = fh.read().decode("utf-8", errors="replace").rstrip("\n")
    last_line = tail.rsplit("\n", 1)[-1]
    try:
        rec = json.loads(last_line)
        return int(rec["seq"]), str(rec["hash"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(
            "the last audit record is damaged; run shipsafe audit verify"
        ) from exc
