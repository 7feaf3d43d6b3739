"""Signed evidence: the deploy, data-snapshot records and control commands are signed with
the actor's key (SHIPSAFE_KEY) and verified against the trust root whenever they are used.

A proof is `{"payload": {purpose, ..., key_id}, "signature": base64}`; `signer` returns the
trust root's entry for the key that made it, or None when it does not verify (forged,
edited, a key the root does not list, or no proof at all).
"""

from __future__ import annotations

from typing import Any

from shipsafe.records import TrustedKey
from shipsafe.trust import keys
from shipsafe.trust.root import TrustRoot

DEPLOY = "shipsafe-deploy/v1"
DATA_SNAPSHOT = "shipsafe-data-snapshot/v1"
COMMAND = "shipsafe-command/v1"
PIN = "shipsafe-policy-pin/v1"


class KeyProofs:
    """Signs with this process's key (if any); verifies with the trust root (if any)."""

    def __init__(
        self, root: TrustRoot | None, private: Any | None = None, witness: Any | None = None
    ) -> None:
        self.root = root
        self.private = private
        # the audit witness the root names (anything with entries()), set by whoever built it
        self.witness = witness
        self.key_id = keys.key_id(keys.raw_public_of(private)) if private is not None else None

    def sign(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.private is None:
            return None
        payload = {**body, "purpose": purpose, "key_id": self.key_id}
        return {"payload": payload, "signature": keys.sign(self.private, payload)}

    def signer(self, purpose: str, signed: Any) -> TrustedKey | None:
        if self.root is None or not isinstance(signed, dict):
            return None
        payload = signed.get("payload")
        if not isinstance(payload, dict) or payload.get("purpose") != purpose:
            return None
        key = self.root.key(str(payload.get("key_id", "")))
        if key is None or not keys.verifies(key.public_key, payload, signed.get("signature")):
            return None
        return key

    def witnessed(self, rollout_id: str, name: str) -> list[str] | None:
        """The record digests the audit witness holds for rollout's data snapshot `name`
        (every one appended for it, in order), or None when there is no witness. Anyone may
        append to a file witness, so a caller requires them all to agree."""
        if self.witness is None:
            return None
        return [
            str(entry.get("snapshot_sha256"))
            for entry in self.witness.entries()
            if entry.get("rollout_id") == rollout_id
            and entry.get("type") == "data_snapshot_taken"
            and entry.get("snapshot") == name
        ]
