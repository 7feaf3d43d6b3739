"""`shipsafe report ROLLOUT`: the rollout as one self-contained HTML file (and a PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipsafe.cli.common import AuditOpt, Settings, StateOpt, UtcOpt, exits
from shipsafe.cli.naming import EnvOpt, RolloutArg


@exits
def report(
    rollout_id: RolloutArg,
    env: EnvOpt = None,
    out: Annotated[
        str | None,
        typer.Option("--out", help="The HTML file (default: ROLLOUT-ID.html here).",
                     show_default=False),
    ] = None,
    png: Annotated[
        str | None,
        typer.Option("--png", help="Also write the plot as a PNG here.", show_default=False),
    ] = None,
    utc: UtcOpt = False,
    state: StateOpt = None,
    audit_log: AuditOpt = None,
) -> None:
    """Write one self-contained HTML file: on one time axis the canary weight as read back,
    every check's readings with its thresholds (a judge's confidence bounds too), the steps,
    approvals, the breaker that tripped and the moment traffic was restored; then the
    snapshot, the plan digest and the rollout's range in the audit log. Opens offline: no
    script, no request leaves the file. Needs matplotlib: pip install 'shipsafe[report]'."""
    from datetime import UTC, datetime

    from shipsafe.cli.common import open_audit
    from shipsafe.cli.naming import resolve
    from shipsafe.errors import AuditError, UsageError
    from shipsafe.render.stamps import Stamps
    from shipsafe.store import open_store

    try:
        import matplotlib  # noqa: F401  (an extra: say so before reading anything)

        from shipsafe.report import page, plot
        from shipsafe.report.data import audit_range, gather
    except ImportError as exc:  # matplotlib is an extra
        raise UsageError(
            f"shipsafe report needs matplotlib ({exc.name} is missing): "
            "pip install 'shipsafe[report]'"
        ) from None
    settings = Settings(state=state, audit_log=audit_log, utc=utc)
    store = open_store(settings.state, create=False)
    try:
        record = resolve(store, rollout_id, env)
        try:
            audit = audit_range(open_audit(settings, store), record.id)
        except AuditError:
            audit = None  # no audit log here: the report says so
        data = gather(
            record,
            store.events(record.id),
            store.measurements(record.id),
            store.get_snapshot(record.id),
            store.approvals(record.id),
            audit,
            datetime.now(UTC),
        )
    finally:
        store.close()
    stamps = Stamps(utc)
    zone = datetime.now(UTC).tzinfo if utc else datetime.now().astimezone().tzinfo
    assert zone is not None
    fig = plot.figure(data, zone)
    html_path = Path(out or f"{record.id}.html")
    try:
        html_path.write_text(page.html(data, plot.svg(fig), stamps), encoding="utf-8")
        if png:
            plot.png(fig, png)
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc}") from None
    typer.echo(f"{html_path}" + (f" and {png}" if png else "") + f": {record.id} "
               f"({record.phase.value}), {sum(len(c.readings) for c in data.checks.values())} "
               f"readings of {len(data.checks)} checks")
