"""The hash chain: each audit record carries the hash of the one before it.

    record = {seq, time, rollout_id, type, ..., prev}   hash = sha256(canonical(record))

Editing a record breaks its hash; removing or reordering breaks `prev` or `seq`; cutting
records off the end, or replacing the log, is caught by comparing with the anchor the state
store holds (shipsafe.audit.anchor).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipsafe.audit.signature import RecordSigner, proof_for
from shipsafe.records import canonical_json

if TYPE_CHECKING:
    from shipsafe.audit.anchor import Anchor
    from shipsafe.trust.root import TrustRoot

GENESIS = "0" * 64


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def chain(
    record: dict[str, Any], prev_seq: int, prev_hash: str, signer: RecordSigner | None = None
) -> dict[str, Any]:
    """The record numbered and linked after (prev_seq, prev_hash); signed by `signer`'s key
    when it holds one (shipsafe.audit.signature), the proof inside what the hash covers."""
    out = {k: v for k, v in record.items() if k not in ("seq", "prev", "proof", "hash")}
    out["seq"] = prev_seq + 1
    out["prev"] = prev_hash
    proof = proof_for(signer, out)
    if proof is not None:
        out["proof"] = proof
    out["hash"] = record_hash(out)
    return out


@dataclass
class Verification:
    ok: bool
    count: int
    head_seq: int
    head_hash: str
    problems: list[str]
    notes: list[str] = field(default_factory=list)  # true and worth saying, not a break


def verify_records(
    records: Iterable[tuple[str, dict[str, Any] | None]],
    anchor: Anchor | tuple[int, str] | None = None,
    root: TrustRoot | None = None,
    *,
    signed_tail: bool = True,
) -> Verification:
    """Check a chain given (location, record) pairs; record None means unparsable. With the
    store's anchor, also that the log is neither shorter than it nor another log, and (unless
    `signed_tail` is False: the repair checks the tail against the store instead) that every
    record past the anchor is signed by a key the trust root `root` lists."""
    from shipsafe.audit import anchor as anchors

    problems: list[str] = []
    prev_seq, prev_hash, count = 0, GENESIS, 0
    hash_at: dict[int, str] = {}
    anchored = anchors.Anchor.of(anchor) if anchor is not None else None
    tail: list[dict[str, Any]] = []
    for where, rec in records:
        count += 1
        if rec is None:
            problems.append(f"{where}: not a JSON audit record")
            continue
        seq = rec.get("seq")
        if anchored is not None and isinstance(seq, int) and seq > anchored.seq:
            tail.append(rec)
        if rec.get("hash") != record_hash(rec):
            problems.append(f"{where}: record {seq} was altered (its hash does not match)")
        if rec.get("prev") != prev_hash:
            problems.append(
                f"{where}: record {seq} does not follow record {prev_seq} "
                "(a record was removed, inserted or reordered)"
            )
        if seq != prev_seq + 1:
            problems.append(f"{where}: sequence jumps from {prev_seq} to {seq}")
        prev_seq = seq if isinstance(seq, int) else prev_seq + 1
        prev_hash = str(rec.get("hash"))
        hash_at[prev_seq] = prev_hash
    notes: list[str] = []
    if anchored is not None:
        found, notes = anchors.check(anchored, prev_seq, count, hash_at)
        if not found and signed_tail and tail:
            found, notes = anchors.check_tail(anchored, tail, root)
        problems += found
    return Verification(not problems, count, prev_seq, prev_hash, problems, notes)
