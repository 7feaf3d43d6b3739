"""`shipsafe deploy PLAN`: start a rollout and drive it to its end."""

from __future__ import annotations

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
    exits,
)


@exits
def deploy(
    plan: Annotated[str, typer.Argument(help="The plan file (YAML).")],
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Return (exit 4) when the rollout waits for a human."),
    ] = False,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
    actor: ActorOpt = None,
    agent: AgentOpt = False,
    audit_log: AuditOpt = None,
) -> None:
    """Roll a release out as the plan says; roll back by itself when a breaker trips.

    Exit codes: 0 promoted, 2 invalid plan (nothing changed), 3 rolled back, 4 waiting for a
    human (--detach), 5 rollback failed, 6 refused (locked or frozen).
    """
    from shipsafe.cli.session import (
        drive_to_end,
        exit_code_for,
        outcome_line,
        outcome_style,
        session,
    )
    from shipsafe.engine.control import start_deploy
    from shipsafe.plan.loader import load_plan

    settings = Settings(state=state, output=output, actor=actor, agent=agent, audit_log=audit_log)
    loaded = load_plan(plan)
    with session(settings) as s:
        engine = start_deploy(s.ctx, loaded)
        drive_to_end(s, engine, detach)
        record = s.ctx.store.get_rollout(engine.record.id)
        code = exit_code_for(record)
        if settings.json:
            s.renderer.result(record.id, record.phase.value, code, outcome_line(record))  # type: ignore[union-attr]
        else:
            s.say(outcome_line(record), outcome_style(record))
    raise typer.Exit(code)
