"""The `migrate` step and its inverse at rollback.

Before `up`: a verified data snapshot (checked again now). The intent is saved with the
rollout before the command runs, so a process killed mid-migration leaves a record that
says "started": the step is not run twice, it fails closed and rollback runs `down`.
Output goes into the audit log (the events). Rollback runs `down` in reverse order after
traffic is back on stable; a failing `down`, or an irreversible migration that ran, ends in
rollback_failed naming the snapshot that restores the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipsafe.engine import data
from shipsafe.engine.outcomes import StepOutcome, done, fail
from shipsafe.errors import DataSnapshotError
from shipsafe.plan.steps import MigrateSpec
from shipsafe.records import EventType, MigrationState, OperationOutcome, Reason, StepState
from shipsafe.runner import RunResult

if TYPE_CHECKING:
    from shipsafe.engine.effects import Effects


def run(fx: Effects, spec: MigrateSpec, state: StepState) -> StepOutcome:
    runtime = fx.record.runtime
    previous = next((m for m in runtime.migrations if m.step == state.index), None)
    if previous is not None:
        if previous.state == "applied":
            return done(f"migration {spec.name} applied")
        # started but never finished (the process died) or failed: never run `up` twice
        return fail(
            Reason.MIGRATION_FAILED,
            f"migration {spec.name} {previous.state} earlier; its effect is unknown",
        )
    try:
        data.verify_all(fx, f"migration {spec.name}")
    except DataSnapshotError as exc:
        return fail(Reason.SNAPSHOT_UNVERIFIED, str(exc))
    entry = MigrationState(
        step=state.index,
        name=spec.name,
        compatibility=spec.compatibility,
        down=None if spec.irreversible else list(spec.down or []),
        timeout=spec.timeout,
        state="started",
    )
    runtime.migrations.append(entry)
    fx.save()  # the intent is durable before the command runs
    entry = fx.record.runtime.migrations[-1]  # a store may hand back a fresh copy
    result = _execute(fx, spec.name, "up", spec.up, spec.timeout)
    entry.state = "applied" if result.ok else "failed"
    if result.ok:
        return done(f"migration {spec.name} applied ({spec.compatibility})")
    return fail(
        Reason.MIGRATION_FAILED,
        f"migration {spec.name} up failed ({result.describe()}): {_last_line(result)}; "
        + data.restore_hints(fx)
        + " if it left partial changes",
    )


def undo(fx: Effects) -> str | None:
    """Run `down` for every migration that ran, newest first. Returns None when all are
    undone, or the reason the data is not back (for rollback_failed)."""
    for entry in reversed(fx.record.runtime.migrations):
        if entry.state in ("undone", "restore_acknowledged"):
            continue
        if entry.state == "failed":
            continue  # `up` failed: its failure was reported with the snapshot to restore
        if entry.down is None:
            if entry.state == "needs_restore":
                # a human retried the rollback after restoring the data themselves
                entry.state = "restore_acknowledged"
                fx.emit(
                    EventType.NOTICE,
                    message=f"migration {entry.name} is irreversible: the retry takes the data "
                    "as restored by hand",
                )
                continue
            entry.state = "needs_restore"
            return (
                f"migration {entry.name} is irreversible and ran: the data is not as before "
                f"the rollout; {data.restore_hints(fx)} (then shipsafe rollback "
                f"{fx.record.id} again)"
            )
        result = _execute(fx, entry.name, "down", entry.down, entry.timeout)
        if not result.ok:
            entry.state = "down_failed"
            return (
                f"migration {entry.name} down failed ({result.describe()}): "
                f"{_last_line(result)}; {data.restore_hints(fx)}"
            )
        entry.state = "undone"
    return None


def _execute(
    fx: Effects, name: str, direction: str, argv: list[str], timeout: float
) -> RunResult:
    fx.emit(
        EventType.MIGRATION_STARTED,
        message=f"migration {name} {direction}: {' '.join(argv)}",
        data={"migration": name, "direction": direction, "argv": argv, "timeout": timeout},
    )
    op = fx.operation(f"migrate_{direction}", {"migration": name, "argv": argv})
    result = fx.run_command(argv, timeout)
    fx.finish(op, OperationOutcome.OK if result.ok else OperationOutcome.ERROR,
                  result.describe())
    fx.emit(
        EventType.MIGRATION_FINISHED,
        Reason.MIGRATION_FAILED if not result.ok else None,
        f"migration {name} {direction}: {result.describe()}",
        data={
            "migration": name,
            "direction": direction,
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "output": result.output,
        },
    )
    return result


def _last_line(result: RunResult) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"
