"""`shipsafe validate PLAN` and `shipsafe schema`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shipsafe.cli.common import OutputOpt, exits


@exits
def validate(
    plan: Annotated[str, typer.Argument(help="The plan file (YAML).")],
    output: OutputOpt = "human",  # type: ignore[assignment]
) -> None:
    """Check a plan: structure, references, conditions. Exit 2 with every problem listed."""
    from shipsafe.plan.loader import load_plan
    from shipsafe.plan.steps import describe_step

    loaded = load_plan(plan)
    steps = loaded.effective_steps()
    if output == "json":
        typer.echo(
            json.dumps(
                {
                    "kind": "result",
                    "valid": True,
                    "plan": plan,
                    "digest": loaded.digest(),
                    "steps": [describe_step(s) for s in steps],
                }
            )
        )
        return
    meta = loaded.metadata
    typer.echo(
        f"{plan}: valid - {meta.name} {loaded.release.version} to {meta.environment} via "
        f"{loaded.target.router}, {len(steps)} steps, {len(loaded.breakers)} breaker(s)"
    )
    typer.echo(f"digest sha256:{loaded.digest()}")
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
