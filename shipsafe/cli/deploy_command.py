"""`shipsafe deploy PLAN`: start a rollout and drive it to its end."""

from __future__ import annotations

from typing import Annotated

import typer

from shipsafe.cli.ci_outputs import JunitOpt, SummaryOpt, TimeoutOpt
from shipsafe.cli.common import (
    ActorOpt,
    AgentOpt,
    AuditOpt,
    Output,
    OutputOpt,
    PolicyOpt,
    SetOpt,
    Settings,
    StateOpt,
    TrustOpt,
    UtcOpt,
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
    policy: PolicyOpt = None,
    trust: TrustOpt = None,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Hotfix: pauses shortened as the policy allows; breakers, snapshots and the "
            "audit stay; the approval may come after (shipsafe audit pending). Needs --reason.",
        ),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why this is an emergency (audited).")
    ] = None,
    request_override: Annotated[
        bool,
        typer.Option(
            "--request-override",
            help="During a freeze, wait at gate freeze-override for a human (not you) to "
            "approve, instead of exiting 6.",
        ),
    ] = False,
    set_: SetOpt = None,
    timeout: TimeoutOpt = None,
    summary: SummaryOpt = None,
    junit: JunitOpt = None,
    utc: UtcOpt = False,
) -> None:
    """Roll a release out as the plan says; roll back by itself when a breaker trips.

    The policy is checked first (the same findings as `validate`, plus freezes, windows and
    limits); a refused deploy changes nothing and is recorded in the audit log.

    Exit codes: 0 promoted, 2 invalid plan or policy violation (nothing changed), 3 rolled
    back (a breaker, or --timeout ran out), 4 waiting for a human (--detach), 5 rollback
    failed, 6 refused (locked, frozen, freeze window, protected blue, rollback window).
    """
    import os

    from shipsafe.cli import ci_outputs
    from shipsafe.cli.session import (
        DeadlineClock,
        drive_to_end,
        exit_code_for,
        outcome_line,
        outcome_style,
        session,
    )
    from shipsafe.engine.control import start_deploy
    from shipsafe.errors import PolicyViolation
    from shipsafe.interrupts import rollback_on_signal
    from shipsafe.plan.loader import load_plan
    from shipsafe.plan.substitute import Substitutions
    from shipsafe.policy import load_policy
    from shipsafe.runner import PARENT_ENV

    settings = Settings(
        state=state, output=output, actor=actor, agent=agent, audit_log=audit_log, utc=utc
    )
    substitutions = Substitutions.from_options(set_)
    limit = ci_outputs.timeout_seconds(timeout)
    loaded = load_plan(plan, substitutions)
    # set but empty still means "started by a deploy": an unknown parent, so a human gate
    parent = os.environ.get(PARENT_ENV)
    with session(settings) as s:
        if limit is not None:
            s.ctx.clock = DeadlineClock(s.ctx.clock, limit, timeout or "")
        try:
            s.require_trust()
            rules = load_policy(policy, trust, s.ctx.store, root=s.root)
        except PolicyViolation as exc:
            s.audit.append(
                {
                    "rollout_id": "-",
                    "type": "deploy_refused",
                    "reason": "policy_violation",
                    "time": s.ctx.clock.now().isoformat(),
                    "actor": s.ctx.actor.id,
                    "message": exc.message,
                    "data": {"plan": plan, "by": s.ctx.actor.model_dump(mode="json")},
                }
            )
            raise
        s.audit.check_mirrors()  # before anything changes: the audit must have its homes
        witness = getattr(s.audit, "witness", None)
        if witness is not None:
            from shipsafe.audit.witness import rollbacks

            witnessed = tuple(rollbacks(witness.entries()))
        else:
            witnessed = ()
        with rollback_on_signal():  # from here a signal asks for a rollback (interrupts.py)
            engine = start_deploy(
                s.ctx,
                loaded,
                policy=rules,
                parent_id=parent,
                emergency=emergency,
                emergency_reason=reason,
                request_override=request_override,
                substitutions=substitutions.applied,
                witnessed_rollbacks=witnessed,
            )
            drive_to_end(s, engine, detach)
        record = s.ctx.store.get_rollout(engine.record.id)
        ci_outputs.write(s.ctx.store, record.id, summary, junit)
        code = exit_code_for(record)
        line = outcome_line(record)
        if record.phase.waiting_for_human:
            # nobody drives a detached rollout: say what that means and how to change it
            line += (
                f" (detached: breakers are not measured while nobody drives it; "
                f"`shipsafe resume {record.id}` watches it until a human acts)"
            )
        if settings.json:
            s.renderer.result(record.id, record.phase.value, code, line)  # type: ignore[union-attr]
        else:
            s.say(line, outcome_style(record))
    raise typer.Exit(code)
