"""`shipsafe audit verify`: check the hash chain of the audit log."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shipsafe.cli.common import AuditOpt, Output, OutputOpt, Settings, StateOpt, exits
from shipsafe.errors import AuditError

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
@exits
def verify(
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Verify the mirror at s3://BUCKET/PREFIX alone instead of the local log.",
            show_default=False,
        ),
    ] = None,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    audit_log: AuditOpt = None,
) -> None:
    """Find any edited, removed, reordered or cut-off record. Exit 5 if the chain is broken."""
    if source is not None:
        from shipsafe.cli.aws_commands import verify_source

        verify_source(source, output)
        return
    from shipsafe.cli.common import open_audit
    from shipsafe.store import open_store

    settings = Settings(state=state, output=output, audit_log=audit_log)
    try:
        store = open_store(settings.state, create=False)
    except Exception:  # no store: verify the file alone (the end of the log is not anchored)
        store = None
    try:
        log = open_audit(settings, store)
        path = getattr(log, "location", log.path)
        result = log.verify()
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
        typer.echo(
            f"{path}: {result.count} records, chain intact{anchor}; head {result.head_hash[:16]}"
        )
    else:
        for problem in result.problems:
            typer.echo(f"shipsafe: {problem}", err=True)
    if not result.ok:
        raise AuditError(f"{path}: the audit chain is broken ({len(result.problems)} problems)")


@audit_app.command("pending")
@exits
def pending(
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    environment: Annotated[
        str | None, typer.Option("--env", help="Only this environment.")
    ] = None,
) -> None:
    """Emergency rollouts whose after-the-fact approval is still missing.

    Approve one with `shipsafe approve ID --key YOUR.key` (its review gate).
    """
    from shipsafe.policy import review_pending
    from shipsafe.store import open_store

    settings = Settings(state=state, output=output)
    store = open_store(settings.state, create=False)
    try:
        waiting = [
            r for r in store.list_rollouts(environment=environment, limit=1000)
            if review_pending(store, r)
        ]
        rows = [
            {
                "rollout_id": r.id,
                "service": r.service,
                "environment": r.environment,
                "version": r.version,
                "phase": r.phase.value,
                "started_at": r.created_at.isoformat(),
                "by": r.actor.id,
                "reason": r.emergency_reason,
                "review_gate": r.guardrails.review_gate,
                "approvals_needed": r.guardrails.review_count,
            }
            for r in waiting
        ]
    finally:
        store.close()
    if settings.json:
        for row in rows:
            typer.echo(json.dumps({"kind": "pending_review", **row}))
        return
    if not rows:
        typer.echo("no emergency rollouts await review")
        return
    for row in rows:
        typer.echo(
            f"{row['rollout_id']}  {row['service']} {row['version']} -> {row['environment']}  "
            f"{row['phase']}  by {row['by']}: {row['reason']}  "
            f"(approve: shipsafe approve {row['rollout_id']} --key YOUR.key)"
        )
