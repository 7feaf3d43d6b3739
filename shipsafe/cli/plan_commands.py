"""`shipsafe validate PLAN` and `shipsafe schema`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from shipsafe.cli.common import OutputOpt, PolicyOpt, SetOpt, StateOpt, TrustOpt, exits

if TYPE_CHECKING:
    from shipsafe.store.base import StateStore


@exits
def validate(
    plan: Annotated[str, typer.Argument(help="The plan file (YAML).")],
    output: OutputOpt = "human",  # type: ignore[assignment]
    policy: PolicyOpt = None,
    trust: TrustOpt = None,
    emergency: Annotated[
        bool, typer.Option("--emergency", help="Check as for deploy --emergency.")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="As for deploy.")] = None,
    state: StateOpt = None,
    set_: SetOpt = None,
) -> None:
    """Check a plan: structure, references, conditions, and the policy (every finding with
    the threat it guards against; the policy pinned in the state store, if any). Exit 2 with
    every problem listed."""
    from shipsafe.errors import PolicyViolation
    from shipsafe.identity import resolve_actor
    from shipsafe.plan.loader import load_plan
    from shipsafe.plan.steps import describe_step
    from shipsafe.plan.substitute import Substitutions
    from shipsafe.policy import Request, Severity, findings_for_plan, load_policy
    from shipsafe.policy.pin import effective_root
    from shipsafe.trust.loading import load_root

    substitutions = Substitutions.from_options(set_)
    loaded = load_plan(plan, substitutions)
    store = _existing_store(state)
    root = effective_root(store, load_root())
    rules = load_policy(policy, trust, store, root=root)
    actor = resolve_actor(root=root).actor
    request = Request(
        actor_kind=actor.kind.value, emergency=emergency, reason=reason,
        verified=actor.verified,
    )
    findings = findings_for_plan(loaded, rules, request)
    errors = [f for f in findings if f.severity == Severity.ERROR]
    steps = loaded.effective_steps()
    if output == "json":
        typer.echo(
            json.dumps(
                {
                    "kind": "result",
                    **({"error": "policy.violation", "exit_code": 2} if errors else {}),
                    "valid": not errors,
                    "plan": plan,
                    "digest": loaded.digest(),
                    "substitutions": substitutions.applied,
                    "policy": rules.source,
                    "policy_digest": rules.digest,
                    "findings": [f.to_json() for f in findings],
                    "steps": [describe_step(s) for s in steps],
                }
            )
        )
        if errors:
            raise typer.Exit(2)
        return
    for finding in findings:
        typer.echo(finding.line(), err=finding.severity == Severity.ERROR)
    if errors:
        raise PolicyViolation(
            f"{plan}: {len(errors)} policy error(s) under policy {rules.source}",
            [f"{plan}: {len(errors)} policy error(s) under policy {rules.source} "
             f"(sha256:{rules.digest[:12]}); nothing was changed"],
        )
    meta = loaded.metadata
    typer.echo(
        f"{plan}: valid - {meta.name} {loaded.release.version} to {meta.environment} via "
        f"{loaded.target.router}, {len(steps)} steps, {len(loaded.breakers)} breaker(s)"
    )
    typer.echo(
        f"digest sha256:{loaded.digest()}"
        + (f" (with {', '.join(substitutions.applied)})" if substitutions.applied else "")
    )
    typer.echo(f"policy {rules.source} sha256:{rules.digest[:12]}: no errors")
    for i, step in enumerate(steps, 1):
        typer.echo(f"  {i}. {describe_step(step)}")


@exits
def schema() -> None:
    """Print the plan's JSON Schema (for editors: yaml-language-server $schema)."""
    from shipsafe.plan.models import Plan

    document = Plan.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "shipsafe plan"
    typer.echo(json.dumps(document, indent=2))


def _existing_store(state: str | None) -> StateStore | None:
    """The state store if there is one (for its pinned policy); validate creates nothing."""
    from shipsafe.errors import UsageError
    from shipsafe.store import open_store

    try:
        return open_store(state, create=False)
    except UsageError:  # no store here yet: no pin
        return None
