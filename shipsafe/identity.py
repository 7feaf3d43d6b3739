"""Who is acting: proven by the key in SHIPSAFE_KEY, named and classed by the trust root.

`--actor` / SHIPSAFE_ACTOR is only a display label. The kind (human, ci, agent) comes from
the trust root's entry for the key; without a key, or with a key the root does not list,
the actor is an unverified agent. `--agent` / SHIPSAFE_AGENT may only lower the kind to
agent (an honest declaration), never raise it.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipsafe.records import Actor, ActorKind

if TYPE_CHECKING:
    from shipsafe.trust.proofs import KeyProofs
    from shipsafe.trust.root import TrustRoot

TRUTHY = {"1", "true", "yes", "on"}
KEY_ENV = "SHIPSAFE_KEY"


@dataclass
class Credentials:
    actor: Actor
    proofs: KeyProofs


def resolve_actor(
    label: str | None = None,
    agent: bool = False,
    root: TrustRoot | None = None,
    environ: Mapping[str, str] | None = None,
    key_path: str | None = None,
) -> Credentials:
    """The acting identity: the key (SHIPSAFE_KEY, or key_path) looked up in the root."""
    from shipsafe.trust.keys import key_id, load_private, raw_public_of
    from shipsafe.trust.proofs import KeyProofs

    env = os.environ if environ is None else environ
    host = socket.gethostname()
    path = key_path or env.get(KEY_ENV) or None
    private: Any = load_private(Path(path)) if path else None
    trusted = None
    kid = None
    if private is not None:
        kid = key_id(raw_public_of(private))
        trusted = root.key(kid) if root is not None else None
    declared_agent = agent or env.get("SHIPSAFE_AGENT", "").lower() in TRUTHY
    kind = ActorKind.AGENT if trusted is None or declared_agent else trusted.kind
    shown = label or env.get("SHIPSAFE_ACTOR") or (
        trusted.identity if trusted else f"{_user(env)}@{host}"
    )
    actor = Actor(
        id=shown,
        kind=kind,
        host=host,
        identity=trusted.identity if trusted else None,
        key_id=kid if trusted else None,
    )
    return Credentials(actor, KeyProofs(root, private if trusted else None))


def detect_actor(
    actor: str | None = None,
    agent: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Actor:
    """The actor as resolved against the configured trust root (see resolve_actor)."""
    from shipsafe.trust.loading import load_root

    return resolve_actor(actor, agent, load_root(environ), environ).actor


def _user(env: Mapping[str, str]) -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return env.get("USER", "unknown")
