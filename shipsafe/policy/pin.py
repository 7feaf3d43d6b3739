"""A copy of the trust root's signed document pinned in the state store.

The document (policy + actors' keys) is what the trust root's admins signed, so the copy
verifies anywhere the root does; it is verified on every read. A pinned copy with a higher
serial than the local root's wins (an admin signed it later: machines sharing a team store
get it without a config push); one with a lower serial is ignored (a replayed old copy
cannot loosen anything). A pin that does not verify - an edited policy, an added key, a
forged signature - refuses every deploy (PolicyViolation, exit 2) until a human pins a
signed document again. Pinning is a human act, signed with the human's key, and audited.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipsafe.errors import PolicyViolation, RefusedError
from shipsafe.records import Actor, ActorKind
from shipsafe.store.base import CoordinationStore

if TYPE_CHECKING:
    from shipsafe.trust.proofs import KeyProofs
    from shipsafe.trust.root import TrustRoot

PIN_KEY = "pinned_policy"


def pinned(store: CoordinationStore | None) -> dict[str, Any] | None:
    if store is None:
        return None
    raw = store.get_meta(PIN_KEY)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"damaged": raw[:40]}
    return value if isinstance(value, dict) else {"damaged": str(value)[:40]}


def pin(
    store: CoordinationStore, root: TrustRoot, actor: Actor, proofs: KeyProofs, now: datetime
) -> dict[str, Any]:
    """Pin the root's signed document. Only a human, proven by their key, may pin."""
    if actor.kind != ActorKind.HUMAN or not actor.verified:
        what = actor.kind.value if actor.verified else "unverified agent (no trusted key)"
        raise RefusedError(f"only a human with a key in the trust root pins; {actor.id} is {what}")
    from shipsafe.trust.proofs import PIN

    document = root.document.model_dump(mode="json", by_alias=True)
    signatures = root.signatures
    body = {"digest": root.digest, "serial": root.serial, "pinned_at": now.isoformat()}
    entry = {
        "document": document,
        "signatures": signatures,
        "digest": root.digest,
        "serial": root.serial,
        "source": root.source,
        "pinned_by": actor.model_dump(mode="json"),
        "pinned_at": now.isoformat(),
        "proof": proofs.sign(PIN, body),
    }
    current = store.get_meta(PIN_KEY)
    store.set_meta(PIN_KEY, json.dumps(entry, sort_keys=True), current)
    return entry


def effective_root(store: CoordinationStore | None, root: TrustRoot | None) -> TrustRoot | None:
    """The trust root this store's commands obey: the local root, or a newer document pinned
    in the store and signed by the same admins. PolicyViolation when the pin does not verify
    (or there is a pin and no root to verify it with)."""
    entry = pinned(store)
    if entry is None:
        return root
    where = f"the policy pinned in the state store {getattr(store, 'url', '')}".rstrip()
    if root is None:
        raise PolicyViolation(
            f"{where} cannot be verified: no trust root is configured here "
            "(SHIPSAFE_TRUST_ROOT or /etc/shipsafe/trust.yaml); every deploy is refused"
        )
    document = root.verify_copy(entry.get("document"), entry.get("signatures"))
    if document is None or not _pinned_by_human(root, entry):
        raise PolicyViolation(
            f"{where} does not verify against the trust root's admin keys (edited, forged or "
            "pinned without a human key); every deploy is refused until a human pins the "
            "signed policy again (shipsafe policy pin)"
        )
    if document.serial <= root.serial:
        return root
    return root.with_document(
        document, list(entry.get("signatures") or []),
        f"{root.source} (serial {document.serial}, pinned)",
    )


def _pinned_by_human(root: TrustRoot, entry: dict[str, Any]) -> bool:
    from shipsafe.trust.proofs import PIN, KeyProofs

    key = KeyProofs(root).signer(PIN, entry.get("proof"))
    payload = (entry.get("proof") or {}).get("payload", {})
    return key is not None and key.kind == ActorKind.HUMAN and payload.get(
        "digest") == _digest_of(root, entry)


def _digest_of(root: TrustRoot, entry: dict[str, Any]) -> str | None:
    from shipsafe.records import sha256_hex
    from shipsafe.trust.root import signed_payload

    document = root.verify_copy(entry.get("document"), entry.get("signatures"))
    if document is None:
        return None
    return sha256_hex(signed_payload(root.admins, root.threshold, document))
