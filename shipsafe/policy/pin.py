"""The policy pinned in the state store: the rules every deploy against that store obeys.

Without a pin, whoever runs `deploy` chooses the policy (`--policy`, SHIPSAFE_POLICY), so an
over-eager agent could hand itself a permissive one. Once a human pins a policy (and its
trust file) into the store, deploys and validations against that store use it by default,
and one that names another policy is refused (exit 2) before anything changes. Changing the
pin is a human act and lands in the audit log.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shipsafe.errors import PolicyViolation, RefusedError
from shipsafe.records import Actor, ActorKind, TrustedKey
from shipsafe.store.base import CoordinationStore

PIN_KEY = "pinned_policy"


def pinned(store: CoordinationStore | None) -> dict[str, Any] | None:
    if store is None:
        return None
    raw = store.get_meta(PIN_KEY)
    return None if raw is None else dict(json.loads(raw))


def pin(store: CoordinationStore, loaded: Any, actor: Actor, now: datetime) -> dict[str, Any]:
    """Store `loaded` (a LoadedPolicy) as the pin. Only a human may change policy."""
    if actor.kind != ActorKind.HUMAN:
        raise RefusedError(
            f"only a human pins the policy; {actor.id} acts as {actor.kind.value}"
        )
    document = {
        "policy": loaded.policy.model_dump(mode="json", by_alias=True),
        "source": loaded.source,
        "digest": loaded.digest,
        "trusted_keys": (
            None
            if loaded.trusted_keys is None
            else [k.model_dump(mode="json") for k in loaded.trusted_keys]
        ),
        "trust_digest": loaded.trust_digest,
        "trust_source": loaded.trust_source,
        "pinned_by": actor.model_dump(mode="json"),
        "pinned_at": now.isoformat(),
    }
    current = store.get_meta(PIN_KEY)
    store.set_meta(PIN_KEY, json.dumps(document, sort_keys=True), current)
    return document


def enforce(store: CoordinationStore | None, chosen: Any | None, explicit: bool) -> Any | None:
    """The policy a command must use: the pin when there is one (an explicitly chosen policy
    must then be the pinned one, trust file included); else None (the caller's choice)."""
    from shipsafe.policy import LoadedPolicy
    from shipsafe.policy.model import Policy

    document = pinned(store)
    if document is None:
        return None
    if explicit and chosen is not None and (
        chosen.digest != document["digest"] or chosen.trust_digest != document["trust_digest"]
    ):
        what = "policy" if chosen.digest != document["digest"] else "trust file"
        raise PolicyViolation(
            f"the {what} given ({chosen.source}, sha256:{chosen.digest[:12]}) is not the one "
            f"pinned in the state store (from {document['source']}, "
            f"sha256:{document['digest'][:12]}, pinned by {document['pinned_by']['id']}); "
            "a change of policy is pinned by a human: shipsafe policy pin FILE"
        )
    keys = document.get("trusted_keys")
    return LoadedPolicy(
        policy=Policy.model_validate(document["policy"]),
        source=f"pinned ({document['source']})",
        digest=document["digest"],
        trusted_keys=None if keys is None else [TrustedKey.model_validate(k) for k in keys],
        trust_digest=document.get("trust_digest"),
        trust_source=document.get("trust_source"),
    )
