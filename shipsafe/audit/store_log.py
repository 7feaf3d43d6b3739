"""The audit log of a team store (DynamoDB): the hash chain lives in the store itself, one
item per record, so every machine of the team appends to one chain and nothing is left in
anyone's working directory.

Appending is two conditional writes: the record at `audit:record:<seq+1>` (only if absent),
then the head `audit:head` (only if unchanged). A writer that loses the first race reads the
winner's record, helps the head along, and tries again with the next number; a process that
dies between the two writes leaves a record the next writer finishes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from shipsafe.audit.chain import GENESIS, Verification, chain, verify_records
from shipsafe.audit.file import AuditMirror, FileAuditLog
from shipsafe.audit.signature import RecordSigner
from shipsafe.audit.witness import AuditWitness
from shipsafe.errors import AuditError, ConflictError, StoreError
from shipsafe.records import canonical_json
from shipsafe.store.base import StateStore

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRoot

HEAD = "audit:head"
ATTEMPTS = 50


def log_url(store_url: str) -> str:
    """How a witness names the chain inside a team store."""
    return f"{store_url}#audit"


def is_log_url(log: str) -> bool:
    return "://" in log and log.endswith("#audit")


def _record_key(seq: int) -> str:
    return f"audit:record:{seq:012d}"


class StoreAuditLog(FileAuditLog):
    """Same contract as the file log (append, mirrors, records, verify); no file."""

    def __init__(
        self,
        store: StateStore,
        mirrors: list[AuditMirror] | None = None,
        signer: RecordSigner | None = None,
        witness: AuditWitness | None = None,
    ) -> None:
        super().__init__(f"{store.url}#audit", store, mirrors, witness=witness, signer=signer)
        self.team_store = store
        self.location = f"{store.url} (audit records in the store)"
        self.log_id = log_url(store.url)  # how the witness names this chain

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        store = self.team_store
        try:
            for _ in range(ATTEMPTS):
                head = store.get_meta(HEAD)
                seq, digest = _parse(head)
                chained = chain(record, seq, digest, self.signer)
                try:
                    store.set_meta(_record_key(seq + 1), canonical_json(chained), None)
                except ConflictError:
                    self._advance(seq + 1, head)  # someone else took seq+1: help, retry
                    continue
                # a conflict: another writer already moved the head past our record
                with suppress(ConflictError):
                    store.set_meta(HEAD, f"{chained['seq']}:{chained['hash']}", head)
                break
            else:
                raise AuditError(f"{self.location}: too much contention to append")
        except StoreError as exc:
            raise AuditError(f"cannot write the audit log in {store.url}: {exc}") from exc
        if self.witness is not None:  # the trust root's witness: the same for every machine
            self.witness.put(self.log_id, chained)
        for i, mirror in enumerate(self.mirrors):
            self._mirror(i, mirror, chained)
        return chained

    def repair(self, actor: str, accept_current: str | None = None) -> dict[str, Any] | None:
        """`shipsafe audit repair` for the chain in the store, as for a file log: records past
        the head (a writer killed between its record and the head) are accepted only when each
        is an event the store holds; the store's events of those rollouts that the chain
        lacks are chained on; then one audit_repaired record. With a human's reason, a chain
        that no longer matches its head is re-anchored. Returns the audit_repaired record, or
        None when there was nothing to repair. Raises AuditError."""
        from shipsafe.audit.anchor import Anchor
        from shipsafe.audit.event_record import event_record
        from shipsafe.audit.repair import plan_repair, verify_list

        store = self.team_store
        try:
            head = store.get_meta(HEAD)
            seq, digest = _parse(head)
            anchor = Anchor(seq, digest, seq) if head else None
            records = [rec or {} for _, rec in self.records()]
            verification = verify_list(records, anchor)
            repair = plan_repair(records, verification, anchor, store, actor,
                                 "shipsafe audit repair", accept_current=accept_current)
            if not repair.needed:
                return None
            # the head moves over what was accepted; a writer that moved it meanwhile wins
            # and the repair is asked for again
            try:
                store.set_meta(HEAD, f"{verification.head_seq}:{verification.head_hash}", head)
            except ConflictError:
                raise AuditError(
                    f"{self.location}: the audit head moved while repairing; run it again"
                ) from None
        except StoreError as exc:
            raise AuditError(f"cannot repair the audit log in {store.url}: {exc}") from exc
        for event in repair.events:
            self.append(event_record(event))
        return self.append(repair.note)

    def _advance(self, seq: int, head: str | None) -> None:
        raw = self.team_store.get_meta(_record_key(seq))
        if raw is None:
            return
        try:
            taken = json.loads(raw)
            self.team_store.set_meta(HEAD, f"{seq}:{taken['hash']}", head)
        except (ValueError, KeyError, TypeError, ConflictError):
            pass  # a damaged record is verify's to report; a moved head is fine

    def records(self) -> Iterator[tuple[str, dict[str, Any] | None]]:
        seq = 1
        while True:
            raw = self.team_store.get_meta(_record_key(seq))
            if raw is None:
                return
            try:
                rec = json.loads(raw)
            except ValueError:
                rec = None
            where = f"{self.team_store.url} audit record {seq}"
            yield where, rec if isinstance(rec, dict) else None
            seq += 1

    def verify(self, root: TrustRoot | None = None) -> Verification:
        head = self.team_store.get_meta(HEAD)
        anchor = _parse(head) if head else None
        return verify_records(self.records(), anchor, root)


def _parse(head: str | None) -> tuple[int, str]:
    if not head:
        return 0, GENESIS
    seq, _, digest = head.partition(":")
    try:
        return int(seq), digest
    except ValueError:
        raise AuditError(f"the audit head in the store is damaged ({head!r})") from None
