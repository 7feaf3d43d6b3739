"""`shipsafe status [ID] [--watch]` and `shipsafe list`: read-only views of the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipsafe.cli import ci_outputs
from shipsafe.cli.ci_outputs import JunitOpt, SummaryOpt, TimeoutOpt
from shipsafe.cli.common import Output, OutputOpt, Settings, StateOpt, UtcOpt, exits
from shipsafe.cli.naming import EnvOpt, complete_rollouts

if TYPE_CHECKING:
    from shipsafe.records import LockInfo, RolloutRecord


def _status_document(
    store: Any, record: RolloutRecord, now: Any, providers: Any
) -> dict[str, Any]:
    from shipsafe.cli import canary_reading

    lock = store.get_lock(record.lock_key)
    snapshot = store.get_snapshot(record.id)
    events = store.events(record.id)
    return {
        "kind": "status",
        "rollout": record.model_dump(mode="json", exclude={"plan"}),
        "driver": _driver(lock, record, now),
        # live from the router when it answers, else the last weight recorded (and which)
        "canary": canary_reading.read(providers, snapshot, events, now).to_json(),
        "snapshot": snapshot.model_dump(mode="json") if snapshot else None,
        "operations": [op.model_dump(mode="json") for op in store.operations(record.id)],
        "events": [e.to_json_dict() for e in events],
    }


def _driver(lock: LockInfo | None, record: RolloutRecord, now: Any) -> dict[str, Any]:
    if lock is None or lock.rollout_id != record.id:
        return {"state": "none"}
    if lock.lease_expires_at is None:
        return {"state": "parked", "holder": lock.holder}
    left = (lock.lease_expires_at - now).total_seconds()
    return {
        "state": "live" if left > 0 else "expired",
        "holder": lock.holder,
        "lease_seconds_left": round(left, 1),
    }


def _print_status(
    s: Any, doc: dict[str, Any], record: RolloutRecord, tail: int | None, utc: bool
) -> None:
    from shipsafe.engine.steps import rollout_steps
    from shipsafe.plan.models import plan_from_record
    from shipsafe.plan.steps import describe_step
    from shipsafe.records import Event, OperationOutcome, Phase
    from shipsafe.render.checks import CheckBoard
    from shipsafe.render.human import HumanRenderer
    from shipsafe.render.stamps import Stamps

    say = s.say
    stamp = Stamps(utc)
    steps = rollout_steps(record, plan_from_record(record.plan))
    i = record.step_index
    step = f"step {i + 1}/{len(steps)}: {describe_step(steps[i])}" if i < len(steps) else ""
    say(f"{record.id}  {record.service} {record.version} -> {record.environment}", "bold")
    say(f"  phase     {record.phase.value}" + (f" ({step})" if step else ""))
    cause = record.runtime.rollback_message
    if cause and record.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK, Phase.ABORTED,
                                  Phase.ROLLBACK_FAILED):
        say(f"  cause     {cause}", "bold yellow")
    elif record.message:
        say(f"  message   {record.message}")
    canary = doc["canary"]
    if canary["weight"] is None:
        say("  canary    - (no weight confirmed yet)")
    elif canary["source"] == "live":
        say(f"  canary    {canary['weight']}% (live: {canary['note']})")
    else:
        at = stamp(datetime.fromisoformat(canary["at"]))
        note = f"; {canary['note']}" if canary["note"] else ""
        say(f"  canary    {canary['weight']}% (recorded at {at}{note})")
    say(
        f"  started   {stamp(record.created_at)} by {record.actor.label()}"
        + (f", parent {record.parent_id}" if record.parent_id else "")
    )
    if record.finished_at is not None:
        say(f"  ended     {stamp(record.finished_at)}")
    drv = doc["driver"]
    if drv["state"] == "live":
        say(f"  driver    {drv['holder']} (lease {drv['lease_seconds_left']:.0f}s left)")
    elif drv["state"] == "expired":
        say(
            f"  driver    none: the lease of {drv['holder']} expired "
            f"{-drv['lease_seconds_left']:.0f}s ago - shipsafe resume/rollback {record.id}",
            "yellow",
        )
    elif drv["state"] == "parked":
        say("  driver    none needed: waiting for a human (promote/approve/abort/rollback)")
    snap = doc["snapshot"]
    if snap:
        verified = "verified" if snap.get("verified_at") else "NOT verified"
        say(f"  snapshot  {snap['router']} {json.dumps(snap['state'])} ({verified})")
    board = CheckBoard()
    events = [Event.model_validate(raw) for raw in doc["events"]]
    for event in events:
        if event.type.value == "measurement":
            board.update(event)
    if board.checks:
        say("  checks", "bold")
        for line in board.lines():
            s.renderer.emit(line)
    in_doubt = [op for op in doc["operations"] if op.get("outcome") is None]
    for op in in_doubt:
        say(
            f"  IN DOUBT  {op['kind']} {op['params']} started {op['started_at']} and never "
            "finished: the process died (resume or rollback reconciles it)",
            "bold yellow",
        )
    lines: list[Any] = []
    timeline = HumanRenderer(
        utc=utc, progress_seconds=0, sink=lines.append, final_checks=False
    )
    for event in events:
        timeline(event)
    shown = lines if tail is None else lines[-tail:]
    hidden = len(lines) - len(shown)
    say("  history" + (f" (last {len(shown)} of {len(lines)} lines)" if hidden else ""), "bold")
    for line in shown:
        s.renderer.emit(line)
    interrupted = [
        op for op in doc["operations"] if op.get("outcome") == OperationOutcome.INTERRUPTED.value
    ]
    for op in interrupted:
        say(f"  interrupted: {op['kind']} {op['params']} - {op.get('detail', '')}", "yellow")


@exits
def status(
    rollout_id: Annotated[
        str | None,
        typer.Argument(
            help="Rollout id, unique id prefix, or SERVICE (its active rollout, or the "
            "latest). Without it: the rollouts active now.",
            autocompletion=complete_rollouts,
            metavar="ROLLOUT",
            show_default=False,
        ),
    ] = None,
    env: EnvOpt = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", "-w",
            help="Follow until it ends, then exit with the rollout's code (0 promoted, 3 rolled "
            "back, 5 rollback failed).",
        ),
    ] = False,
    timeout: TimeoutOpt = None,
    summary: SummaryOpt = None,
    junit: JunitOpt = None,
    tail: Annotated[
        int | None,
        typer.Option("--tail", "-n", help="Only the last N lines of the history.", min=1),
    ] = None,
    utc: UtcOpt = False,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
) -> None:
    """Where a rollout is, who drives it, its snapshot, breakers and full history; without a
    rollout, the list of rollouts active now.

    With --watch it is a CI wait step: it exits with the rollout's own code once it ends (0
    promoted, 3 rolled back or aborted, 5 rollback failed), or 4 when --timeout runs out
    first (the rollout goes on; nothing is changed).
    """
    from shipsafe.cli.naming import resolve
    from shipsafe.cli.session import session

    settings = Settings(state=state, output=output, utc=utc)
    with session(settings, create_store=False, render_events=False) as s:
        store = s.ctx.store
        if rollout_id is None:
            if env is not None:
                from shipsafe.errors import UsageError

                raise UsageError("--env goes with a SERVICE: shipsafe status SERVICE --env ENV")
            _print_active(s, settings)
            return
        record = resolve(store, rollout_id, env)
        if not watch and timeout is not None:
            from shipsafe.errors import UsageError

            raise UsageError("--timeout goes with --watch")
        if not watch:
            doc = _status_document(store, record, s.ctx.clock.now(), s.ctx.providers)
            if settings.json:
                typer.echo(json.dumps(doc, default=str))
            else:
                _print_status(s, doc, record, tail, utc)
            if summary or junit:
                ci_outputs.write(store, record.id, summary, junit)
            return
        code = _watch(s, record, ci_outputs.timeout_seconds(timeout))
        ci_outputs.write(store, record.id, summary, junit)
    raise typer.Exit(code)


def _print_active(s: Any, settings: Settings) -> None:
    """`shipsafe status` alone: what is active now (and, if nothing, the latest rollout)."""
    records = s.ctx.store.list_rollouts(None, None, 200)
    active = [r for r in records if not r.phase.terminal]
    if settings.json:
        for r in active:
            typer.echo(json.dumps(r.model_dump(mode="json", exclude={"plan", "runtime"})))
        return
    if not active:
        latest = f"; the latest is {records[0].id} ({records[0].phase.value})" if records else ""
        s.say(f"no rollout is active now{latest}")
        return
    _table(s, active)


def _watch(s: Any, record: RolloutRecord, timeout: float | None) -> int:
    """Print events as they are stored until the rollout is over; return its exit code, or
    4 when `timeout` runs out first."""
    from shipsafe.cli.session import exit_code_for, outcome_line, outcome_style
    from shipsafe.errors import ExitCode

    store, clock = s.ctx.store, s.ctx.clock
    deadline = None if timeout is None else clock.now().timestamp() + timeout
    seen = 0
    s.say(f"watching {record.id}  {record.service} {record.version} -> {record.environment}",
          "bold")
    while True:
        record = store.get_rollout(record.id)
        for event in store.events(record.id, after_seq=seen):
            s.renderer(event)
            seen = event.seq or seen
        if record.phase.terminal:
            code = exit_code_for(record)
            line = outcome_line(record)
            break
        if deadline is not None and clock.now().timestamp() >= deadline:
            code = ExitCode.WAITING
            line = (f"{record.id}: still {record.phase.value} after --timeout; nothing was "
                    "changed (the rollout goes on)")
            break
        clock.sleep(0.5)
    if s.settings.json:
        s.renderer.result(record.id, record.phase.value, code, line)
    else:
        s.say(line, outcome_style(record))
    return code


@exits
def list_rollouts(
    environment: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
) -> None:
    """Recent rollouts, newest first."""
    from shipsafe.cli.session import session

    settings = Settings(state=state, output=output)
    with session(settings, create_store=False, render_events=False) as s:
        records = s.ctx.store.list_rollouts(environment, service, limit)
        if settings.json:
            for r in records:
                typer.echo(json.dumps(r.model_dump(mode="json", exclude={"plan", "runtime"})))
            return
        if not records:
            s.say("no rollouts yet")
            return
        _table(s, records)


def _table(s: Any, records: list[RolloutRecord]) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("ID", "SERVICE", "ENV", "VERSION", "PHASE", "STEP", "STARTED (UTC)", "BY"):
        table.add_column(col, no_wrap=True, overflow="ignore")
    for r in records:
        table.add_row(
            r.id,
            r.service,
            r.environment,
            r.version,
            r.phase.value,
            f"{min(r.step_index + 1, r.step_count)}/{r.step_count}",
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            f"{r.actor.id} ({r.actor.kind.value})",
        )
    console = s.renderer.console
    if not console.is_terminal:
        console.width = 1000  # logs and pipes: one rollout, one line, whole ids
    console.print(table, crop=False)
