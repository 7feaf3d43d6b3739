"""Commands for the team stores: `shipsafe store init` and `shipsafe audit verify --source`.

    shipsafe store init --state dynamodb://TABLE    create the shared table (idempotent)
    shipsafe audit verify --source s3://B/PREFIX    verify the audit chain from S3 alone

`store` is registered in shipsafe/cli/app.py. `verify_source` is what `audit verify
--source` calls; until audit_commands.py has that option, the same command runs as
`python -m shipsafe.cli.aws_commands audit verify --source s3://B/PREFIX`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shipsafe.cli.common import Output, OutputOpt, StateOpt, exits
from shipsafe.errors import AuditError, UsageError

store_app = typer.Typer(help="The state store.", no_args_is_help=True)


@store_app.command("init")
@exits
def store_init(state: StateOpt = None, output: OutputOpt = Output.human) -> None:
    """Create the state store: dynamodb://TABLE[?region=R] makes the shared table
    (on-demand capacity, TTL on lock leases); a path makes the SQLite file. Idempotent."""
    from shipsafe.store import state_url

    url = state_url(state)
    if url.startswith("dynamodb://"):
        from shipsafe.store.dynamodb import DynamoDBStore

        message = DynamoDBStore.init(url)
    elif "://" in url:
        raise UsageError(f"{url}: a state store is a file path or dynamodb://TABLE")
    else:
        from shipsafe.store import ensure_private_dir
        from shipsafe.store.sqlite import SQLiteStore

        existed = Path(url).exists()
        ensure_private_dir(url)
        SQLiteStore.open(Path(url), create=True).close()
        message = f"SQLite state store {url} {'exists already' if existed else 'created'}"
    if output == Output.json:
        typer.echo(json.dumps({"kind": "result", "ok": True, "store": url, "message": message}))
    else:
        typer.echo(message)


SourceArg = Annotated[
    str,
    typer.Option(
        "--source",
        help="Verify a copy of the audit log elsewhere: s3://BUCKET/PREFIX.",
        show_default=False,
    ),
]


def verify_source(source: str, output: Output = Output.human) -> None:
    """Verify the audit chain stored at `source` (s3://...) alone. AuditError (exit 5) when
    it is broken; UsageError for a location shipsafe cannot read."""
    if not source.startswith("s3://"):
        raise UsageError(f"{source}: --source reads s3://BUCKET/PREFIX")
    from shipsafe.audit.s3 import S3AuditMirror

    mirror = S3AuditMirror.from_url(source)
    result = mirror.verify()
    if output == Output.json:
        typer.echo(
            json.dumps(
                {
                    "kind": "result",
                    "ok": result.ok,
                    "source": mirror.url,
                    "records": result.count,
                    "head": result.head_hash,
                    "problems": result.problems,
                }
            )
        )
    elif result.ok:
        typer.echo(
            f"{mirror.url}: {result.count} records, chain intact, no record overwritten or "
            f"deleted; head {result.head_hash[:16]}"
        )
    else:
        for problem in result.problems:
            typer.echo(f"shipsafe: {problem}", err=True)
    if not result.ok:
        raise AuditError(
            f"{mirror.url}: the audit chain is broken ({len(result.problems)} problems)"
        )


@exits
def audit_verify_source(source: SourceArg, output: OutputOpt = Output.human) -> None:
    """Verify the audit chain from a copy alone (s3://BUCKET/PREFIX). Exit 5 if broken."""
    verify_source(source, output)


# `python -m shipsafe.cli.aws_commands ...`: the same commands without the main app
aws_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
aws_app.add_typer(store_app, name="store")
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
audit_app.command("verify")(audit_verify_source)
aws_app.add_typer(audit_app, name="audit")

if __name__ == "__main__":
    aws_app()
