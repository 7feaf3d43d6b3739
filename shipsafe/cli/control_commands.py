"""Commands on a running (or stopped) rollout, from any process with access to the store:
promote, pause, resume, abort, rollback, approve.

If the rollout's driver is alive, the command is recorded and the driver applies it at its
next tick (we wait for the result). If no driver is alive (its lease expired, or it was
parked waiting for a human), this process takes the lease and drives the rollout itself.
"""

from __future__ import annotations

from typing import Annotated, Any

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
from shipsafe.errors import ExitCode

IdArg = Annotated[str, typer.Argument(help="Rollout id (a unique prefix is enough).")]
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
) -> None:
    from shipsafe.cli.session import (
        drive_to_end,
        exit_code_for,
        outcome_line,
        outcome_style,
        session,
    )
    from shipsafe.engine.control import submit_command
    from shipsafe.records import CommandKind

    kind = CommandKind(kind_name)

    with session(settings, create_store=False) as s:
        result = submit_command(
            s.ctx,
            rollout_id,
            kind,
            args,
            wait_seconds=wait,
            detach=detach,
            driver=lambda engine, detach=False: drive_to_end(s, engine, detach),
        )
        record = s.ctx.store.get_rollout(result.record_id)
        ends = kind in (CommandKind.ROLLBACK, CommandKind.ABORT)
        refused = (result.result or "").startswith("refused")
        if refused:
            code = ExitCode.INVALID
        elif result.driven_here:
            code = exit_code_for(record, asked_to_end=ends)
        elif ends:
            code = exit_code_for(record, asked_to_end=True)
        else:
            code = ExitCode.OK
        where = "applied here" if result.driven_here else "applied by the running driver"
        summary = f"{kind.value}: {result.result or 'recorded'} ({where}); {outcome_line(record)}"
        if settings.json:
            s.renderer.result(record.id, record.phase.value, code, summary)  # type: ignore[union-attr]
        else:
            s.say(summary, "bold red" if refused else outcome_style(record))
    raise typer.Exit(code)


def _settings(state: str | None, output: Output, actor: str | None, agent: bool,
              audit_log: str | None) -> Settings:
    return Settings(state=state, output=output, actor=actor, agent=agent, audit_log=audit_log)


@exits
def promote(
    rollout_id: IdArg,
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
) -> None:
    """Go past the current pause or step (or accept an inconclusive analysis)."""
    act("promote", rollout_id, {"full": full},
        _settings(state, output, actor, agent, audit_log), detach, wait)


@exits
def pause(
    rollout_id: IdArg,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
) -> None:
    """Hold the rollout where it is (breakers keep watching)."""
    act("pause", rollout_id, {}, _settings(state, output, actor, agent, audit_log),
        True, wait)


@exits
def resume(
    rollout_id: IdArg,
    detach: DetachOpt = False,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
) -> None:
    """Continue after a manual pause or an inconclusive analysis (measured again); drive a
    rollout whose process died."""
    act("resume", rollout_id, {}, _settings(state, output, actor, agent, audit_log),
        detach, wait)


@exits
def abort(
    rollout_id: IdArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (goes to the audit).")] = None,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
) -> None:
    """Stop the rollout and put traffic back on the snapshot (ends `aborted`)."""
    act("abort", rollout_id, {"reason": reason} if reason else {},
        _settings(state, output, actor, agent, audit_log), False, wait)


@exits
def rollback(
    rollout_id: IdArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (goes to the audit).")] = None,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
) -> None:
    """Restore the stored snapshot and verify it - from any machine, without the plan file.

    Exit 0 when the router reads back equal to the snapshot, 5 when it does not.
    """
    act("rollback", rollout_id, {"reason": reason} if reason else {},
        _settings(state, output, actor, agent, audit_log), False, wait)


@exits
def approve(
    rollout_id: IdArg,
    gate: Annotated[
        str | None, typer.Option("--gate", help="Gate name (default: the one waiting).")
    ] = None,
    detach: DetachOpt = False,
    wait: WaitOpt = 120.0,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
) -> None:
    """Approve the gate a rollout is waiting at."""
    args: dict[str, Any] = {"gate": gate} if gate else {}
    act("approve", rollout_id, args, _settings(state, output, actor, agent, audit_log),
        detach, wait)
