"""`shipsafe audit verify` / `repair`: check the hash chain of the audit log and its anchor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipsafe.cli.common import (
    ActorOpt,
    AuditOpt,
    Output,
    OutputOpt,
    Settings,
    StateOpt,
    exits,
)
from shipsafe.errors import AuditError, UsageError

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRoot

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
        if store is None and not Path(path).exists():
            # nothing here at all (a wrong directory, a typo in --state): a usage error, not
            # a broken chain. A store whose log is missing is exit 5 (the log went away)
            raise UsageError(
                f"no audit log at {path} and no shipsafe state beside it "
                "(use --state PATH or --audit-log PATH)"
            )
        root, trust_problem = _trust_root(store)
        result = log.verify(root)
        witnessed = _witness_problems(root, trust_problem, log)
    finally:
        if store is not None:
            store.close()
    if witnessed is not None:
        problems = witnessed[0]
        result.problems += problems
        result.ok = result.ok and not problems
    if settings.json:
        typer.echo(
            json.dumps(
                {
                    "kind": "result",
                    "ok": result.ok,
                    "records": result.count,
                    "head": result.head_hash,
                    "problems": result.problems,
                    "notes": result.notes,
                    "anchored": store is not None,
                    "witnessed_logs": None if witnessed is None else {
                        log: sorted(rollouts) for log, rollouts in witnessed[1].items()
                    },
                }
            )
        )
    elif result.ok:
        anchor = "" if store is not None else " (no state store found: end of log not anchored)"
        typer.echo(
            f"{path}: {result.count} records, chain intact{anchor}; head {result.head_hash[:16]}"
        )
        for note in result.notes:
            typer.echo(f"  note: {note}")
        if witnessed is None:
            typer.echo("no audit witness (the trust root names none): a rewritten log that "
                       "is re-chained and re-anchored cannot be told apart")
        else:
            for log, rollouts in sorted(witnessed[1].items()):
                typer.echo(f"witness agrees with {log}: {len(rollouts)} rollout(s)")
    else:
        for problem in result.problems:
            typer.echo(f"shipsafe: {problem}", err=True)
    if not result.ok:
        raise AuditError(f"{path}: the audit chain is broken ({len(result.problems)} problems)")


@audit_app.command("repair")
@exits
def repair(
    accept_current_log: Annotated[
        bool,
        typer.Option(
            "--accept-current-log",
            help="Re-anchor a log that no longer matches its anchor (cut short, replaced), "
            "if its own chain is intact. Needs --reason; recorded in the log.",
        ),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (recorded with the repair).")
    ] = None,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    audit_log: AuditOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Re-anchor a log that got ahead of its anchor (a process killed between writing a
    record and moving the anchor): the records past the anchor must be events the state store
    holds; stored events the log lacks are chained on. Every repair is an audit record. The
    file log, or with --state dynamodb://TABLE the chain in the table."""
    from shipsafe.cli.common import open_audit
    from shipsafe.errors import PolicyViolation, UsageError
    from shipsafe.identity import resolve_actor
    from shipsafe.store import open_store

    if accept_current_log and not (reason and reason.strip()):
        raise UsageError("--accept-current-log needs --reason saying why this log is the one")
    settings = Settings(state=state, output=output, audit_log=audit_log, actor=actor)
    store = open_store(settings.state, create=False)
    try:
        log = open_audit(settings, store)
        root, trust_problem = _trust_root(store)
        if trust_problem is not None:
            raise PolicyViolation(trust_problem)
        # the repairer's key (SHIPSAFE_KEY) signs what the repair chains on
        credentials = resolve_actor(settings.actor, False, root)
        log.signer = credentials.proofs
        who = credentials.actor.label()
        done = log.repair(who, reason.strip() if accept_current_log and reason else None)
        result = log.verify(root)
    finally:
        store.close()
    where = getattr(log, "location", None) or log.path
    if settings.json:
        typer.echo(json.dumps({"kind": "result", "repaired": done is not None,
                               "record": done, "ok": result.ok, "records": result.count}))
    elif done is None:
        typer.echo(f"{where}: nothing to repair ({result.count} records, anchored head)")
    else:
        typer.echo(f"{where}: {done['message']}; anchored at record {done['seq']}")
    if not result.ok:
        raise AuditError(f"{where}: still broken after the repair: {result.problems[0]}")
