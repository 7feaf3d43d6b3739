"""`shipsafe status [ID] [--watch]` and `shipsafe list`: read-only views of the store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipsafe.cli.common import Output, OutputOpt, Settings, StateOpt, exits

if TYPE_CHECKING:
    from shipsafe.records import LockInfo, RolloutRecord


def _status_document(store: Any, record: RolloutRecord, now: Any) -> dict[str, Any]:
    lock = store.get_lock(record.lock_key)
    snapshot = store.get_snapshot(record.id)
    return {
        "kind": "status",
        "rollout": record.model_dump(mode="json", exclude={"plan"}),
        "driver": _driver(lock, record, now),
        "snapshot": snapshot.model_dump(mode="json") if snapshot else None,
        "operations": [op.model_dump(mode="json") for op in store.operations(record.id)],
        "events": [e.to_json_dict() for e in store.events(record.id)],
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


def _print_status(s: Any, doc: dict[str, Any], record: RolloutRecord) -> None:
    from shipsafe.engine.steps import rollout_steps
    from shipsafe.plan.loader import plan_from_record
    from shipsafe.plan.steps import describe_step

    say = s.say
    steps = rollout_steps(record, plan_from_record(record.plan))
    i = record.step_index
    step = f"step {i + 1}/{len(steps)}: {describe_step(steps[i])}" if i < len(steps) else ""
    say(f"{record.id}  {record.service} {record.version} -> {record.environment}", "bold")
    say(f"  phase     {record.phase.value}" + (f" ({step})" if step else ""))
    if record.message:
        say(f"  message   {record.message}")
    weight = record.runtime.canary_weight
    say(f"  canary    {'-' if weight is None else f'{weight}% (read back from the router)'}")
    say(
        f"  started   {record.created_at:%Y-%m-%d %H:%M:%S}Z by {record.actor.label()}"
        + (f", parent {record.parent_id}" if record.parent_id else "")
    )
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
    breakers = record.runtime.breakers
    if breakers:
        for m in breakers.metrics.values():
            last = "-" if m.last_value is None else f"{m.last_value:.6g}"
            state = m.phase.value
            if m.phase.value in ("running", "pending") and (
                record.phase.terminal or record.phase.value == "rolling_back"
            ):
                state = "stopped"  # breakers watch a rollout only while traffic is moving
            say(
                f"  breaker   {m.name}: {state}, {m.measured} measured, "
                f"{m.failed} failed, {m.error} errors, last {last}"
            )
    in_doubt = [op for op in doc["operations"] if op.get("outcome") is None]
    for op in in_doubt:
        say(
            f"  IN DOUBT  {op['kind']} {op['params']} started {op['started_at']} and never "
            "finished: the process died (resume or rollback reconciles it)",
            "bold yellow",
        )
    say("  history", "bold")
    from shipsafe.records import Event, OperationOutcome
    from shipsafe.render.human import HumanRenderer

    renderer = HumanRenderer(verbose=False)
    for raw in doc["events"]:
        renderer(Event.model_validate(raw))
    interrupted = [
        op for op in doc["operations"] if op.get("outcome") == OperationOutcome.INTERRUPTED.value
    ]
    for op in interrupted:
        say(f"  interrupted: {op['kind']} {op['params']} - {op.get('detail', '')}", "yellow")


@exits
def status(
    rollout_id: Annotated[
        str | None, typer.Argument(help="Rollout id or prefix (default: the latest).")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow until it ends.")] = False,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
) -> None:
    """Where a rollout is, who drives it, its snapshot, breakers and full history."""
    from shipsafe.cli.session import session

    settings = Settings(state=state, output=output)
    with session(settings, create_store=False, render_events=False) as s:
        store = s.ctx.store
        record = _find(store, rollout_id)
        if not watch:
            doc = _status_document(store, record, s.ctx.clock.now())
            if settings.json:
                typer.echo(json.dumps(doc, default=str))
            else:
                _print_status(s, doc, record)
            return
        _watch(s, record)


def _find(store: Any, rollout_id: str | None) -> RolloutRecord:
    if rollout_id:
        return store.get_rollout(rollout_id)
    latest = store.list_rollouts(limit=1)
    if not latest:
        from shipsafe.errors import UsageError

        raise UsageError(f"no rollouts in {store.url}")
    return latest[0]


def _watch(s: Any, record: RolloutRecord) -> None:
    """Print events as they are stored, until the rollout is over."""
    store, clock = s.ctx.store, s.ctx.clock
    seen = 0
    while True:
        record = store.get_rollout(record.id)
        for event in store.events(record.id, after_seq=seen):
            s.renderer(event)
            seen = event.seq or seen
        if record.phase.terminal:
            return
        clock.sleep(0.5)


@exits
def list_rollouts(
    environment: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    state: StateOpt = None,
    output: OutputOpt = Output.human,
) -> None:
    """Recent rollouts, newest first."""
    from rich.table import Table

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
        console = s.renderer.console  # type: ignore[union-attr]
        if not console.is_terminal:
            console.width = 1000  # logs and pipes: one rollout, one line, whole ids
        console.print(table, crop=False)
