"""Naming a rollout the way people think of it: its id, a unique prefix of its id, or its
service (and environment) - the rollout of that pair that is active now, or else the latest.

    shipsafe status demo-20261201-152858-ead6     # the id
    shipsafe status demo-20261201-15              # a unique prefix
    shipsafe rollback checkout --env production   # the active (or latest) checkout rollout
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shipsafe.errors import AmbiguousRollout, RolloutNotFound

if TYPE_CHECKING:
    from shipsafe.records import RolloutRecord
    from shipsafe.store.base import StateStore

# how many rollouts of one service are looked at to find the active one
_SERVICE_WINDOW = 50


def resolve(store: StateStore, ref: str, environment: str | None = None) -> RolloutRecord:
    """The rollout `ref` names. Raises AmbiguousRollout (exit 2, listing the candidates) for a
    prefix of several ids, RolloutNotFound when nothing matches."""
    by_id: RolloutRecord | None = None
    problem: RolloutNotFound | AmbiguousRollout | None = None
    if environment is None:
        try:
            by_id = store.get_rollout(ref)
        except (RolloutNotFound, AmbiguousRollout) as exc:
            problem = exc
        if by_id is not None and by_id.id == ref:
            return by_id
    # a service name is often also a prefix of its ids (`demo` of demo-2026...): the service wins
    of_service = store.list_rollouts(environment, ref, _SERVICE_WINDOW)
    if of_service:
        active = [r for r in of_service if not r.phase.terminal]
        if len(active) > 1 and environment is None:
            envs = sorted({r.environment for r in active})
            if len(envs) > 1:
                raise AmbiguousRollout(
                    f"{ref!r} is active in several environments ({', '.join(envs)}): "
                    f"add --env ENV, or name one of: {', '.join(r.id for r in active)}",
                    [r.id for r in active],
                )
        return (active or of_service)[0]
    if environment is not None:
        raise RolloutNotFound(f"no rollout of service {ref!r} in environment {environment!r}")
    if by_id is not None:
        return by_id
    if isinstance(problem, AmbiguousRollout):
        raise problem
    raise RolloutNotFound(
        f"no rollout {ref!r} (no id, id prefix or service of that name) in {store.url}; "
        "shipsafe list shows them"
    )


def resolve_id(state: str | None, ref: str, environment: str | None) -> str:
    """Open the store, resolve, close: the full id the engine's commands take."""
    from shipsafe.store import open_store

    store = open_store(state, create=False)
    try:
        return resolve(store, ref, environment).id
    finally:
        store.close()


def complete_rollouts(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Shell completion: ids and services of the store the command line names (or the
    default one), newest first. Never fails: a completion that raises breaks the shell."""
    try:
        from shipsafe.store import open_store

        state = ctx.params.get("state") if ctx is not None else None
        store = open_store(state, create=False)
    except Exception:
        return []
    try:
        records = store.list_rollouts(None, None, 200)
    except Exception:
        return []
    finally:
        store.close()
    found: dict[str, str] = {}
    for r in records:
        if r.service.startswith(incomplete) and r.service not in found:
            found[r.service] = f"service ({r.environment}, latest {r.phase.value})"
    for r in records:
        if r.id.startswith(incomplete):
            found.setdefault(r.id, f"{r.service} {r.version} {r.phase.value}")
    return list(found.items())


RolloutArg = Annotated[
    str,
    typer.Argument(
        help="Rollout id, a unique id prefix, or a SERVICE (its active rollout, or the latest).",
        autocompletion=complete_rollouts,
        metavar="ROLLOUT",
        show_default=False,
    ),
]
EnvOpt = Annotated[
    str | None,
    typer.Option(
        "--env",
        help="With a SERVICE: the rollout in this environment.",
        show_default=False,
    ),
]

