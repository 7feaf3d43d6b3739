"""Commands on a running (or stopped) rollout, from any process with access to the store:
promote, pause, resume, abort, rollback, approve.

If the rollout's driver is alive, the command is recorded and the driver applies it at its
next tick (we wait for the result). If no driver is alive (its lease expired, or it was
parked waiting for a human), this process takes the lease and drives the rollout itself.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipsafe.cli.ci_outputs import JunitOpt, SummaryOpt
from shipsafe.cli.common import (
    ActorOpt,
    AgentOpt,
    AuditOpt,
    Output,
    OutputOpt,
    Settings,
    StateOpt,
    UtcOpt,
    exits,
)
from shipsafe.cli.naming import EnvOpt, RolloutArg
from shipsafe.errors import ExitCode, StoreLocked

IdArg = RolloutArg
DetachOpt = Annotated[
    bool,
    typer.Option("--detach", help="If this process ends up driving: stop when a human is needed."),
]
WaitOpt = Annotated[
    float, typer.Option("--wait", help="Seconds to wait for a live driver to act.")
]


def act(
    kind_name: str,
    rollout_id: str,
    args: dict[str, Any],
    settings: Settings,
    detach: bool,
    wait: float,
    env: str | None = None,
    reports: tuple[str | None, str | None] = (None, None),
) -> None:
    """`reports`: the --summary and --junit files, written once the command is done (as
    deploy writes them), for a CI job that runs the command as a step."""
    from shipsafe.cli.lease_wait import LeaseWait
    from shipsafe.cli.naming import resolve_id
    from shipsafe.cli.session import (
        drive_to_end,
        exit_code_for,
        outcome_line,
        outcome_style,
        session,
    )
    from shipsafe.engine.control import submit_command
    from shipsafe.interrupts import rollback_on_signal
    from shipsafe.records import CommandKind

    kind = CommandKind(kind_name)
    rollout_id = resolve_id(settings.state, rollout_id, env)

    with session(settings, create_store=False) as s, rollback_on_signal():
        if kind not in (CommandKind.ABORT, CommandKind.ROLLBACK, CommandKind.PAUSE):
            s.require_trust()  # nothing moves forward, or is granted, on unverified trust
            from shipsafe.cli.recheck import recheck

            recheck(s, s.ctx.store.get_rollout(rollout_id))
        if kind == CommandKind.ROLLBACK and rollout_id in s.journal_applied:
            record = s.ctx.store.get_rollout(rollout_id)
            s.say(f"rollback: the journaled rollback was recorded; {outcome_line(record)}",
                  outcome_style(record))
            raise typer.Exit(exit_code_for(record, asked_to_end=True))
        waiting = LeaseWait(s, rollout_id, kind.value)
        try:
            result = submit_command(
                s.ctx,
                rollout_id,
                kind,
                args,
                wait_seconds=wait,
                detach=detach,
                driver=lambda engine, detach=False: drive_to_end(s, engine, detach),
                on_wait=waiting,
            )
        except StoreLocked as locked:
            if kind != CommandKind.ROLLBACK:
                raise
            from shipsafe.cli.locked_rollback import restore_while_locked

            raise restore_while_locked(s.ctx, rollout_id, args.get("reason"), locked) from None
        finally:
            waiting.close()
        record = s.ctx.store.get_rollout(result.record_id)
        from shipsafe.cli import ci_outputs

        ci_outputs.write(s.ctx.store, record.id, *reports)
        ends = kind in (CommandKind.ROLLBACK, CommandKind.ABORT)
        refused = (result.result or "").startswith("refused")
        if refused:
            code = ExitCode.INVALID
        elif kind == CommandKind.PAUSE and record.phase.waiting_for_human:
            code = ExitCode.OK  # paused, as asked
        elif result.driven_here:
            code = exit_code_for(record, asked_to_end=ends)
        elif ends:
            code = exit_code_for(record, asked_to_end=True)
        else:
            code = ExitCode.OK
        where = "applied here" if result.driven_here else "applied by the running driver"
        summary = f"{kind.value}: {result.result or 'recorded'} ({where}); {outcome_line(record)}"
        if settings.json:
            s.renderer.result(  # type: ignore[union-attr]
                record.id, record.phase.value, code, summary,
                error="command.refused" if refused else None,
            )
        else:
            s.say(summary, "bold red" if refused else outcome_style(record))
    raise typer.Exit(code)


def _settings(state: str | None, output: Output, actor: str | None, agent: bool,
              audit_log: str | None, utc: bool = False) -> Settings:
    return Settings(
        state=state, output=output, actor=actor, agent=agent, audit_log=audit_log, utc=utc
    )


@exits
def promote(
    rollout_id: IdArg,
    env: EnvOpt = None,
    utc: UtcOpt = False,
    full: Annotated[
        bool, typer.Option("--full", help="Skip the remaining steps: go to 100% (not past gates).")
    ] = False,
    detach: DetachOpt = False,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
    summary: SummaryOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Go past the current pause or step (or accept an inconclusive analysis)."""
    act("promote", rollout_id, {"full": full},
        _settings(state, output, actor, agent, audit_log, utc), detach, wait, env=env,
        reports=(summary, junit))


