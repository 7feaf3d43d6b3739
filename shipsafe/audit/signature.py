"""The writer's signature on each audit record.

    record = {seq, time, rollout_id, type, ..., prev, proof, hash}
    proof  = {"payload": {purpose, key_id, digest}, "signature": base64}
    digest = sha256(canonical(record without proof and hash))

A writer whose key (SHIPSAFE_KEY) the trust root lists signs every record it chains; the
record's hash covers the proof, so a signature cannot be stripped without breaking the chain.
The proof holds the key's id, the digest and the signature: nothing secret. Verification looks
the key up in the trust root (shipsafe.trust.proofs), so a self-made key, or one the root does
not list, signs nothing. What needs a signature: the records past the anchor (records the
state store's anchor does not vouch for yet; see shipsafe.audit.anchor).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Protocol

from shipsafe.records import canonical_json

if TYPE_CHECKING:
    from shipsafe.records import TrustedKey
    from shipsafe.trust.root import TrustRoot

AUDIT_RECORD = "shipsafe-audit-record/v1"


class RecordSigner(Protocol):
    """What signs: shipsafe.trust.proofs.KeyProofs (None from sign when it holds no key)."""

    def sign(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | None: ...


def digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in ("hash", "proof")}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def proof_for(signer: RecordSigner | None, record: dict[str, Any]) -> dict[str, Any] | None:
    """The writer's proof over a chained record (seq and prev set, no hash yet), or None."""
    if signer is None:
        return None
    return signer.sign(AUDIT_RECORD, {"digest": digest(record)})


def signer_of(root: TrustRoot | None, record: dict[str, Any]) -> TrustedKey | None:
    """The trust root's entry for the key that signed this record, or None: unsigned, signed
    by a key the root does not list, or signed over something other than this record."""
    from shipsafe.trust.proofs import KeyProofs

    proof = record.get("proof")
    if root is None or not isinstance(proof, dict):
        return None
    payload = proof.get("payload")
    if not isinstance(payload, dict) or payload.get("digest") != digest(record):
        return None
    return KeyProofs(root).signer(AUDIT_RECORD, proof)
