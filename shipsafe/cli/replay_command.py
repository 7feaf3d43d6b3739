"""`shipsafe replay PLAN --from T1 --to T2`: what the plan would have done over recorded data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipsafe.cli.common import Output, OutputOpt, SetOpt, exits

if TYPE_CHECKING:
    from shipsafe.plan.models import Plan
    from shipsafe.replay import Capture


def parse_time(text: str, option: str) -> datetime:
    """ISO 8601 (a time without an offset is UTC) or unix seconds."""
    from shipsafe.errors import UsageError

    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"{option} {text!r}: give a time like 2026-11-30T14:00:00Z or unix seconds"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@exits
def replay(
    plan: Annotated[str, typer.Argument(help="The plan file (YAML).")],
    start: Annotated[
        str, typer.Option("--from", help="Start of the recording: ISO 8601 or unix seconds.")
    ],
    end: Annotated[str, typer.Option("--to", help="End of the recording.")],
    capture: Annotated[
        str | None,
        typer.Option(
            "--capture",
            help="Replay a capture file instead of asking the plan's Prometheus sources.",
            show_default=False,
        ),
    ] = None,
    save: Annotated[
        str | None,
        typer.Option(
            "--save", help="Write what was fetched to a capture file.", show_default=False
        ),
    ] = None,
    resolution: Annotated[
        str | None,
        typer.Option(
            "--resolution",
            help="Recording resolution (default: the plan's shortest interval or judge step).",
            show_default=False,
        ),
    ] = None,
    output: OutputOpt = Output.human,
    set_: SetOpt = None,
) -> None:
    """Run the plan's steps, checks, breakers and judges over recorded metrics with a fake
    clock starting at --from, and print what would have happened and when. The router lives
    in memory: nothing is changed anywhere. Stops when the rollout ends, needs a human, or
    the recording ends."""
    from shipsafe import replay as replaying
    from shipsafe.durations import parse_duration
    from shipsafe.errors import UsageError
    from shipsafe.plan.loader import load_plan
    from shipsafe.plan.substitute import Substitutions

    t1, t2 = parse_time(start, "--from"), parse_time(end, "--to")
    if t2 <= t1:
        raise UsageError("--to must be after --from")
    loaded = load_plan(plan, Substitutions.from_options(set_))
    replaying.check_replayable(loaded)
    loaded = replaying.without_builtin(loaded)  # a capture cannot hold the router's counters
    try:
        step = parse_duration(resolution) if resolution else replaying.resolution_for(loaded)
    except ValueError as exc:
        raise UsageError(f"--resolution {resolution!r}: {exc}") from None
    recorded = replaying.Capture.load(Path(capture)) if capture else _fetch(loaded, t1, t2, step)
    if save:
        try:
            recorded.save(Path(save))
        except OSError as exc:
            raise UsageError(f"--save {save}: cannot write the capture: {exc.strerror}") from None
    result = replaying.run(loaded, recorded, t1, t2)
    _render(result, output)


def _fetch(plan: Plan, t1: datetime, t2: datetime, step: float) -> Capture:
    from shipsafe import replay as replaying
    from shipsafe.providers.metrics.base import RangeSource
    from shipsafe.providers.registry import Registry

    registry = Registry()
    sources: dict[str, RangeSource] = {}
    for name, config in plan.metric_sources.items():
        if config.provider == "prometheus":
            built = registry.metric_source(name, config.model_dump(mode="json", by_alias=True))
            sources[name] = built  # type: ignore[assignment]
    return replaying.fetch(plan, sources, t1, t2, step)


def _render(result: object, output: Output) -> None:
    from shipsafe.replay import ReplayResult, offset

    assert isinstance(result, ReplayResult)
    if output == Output.json:
        for event in result.events:
            typer.echo(json.dumps(event.to_json_dict(), sort_keys=True))
        typer.echo(
            json.dumps(
                {
                    "kind": "result",
                    "replay": True,
                    "phase": result.phase.value,
                    "stopped": result.stopped,
                }
            )
        )
        return
    for event in result.events:
        if event.type.value in ("measurement",) and "successful" in str(event.data.get("phase")):
            continue  # the healthy readings would drown what matters
        when = f"{event.time:%H:%M:%S} ({offset(event, result.started_at)})"
        typer.echo(f"{when}  {event.type.value:<20} {event.message}")
    typer.echo(f"replay: {result.phase.value}; {result.stopped}")
