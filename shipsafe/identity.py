"""Who is acting, as what kind (human, CI job, agent), from which host."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping

from shipsafe.records import Actor, ActorKind

TRUTHY = {"1", "true", "yes", "on"}


def detect_actor(
    actor: str | None = None,
    agent: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Actor:
    """`--actor` / SHIPSAFE_ACTOR (default user@host); agent if declared, CI if CI=true."""
    env = os.environ if environ is None else environ
    host = socket.gethostname()
    actor_id = actor or env.get("SHIPSAFE_ACTOR") or f"{_user(env)}@{host}"
    if agent or env.get("SHIPSAFE_AGENT", "").lower() in TRUTHY:
        kind = ActorKind.AGENT
    elif env.get("CI", "").lower() in TRUTHY:
        kind = ActorKind.CI
    else:
        kind = ActorKind.HUMAN
    return Actor(id=actor_id, kind=kind, host=host)


def _user(env: Mapping[str, str]) -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return env.get("USER", "unknown")
