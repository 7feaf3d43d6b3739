"""`shipsafe aws ...`: helpers for running shipsafe on AWS."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from shipsafe.cli.common import StateOpt, exits

aws_group = typer.Typer(help="AWS helpers: the IAM policy a plan needs.", no_args_is_help=True)


@aws_group.command("permissions")
@exits
def permissions(
    plan: Annotated[str, typer.Argument(help="The plan file (YAML).")],
    state: StateOpt = None,
    audit_s3: Annotated[
        str | None,
        typer.Option(
            "--audit-s3",
            envvar="SHIPSAFE_AUDIT_S3",
            help="The S3 audit mirror (s3://BUCKET/PREFIX) the deploy will write to.",
            show_default=False,
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="As for deploy (release.version=...).", show_default=False),
    ] = None,
) -> None:
    """Print the least-privilege IAM policy (JSON) that deploying and rolling back this plan
    needs: its router, CloudWatch sources, data snapshots, and the team store (--state
    dynamodb://TABLE) and audit bucket (--audit-s3) when given, the S3 witness the trust root
    names and the team table a trust root location file names. Scoped to the resources the
    plan names wherever IAM allows; `store init` needs dynamodb:CreateTable besides."""
    from shipsafe.aws_permissions import policy_for
    from shipsafe.plan.loader import load_plan
    from shipsafe.plan.substitute import Substitutions

    loaded = load_plan(plan, Substitutions.from_options(set_))
    witness, root_table = _trust_root_parts()
    document = policy_for(loaded, state or os.environ.get("SHIPSAFE_STATE"), audit_s3,
                          witness=witness, root_table=root_table)
    typer.echo(json.dumps(document, indent=2))


def _trust_root_parts() -> tuple[str | None, str | None]:
    """The audit witness the trust root in force names, and the team table its location file
    names (None, None without a root). A root that does not load or verify is refused (exit
    2), as by every command; one in a table the caller may write is not (the admins who
    publish it run this to write the deployers' policy: it describes the root, never uses
    it)."""
    import yaml

    from shipsafe.trust.loading import load_root
    from shipsafe.trust.root import root_path
    from shipsafe.trust.store_root import location_of

    root = load_root(describe_only=True)
    if root is None:
        return None, None
    try:
        data = yaml.safe_load(root_path()[0].read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    location = location_of(data)
    return root.document.audit_witness, location.table if location is not None else None
