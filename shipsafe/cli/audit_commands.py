"""`shipsafe audit verify`: check the hash chain of the audit log."""

from __future__ import annotations

import json

import typer

from shipsafe.cli.common import AuditOpt, Output, OutputOpt, Settings, StateOpt, exits
from shipsafe.errors import AuditError

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
@exits
def verify(
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    audit_log: AuditOpt = None,
) -> None:
    """Find any edited, removed, reordered or cut-off record. Exit 5 if the chain is broken."""
    from shipsafe.audit.file import FileAuditLog
    from shipsafe.cli.common import audit_path
    from shipsafe.store import open_store

    settings = Settings(state=state, output=output, audit_log=audit_log)
    path = audit_path(settings)
    try:
        store = open_store(settings.state, create=False)
    except Exception:
        store = None
    try:
        result = FileAuditLog(path, store).verify()
    finally:
        if store is not None:
            store.close()
    if settings.json:
        typer.echo(
            json.dumps(
                {
                    "kind": "result",
                    "ok": result.ok,
                    "records": result.count,
                    "head": result.head_hash,
                    "problems": result.problems,
                    "anchored": store is not None,
                }
            )
        )
    elif result.ok:
        anchor = "" if store is not None else " (no state store found: end of log not anchored)"
        typer.echo(f"{path}: {result.count} records, chain intact{anchor}; head {result.head_hash[:16]}")
    else:
        for problem in result.problems:
            typer.echo(f"shipsafe: {problem}", err=True)
    if not result.ok:
        raise AuditError(f"{path}: the audit chain is broken ({len(result.problems)} problems)")
