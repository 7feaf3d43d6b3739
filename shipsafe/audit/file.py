"""The default audit log: JSON lines in a file, hash-chained, appended under a file lock."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipsafe.audit.anchor import Anchor
from shipsafe.audit.chain import GENESIS, Verification, chain, verify_records
from shipsafe.audit.event_record import event_record
from shipsafe.audit.signature import RecordSigner
from shipsafe.audit.witness import AuditWitness
from shipsafe.errors import AuditError, ConflictError, ShipsafeError
from shipsafe.records import Event, canonical_json
from shipsafe.store.base import StateStore

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRoot


class AuditMirror(Protocol):
    """A second home for each chained record (e.g. an S3 bucket)."""

    @property
    def url(self) -> str: ...

    def check(self) -> None:
        """Raise ConfigurationError unless records can be written there."""
        ...

    def put(self, record: dict[str, Any]) -> None: ...


class FileAuditLog:
    def __init__(
        self,
        path: str | Path,
        store: StateStore | None = None,
        mirrors: list[AuditMirror] | None = None,
        witness: AuditWitness | None = None,
        signer: RecordSigner | None = None,
    ) -> None:
        self.path = Path(path)
        self.store = store
        # the writer's key (SHIPSAFE_KEY, when the trust root lists it) signs every record
        self.signer = signer
        self.mirrors = mirrors or []
        self.witness = witness  # named by the trust root: see audit/witness.py
        # records a mirror could not take yet, retried in order on the next append: a mirror
        # outage must not interrupt a rollout (least of all its rollback); the file log stays
        # complete and `audit verify --source` shows any gap that outlives this process
        self.backlog: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(self.mirrors))}
        self.on_mirror_error: Any = None
        self._anchor_key = f"audit_head:{self.path.resolve()}"
        self._anchor_text: str | None = None  # as last read: the anchor moves only from it

    def __call__(self, event: Event) -> None:
        self.append(event_record(event))

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        return self._locked_append(record)[-1]

    def repair(self, actor: str, accept_current: str | None = None) -> dict[str, Any] | None:
        """`shipsafe audit repair`: re-anchor a log that got ahead of its anchor (or, with a
        human's reason, one that no longer matches it). The audit_repaired record, or None
        when there was nothing to repair. Raises AuditError."""
        written = self._locked_append(None, actor, "shipsafe audit repair", accept_current)
        return written[-1] if written else None

    def _locked_append(
        self,
        record: dict[str, Any] | None,
        actor: str = "shipsafe",
        how: str = "automatic, at the next write after a crash",
        accept_current: str | None = None,
    ) -> list[dict[str, Any]]:
        """Append `record` under the file lock; first repair a log that is ahead of its anchor
        (a process killed between the write and the anchor update). Returns what was written."""
        written: list[dict[str, Any]] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    prev_seq, prev_hash = _last(fh)
                    current = self._current_anchor()
                    # no anchor yet (a new log, or a store newly given): count the intact chain
                    count = current.count if current is not None else prev_seq
                    if not _continues(current, prev_seq, prev_hash) or record is None:
                        prev_seq, prev_hash, count, written = self._repair(
                            fh, current, record, actor, how, accept_current
                        )
                    if record is not None:
                        chained = chain(record, prev_seq, prev_hash, self.signer)
                        _write(fh, [chained])
                        written.append(chained)
                        count += 1
                    if written:
                        head = written[-1]
                        self._move_anchor(current, Anchor(head["seq"], head["hash"], count))
                    if self.witness is not None:
                        for witnessed in written:
                            self.witness.put(self.path, witnessed)
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc}") from exc
        for chained in written:
            for i, mirror in enumerate(self.mirrors):
                self._mirror(i, mirror, chained)
        return written

    def _repair(
        self,
        fh: Any,
        current: Anchor | None,
        record: dict[str, Any] | None,
        actor: str,
        how: str,
        accept_current: str | None,
    ) -> tuple[int, str, int, list[dict[str, Any]]]:
        from shipsafe.audit.anchor import event_key
        from shipsafe.audit.repair import plan_repair, verify_list

        records = _all(fh)
        verification = verify_list(records, current)
        if self.store is None:
            raise AuditError("the audit log cannot be repaired without its state store")
        repair = plan_repair(
            records, verification, current, self.store, actor, how,
            skip=event_key(record) if record is not None else None,
            accept_current=accept_current,
        )
        prev_seq, prev_hash = verification.head_seq, verification.head_hash
        written: list[dict[str, Any]] = []
        if repair.needed:
            for body in [*map(event_record, repair.events), repair.note]:
                chained = chain(body, prev_seq, prev_hash, self.signer)
                written.append(chained)
                prev_seq, prev_hash = chained["seq"], chained["hash"]
            _write(fh, written)
        return prev_seq, prev_hash, verification.count + len(written), written

    def _current_anchor(self) -> Anchor | None:
        if self.store is None:
            return None
        text = self.store.get_meta(self._anchor_key)
        self._anchor_text = text
        if not text:
            return None
        try:
            return Anchor.parse(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(
                f"the audit anchor in the state store is damaged: {text[:80]!r}"
            ) from exc

    def _move_anchor(self, current: Anchor | None, new: Anchor) -> None:
        if self.store is None:
            return
        try:
            self.store.set_meta(self._anchor_key, new.dump(), self._anchor_text)
        except ConflictError as exc:
            raise AuditError(f"audit head changed concurrently: {exc}") from exc

    def check_mirrors(self) -> None:
        """Before a deploy changes anything: every mirror must be writable, the witness a
        witness."""
        if self.witness is not None:
            self.witness.check()
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

    def verify(self, root: TrustRoot | None = None) -> Verification:
        """The chain, its anchor, and the signatures of any records past the anchor (checked
        with the trust root's keys)."""
        return verify_records(self.records(), self._current_anchor(), root)


def _continues(anchor: Anchor | None, seq: int, digest: str) -> bool:
    """Does the log's last record (seq, digest) equal the anchored head?"""
    if anchor is None:
        return True  # no anchor yet: a new log, or a log without a store
    return (anchor.seq, anchor.hash) == (seq, digest)


def _write(fh: Any, records: list[dict[str, Any]]) -> None:
    fh.seek(0, os.SEEK_END)
    fh.write(b"".join(canonical_json(r).encode() + b"\n" for r in records))
    fh.flush()
    os.fsync(fh.fileno())


def _all(fh: Any) -> list[dict[str, Any]]:
    """Every record of the log (a line that is not a JSON object becomes {}: verify says so)."""
    fh.seek(0)
    out: list[dict[str, Any]] = []
    for line in fh.read().decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            rec = {}
        out.append(rec if isinstance(rec, dict) else {})
    return out


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
