"""`shipsafe policy pin|show`: the trust root's signed policy, and its copy in a store."""

from __future__ import annotations

import json

import typer

from shipsafe.cli.common import (
    ActorOpt,
    AgentOpt,
    AuditOpt,
    Output,
    OutputOpt,
    Settings,
    StateOpt,
    exits,
)

policy_app = typer.Typer(help="The organisation policy pinned in the state store.",
                         no_args_is_help=True)


@policy_app.command("pin")
@exits
def pin(
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
) -> None:
    """Copy the trust root's signed policy and keys into the state store: machines sharing
    the store use it when it is newer than their own root. Only a human whose key
    (SHIPSAFE_KEY) is in the trust root may pin; the pin is signed, verified on every read,
    and audited. Change the policy itself with `shipsafe trust sign-policy` (admins)."""
    from shipsafe.cli.common import open_audit
    from shipsafe.clock import SystemClock
    from shipsafe.errors import PolicyViolation, RefusedError
    from shipsafe.identity import resolve_actor
    from shipsafe.policy.pin import pin as pin_policy
    from shipsafe.policy.pin import pinned
    from shipsafe.store import open_store
    from shipsafe.trust.loading import load_root

    settings = Settings(state=state, output=output, actor=actor, agent=agent, audit_log=audit_log)
    store = open_store(settings.state)
    try:
        audit = open_audit(settings, store)
        now = SystemClock().now()
        root = None
        credentials = None
        try:
            root = load_root()
            credentials = resolve_actor(actor, agent, root)
            if root is None:
                raise PolicyViolation(
                    "no trust root is configured (SHIPSAFE_TRUST_ROOT or "
                    "/etc/shipsafe/trust.yaml): there is no signed policy to pin"
                )
            before = pinned(store)
            entry = pin_policy(store, root, credentials.actor, credentials.proofs, now)
        except (RefusedError, PolicyViolation) as exc:
            shown = credentials.actor if credentials else resolve_actor(actor, agent).actor
            by = shown.model_dump(mode="json")
            audit.append(
                {
                    "rollout_id": "-",
                    "type": "policy_pin_refused",
                    "time": now.isoformat(),
                    "actor": by["id"],
                    "message": exc.message,
                    "data": {"by": by},
                }
            )
            raise
        who = credentials.actor
        audit.append(
            {
                "rollout_id": "-",
                "type": "policy_pinned",
                "time": entry["pinned_at"],
                "actor": who.id,
                "message": f"trust root {root.source} (serial {root.serial}) pinned by "
                f"{who.label()}",
                "data": {
                    "digest": root.digest,
                    "serial": root.serial,
                    "previous_digest": (before or {}).get("digest"),
                    "by": who.model_dump(mode="json"),
                },
            }
        )
    finally:
        store.close()
    if settings.json:
        typer.echo(json.dumps({"kind": "result", "pinned": root.source,
                               "digest": root.digest, "serial": root.serial}))
    else:
        typer.echo(
            f"pinned trust root {root.source} (serial {root.serial}, "
            f"sha256:{root.digest[:12]}) in {store.url}"
        )


@policy_app.command("show")
@exits
def show(state: StateOpt = None, output: OutputOpt = Output.human) -> None:
    """The policy in force for this store, verified now: the trust root's (or a newer signed
    copy pinned in the store). Exit 2 when the root or the pin does not verify."""
    from shipsafe.policy import load_policy
    from shipsafe.policy.pin import effective_root, pinned
    from shipsafe.store import open_store
    from shipsafe.trust.loading import load_root

    try:
        store = open_store(state, create=False)
    except Exception:  # no store yet: the root alone
        store = None
    try:
        entry = pinned(store)
        root = effective_root(store, load_root())
        loaded = load_policy(store=store, root=root)
    finally:
        if store is not None:
            store.close()
    document = {
        "source": loaded.source,
        "digest": loaded.digest,
        "trust_digest": loaded.trust_digest,
        "serial": root.serial if root else None,
        "keys": [k.model_dump(mode="json", exclude={"public_key"})
                 for k in loaded.trusted_keys or []],
        "pinned_by": (entry or {}).get("pinned_by"),
    }
    if output == Output.json:
        typer.echo(json.dumps({"kind": "result", "policy": document}))
        return
    if root is None:
        typer.echo("no trust root: the built-in policy applies and no key is trusted (every "
                   "actor is an unverified agent)")
        return
    typer.echo(
        f"{loaded.source} serial {root.serial} sha256:{root.digest[:12]}, verified; "
        f"{len(loaded.trusted_keys or [])} key(s): "
        + ", ".join(f"{k.identity} ({k.kind.value})" for k in loaded.trusted_keys or [])
    )