@exits
def pause(
    rollout_id: IdArg,
    env: EnvOpt = None,
    utc: UtcOpt = False,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
    summary: SummaryOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Hold the rollout where it is (breakers keep watching)."""
    act("pause", rollout_id, {}, _settings(state, output, actor, agent, audit_log, utc),
        True, wait, env=env,
        reports=(summary, junit))


@exits
def resume(
    rollout_id: IdArg,
    env: EnvOpt = None,
    utc: UtcOpt = False,
    detach: DetachOpt = False,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
    summary: SummaryOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Continue after a manual pause or an inconclusive analysis (measured again); drive a
    rollout whose process died."""
    act("resume", rollout_id, {}, _settings(state, output, actor, agent, audit_log, utc),
        detach, wait, env=env,
        reports=(summary, junit))


@exits
def abort(
    rollout_id: IdArg,
    env: EnvOpt = None,
    utc: UtcOpt = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (goes to the audit).")] = None,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
    summary: SummaryOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Stop the rollout and put traffic back on the snapshot (ends `aborted`)."""
    act("abort", rollout_id, {"reason": reason} if reason else {},
        _settings(state, output, actor, agent, audit_log, utc), False, wait, env=env,
        reports=(summary, junit))


@exits
def rollback(
    rollout_id: IdArg,
    env: EnvOpt = None,
    utc: UtcOpt = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (goes to the audit).")] = None,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
    summary: SummaryOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Restore the stored snapshot and verify it - from any machine, without the plan file.

    Exit 0 when the router reads back equal to the snapshot, 5 when it does not.
    """
    act("rollback", rollout_id, {"reason": reason} if reason else {},
        _settings(state, output, actor, agent, audit_log, utc), False, wait, env=env,
        reports=(summary, junit))


@exits
def approve(
    rollout_id: IdArg,
    env: EnvOpt = None,
    utc: UtcOpt = False,
    gate: Annotated[
        str | None, typer.Option("--gate", help="Gate name (default: the one waiting).")
    ] = None,
    detach: DetachOpt = True,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar="SHIPSAFE_APPROVER_KEY",
            help="Your ed25519 private key (default: SHIPSAFE_KEY): signs the rollout id, "
            "the plan digest, the gate and an expiry.",
            show_default=False,
        ),
    ] = None,
    expires: Annotated[
        str, typer.Option("--expires", help="How long the signed approval stays valid.")
    ] = "1h",
    sign_only: Annotated[
        bool,
        typer.Option(
            "--sign-only",
            help="Print the signed approval (JSON) instead of submitting it: hand it to "
            "whoever submits it with --signed FILE.",
        ),
    ] = False,
    signed: Annotated[
        str | None,
        typer.Option("--signed", help="Submit a signed approval made with --sign-only."),
    ] = None,
    summary: SummaryOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Approve the gate a rollout is waiting at (or the review of an emergency rollout).

    Exit 0 when accepted (and the rollout went on), 4 when it still waits for a human, 2
    when the approval is refused (the reason is printed and audited).
    """
    import json
    import os
    from pathlib import Path

    from shipsafe.cli.naming import resolve_id
    from shipsafe.errors import UsageError

    settings = _settings(state, output, actor, agent, audit_log, utc)
    rollout_id = resolve_id(settings.state, rollout_id, env)
    key = key or os.environ.get("SHIPSAFE_KEY") or None
    args: dict[str, Any] = {"gate": gate} if gate else {}
    if signed is not None:
        try:
            document = json.loads(Path(signed).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{signed}: not a signed approval: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("payload"), dict):
            raise UsageError(f"{signed}: not a signed approval")
        args = {"gate": gate or str(document["payload"].get("gate", "")), "signed": document}
    elif key is not None or not gate:
        args = _approval_args(rollout_id, gate, key, expires, settings)
    if sign_only:
        if "signed" not in args:
            raise UsageError("--sign-only needs --key (and a gate to sign)")
        typer.echo(json.dumps(args["signed"]))
        return
    # Whoever drives after an approval stops when a human is needed again: a refused approval
    # leaves the rollout waiting, and this process must not sit on it until someone else
    # approves (the lock is parked for them instead).
    act("approve", rollout_id, args, settings, True, wait, env=env,
        reports=(summary, junit))


def _approval_args(
    rollout_id: str, gate: str | None, key: str | None, expires: str, settings: Settings
) -> dict[str, Any]:
    """Find the gate (the one waiting, or a pending emergency review) and sign it."""
    from datetime import timedelta

    from shipsafe.clock import SystemClock
    from shipsafe.durations import parse_duration
    from shipsafe.engine.steps import waiting_gate
    from shipsafe.errors import UsageError
    from shipsafe.plan.models import plan_from_record
    from shipsafe.store import open_store

    store = open_store(settings.state, create=False)
    try:
        record = store.get_rollout(rollout_id)
        now = SystemClock().now()
        if gate is None:
            gate = waiting_gate(record, plan_from_record(record.plan))
        if gate is None and record.guardrails.review_gate:
            gate = record.guardrails.review_gate
        if gate is None:
            return {}  # the engine says "no approval gate is waiting"
        if key is None:
            return {"gate": gate}
        try:
            valid = timedelta(seconds=parse_duration(expires))
        except ValueError as exc:
            raise UsageError(f"--expires: {exc}") from None
        from shipsafe.approvals import sign_approval

        return {"gate": gate, "signed": sign_approval(key, record, gate, now, valid)}
    finally:
        store.close()
