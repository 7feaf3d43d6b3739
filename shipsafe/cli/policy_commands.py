"""`shipsafe policy pin|show`: the policy every deploy against this state store obeys."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shipsafe.cli.common import (
    ActorOpt,
    AgentOpt,
    AuditOpt,
    Output,
    OutputOpt,
    Settings,
    StateOpt,
    TrustOpt,
    exits,
)

policy_app = typer.Typer(help="The organisation policy pinned in the state store.",
                         no_args_is_help=True)


@policy_app.command("pin")
@exits
def pin(
    policy: Annotated[
        str | None, typer.Argument(help="The policy file (omit with --builtin).")
    ] = None,
    builtin: Annotated[
        bool, typer.Option("--builtin", help="Pin the built-in policy.")
    ] = False,
    trust: TrustOpt = None,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
) -> None:
    """Pin a policy (and its trust file): from now on every deploy and validate against this
    store uses it, and refuses another. Only a human may pin; the change is audited."""
    from shipsafe.cli.common import open_audit
    from shipsafe.clock import SystemClock
    from shipsafe.errors import RefusedError, UsageError
    from shipsafe.identity import detect_actor
    from shipsafe.policy import builtin_policy, load_policy
    from shipsafe.policy.pin import pin as pin_policy
    from shipsafe.policy.pin import pinned
    from shipsafe.store import open_store

    if (policy is None) == (not builtin):
        raise UsageError("give a policy file, or --builtin")
    settings = Settings(state=state, output=output, actor=actor, agent=agent, audit_log=audit_log)
    who = detect_actor(actor, agent)
    loaded = builtin_policy(trust) if builtin else load_policy(policy, trust)
    store = open_store(settings.state)
    try:
        before = pinned(store)
        audit = open_audit(settings, store)
        now = SystemClock().now()
        try:
            document = pin_policy(store, loaded, who, now)
        except RefusedError as exc:
            audit.append(
                {
                    "rollout_id": "-",
                    "type": "policy_pin_refused",
                    "time": now.isoformat(),
                    "actor": who.id,
                    "message": exc.message,
                    "data": {"digest": loaded.digest, "by": who.model_dump(mode="json")},
                }
            )
            raise
        audit.append(
            {
                "rollout_id": "-",
                "type": "policy_pinned",
                "time": document["pinned_at"],
                "actor": who.id,
                "message": f"policy {loaded.source} pinned by {who.label()}",
                "data": {
                    "digest": loaded.digest,
                    "trust_digest": loaded.trust_digest,
                    "previous_digest": before["digest"] if before else None,
                    "by": who.model_dump(mode="json"),
                },
            }
        )
    finally:
        store.close()
    if settings.json:
        typer.echo(json.dumps({"kind": "result", "pinned": loaded.source,
                               "digest": loaded.digest, "trust_digest": loaded.trust_digest}))
    else:
        typer.echo(
            f"pinned {loaded.source} (sha256:{loaded.digest[:12]}"
            + (f", trust sha256:{loaded.trust_digest[:12]}" if loaded.trust_digest else "")
            + f") in {store.url}"
        )


@policy_app.command("show")
@exits
def show(state: StateOpt = None, output: OutputOpt = Output.human) -> None:
    """The pinned policy's origin, digest and who pinned it (nothing pinned: exit 0, says so)."""
    from shipsafe.policy.pin import pinned
    from shipsafe.store import open_store

    store = open_store(state, create=False)
    try:
        document = pinned(store)
    finally:
        store.close()
    if output == Output.json:
        typer.echo(json.dumps({"kind": "result", "pinned": document}))
        return
    if document is None:
        typer.echo("no policy pinned: each command uses --policy, SHIPSAFE_POLICY or the "
                   "built-in policy")
        return
    typer.echo(
        f"pinned {document['source']} sha256:{document['digest'][:12]} by "
        f"{document['pinned_by']['id']} at {document['pinned_at']}"
        + (f"; trust sha256:{document['trust_digest'][:12]}" if document["trust_digest"] else "")
    )
