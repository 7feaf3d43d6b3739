"""Blue/green: what blue runs (recorded in the snapshot), the checks before cutover, and
the check that blue is still what was snapshotted before a rollback cuts back to it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipsafe.engine import analysis, data
from shipsafe.engine.outcomes import Failed, fail
from shipsafe.errors import BlueCheckFailed, DataSnapshotError, ProviderError
from shipsafe.plan.steps import CutoverSpec
from shipsafe.records import EventType, MeasurementPhase, Reason, Snapshot, StepState

if TYPE_CHECKING:
    from shipsafe.engine.effects import Effects


def identity(fx: Effects, argv: list[str], timeout: float) -> dict[str, Any]:
    """Run blue's identity command; its output says what blue runs."""
    result = fx.run_command(argv, timeout)
    if not result.ok:
        raise BlueCheckFailed(
            Reason.BLUE_CHANGED,
            f"blue's identity command {argv[0]} failed ({result.describe()})",
        )
    out = result.output.strip()
    return {"output": out[:500], "sha256": hashlib.sha256(out.encode()).hexdigest()}


def blue_record(fx: Effects) -> dict[str, Any]:
    """The blue part of the snapshot, taken with the router state before anything moves."""
    bg = fx.plan.strategy.blue_green
    if bg is None:
        return {}
    record: dict[str, Any] = {
        "target": fx.plan.target.stable_name,
        "previous_version": _previous_version(fx),
    }
    if bg.blue_identity:
        record["identity_command"] = list(bg.blue_identity)
        record["identity_timeout"] = bg.identity_timeout
        try:
            record.update(identity(fx, bg.blue_identity, bg.identity_timeout))
        except BlueCheckFailed as exc:
            from shipsafe.errors import PreflightError

            raise PreflightError(f"snapshot: {exc.message}") from None
    return record


def _previous_version(fx: Effects) -> str | None:
    record = fx.record
    for other in fx.recent_rollouts(20):
        if other.id != record.id and other.phase.value == "succeeded":
            return other.version
    return None


def still_blue(fx: Effects, snapshot: Snapshot) -> None:
    """Before cutting back: blue must still run what the snapshot says it ran."""
    blue = snapshot.blue
    argv = blue.get("identity_command")
    if not argv:
        return
    now = identity(fx, list(argv), float(blue.get("identity_timeout", 10.0)))
    if now["sha256"] != blue.get("sha256"):
        raise BlueCheckFailed(
            Reason.BLUE_CHANGED,
            f"blue changed since its snapshot: it reported {blue.get('output')!r}, now "
            f"{now['output']!r}; traffic was not cut back to it",
        )
    fx.emit(
        EventType.BLUE_CHECKED,
        message=f"blue still runs what was snapshotted ({now['output'][:60]!r})",
        data={"identity": now["output"]},
    )


def check_before_cutover(
    fx: Effects, spec: CutoverSpec, state: StepState, now: datetime
) -> Failed | None:
    """Snapshot verified, data snapshots verified, blue unchanged and healthy; then blue is
    protected. Returns Failed, or None when cutover may go ahead."""
    snapshot = fx.stored_snapshot()
    try:
        if snapshot is None or snapshot.verified_at is None:
            raise BlueCheckFailed(Reason.SNAPSHOT_UNVERIFIED, "no verified router snapshot")
        if snapshot.checksum != Snapshot.checksum_of(
            snapshot.router, snapshot.config, snapshot.state
        ):
            raise BlueCheckFailed(
                Reason.SNAPSHOT_UNVERIFIED, "the stored router snapshot fails its checksum"
            )
        try:
            current = fx.router.read_state()
        except ProviderError as exc:
            raise BlueCheckFailed(
                Reason.SNAPSHOT_UNVERIFIED, f"cannot read the router: {exc}"
            ) from None
        if Snapshot.checksum_of(snapshot.router, snapshot.config, current) != snapshot.checksum:
            raise BlueCheckFailed(
                Reason.SNAPSHOT_UNVERIFIED,
                f"the router changed since the snapshot (now {current}, snapshot "
                f"{snapshot.state}): the way back is not what was recorded",
            )
        if fx.record.guardrails.require_data_snapshot or snapshot.data:
            try:
                data.verify_all(fx, "cutover")
            except DataSnapshotError as exc:
                raise BlueCheckFailed(Reason.SNAPSHOT_UNVERIFIED, str(exc)) from None
        still_blue(fx, snapshot)
        _blue_healthy(fx, spec, now)
    except BlueCheckFailed as exc:
        return fail(exc.reason, f"cutover refused: {exc.message}")
    fx.emit(
        EventType.BLUE_PROTECTED,
        message=f"blue ({fx.plan.target.stable_name}) verified and protected: nothing "
        "may modify it during the rollback window",
        data={"slot": fx.record.guardrails.protects, "checksum": snapshot.checksum},
    )
    state.detail["checked"] = True
    return None


def _blue_healthy(fx: Effects, spec: CutoverSpec, now: datetime) -> None:
    variables = {**fx.plan.variables(), "canary": fx.plan.target.stable_name}
    for name in spec.blue_health:
        template = fx.plan.analysis[name]
        query = analysis.query_for(template, variables)
        text = query.text
        try:
            result = fx.source(template.source_key).query(query)
            phase, message = analysis.judge(template, result.value, result.readings)
        except ProviderError as exc:
            phase, message = MeasurementPhase.ERROR, str(exc)
        if phase != MeasurementPhase.SUCCESSFUL:
            raise BlueCheckFailed(
                Reason.BLUE_UNHEALTHY, f"blue is not healthy: {name} ({text}): {message}"
            )
    if spec.blue_health:
        fx.emit(
            EventType.BLUE_CHECKED,
            message=f"blue healthy: {', '.join(spec.blue_health)}",
            data={"templates": spec.blue_health},
        )