def _trust_root(store: object) -> tuple[TrustRoot | None, str | None]:
    """The trust root in force (its keys check the signatures of records past the anchor,
    and it names the witness), or the reason it does not verify."""
    from shipsafe.errors import PolicyViolation
    from shipsafe.policy.pin import effective_root
    from shipsafe.trust.loading import load_root

    try:
        return effective_root(store, load_root()), None  # type: ignore[arg-type]
    except PolicyViolation as exc:
        return None, f"the trust root does not verify, so neither does the audit: {exc.message}"


def _witness_problems(
    root: TrustRoot | None, trust_problem: str | None, verified: Any = None
) -> tuple[list[str], dict[str, set[str]]] | None:
    """Compare every log the trust root's witness lists with the witness (None: no witness).
    A rollout present in one and missing in the other, or a record that differs, is a
    problem; so is a witness that is no witness (a file not append-only or not root's, a
    bucket without COMPLIANCE Object Lock) and a checkpoint someone tried to rewrite."""
    from shipsafe.audit.witness import compare
    from shipsafe.cli.common import witness_of

    if trust_problem is not None:
        return [trust_problem], {}
    witness = witness_of(root)
    if witness is None:
        return None
    problems: list[str] = list(witness.problems())
    try:
        entries = witness.entries()
    except AuditError as exc:
        return [*problems, exc.message], {}
    result = compare(entries, _read_log)
    if verified is not None and root is not None:  # the log verified here is witnessed too
        from shipsafe.audit.witness import log_id, unwitnessed

        name = getattr(verified, "log_id", None) or log_id(Path(verified.path))
        try:
            records = [r for _, r in verified.records() if r is not None]
        except (AuditError, OSError):
            records = []  # verify() has said what is wrong with it
        missing = unwitnessed(name, records, entries, root.document.issued_at)
        if missing is not None:
            result.problems.append(missing)
    return problems + result.problems, result.logs


def _read_log(log: str) -> list[dict[str, object]]:
    """The records of a witnessed log: a file, or the chain inside a team store (URL#audit)."""
    from shipsafe.audit.file import FileAuditLog
    from shipsafe.audit.store_log import StoreAuditLog, is_log_url

    if is_log_url(log):
        from shipsafe.errors import ShipsafeError
        from shipsafe.store import open_store

        try:
            store = open_store(log.removesuffix("#audit"), create=False)
        except ShipsafeError as exc:
            raise AuditError(f"cannot read the audit log {log}: {exc.message}") from None
        try:
            return [r for _, r in StoreAuditLog(store).records() if r is not None]
        except ShipsafeError as exc:
            raise AuditError(f"cannot read the audit log {log}: {exc.message}") from None
        finally:
            store.close()
    try:
        return [r for _, r in FileAuditLog(log).records() if r is not None]
    except OSError as exc:
        raise AuditError(f"cannot read the audit log {log}: {exc.strerror}") from None


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
    from shipsafe.policy import review_pending, verifier_for
    from shipsafe.policy.pin import effective_root
    from shipsafe.store import open_store
    from shipsafe.trust.loading import load_root

    settings = Settings(state=state, output=output)
    store = open_store(settings.state, create=False)
    try:
        # a review counts only when it verifies now, from its signature, with the trust
        # root's keys: a row in the store (say, signature "AAAA") is nothing
        verifier = verifier_for(effective_root(store, load_root()))
        waiting = [
            r for r in store.list_rollouts(environment=environment, limit=1000)
            if review_pending(store, r, verifier)
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
