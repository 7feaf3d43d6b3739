"""What `deploy`, `status --watch` and the control verbs (promote, pause, resume, abort,
rollback, approve) leave for a CI job: `--summary FILE` (Markdown; also
appended to $GITHUB_STEP_SUMMARY when that is set) and `--junit FILE`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

SummaryOpt = Annotated[
    str | None,
    typer.Option(
        "--summary",
        help="Write a Markdown summary of the rollout here (it is also appended to "
        "$GITHUB_STEP_SUMMARY when that is set).",
        show_default=False,
    ),
]
JunitOpt = Annotated[
    str | None,
    typer.Option(
        "--junit",
        help="Write a JUnit XML file: a test case per step and per check.",
        show_default=False,
    ),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        help="Give up after this long (e.g. 30m): deploy rolls back (exit 3); status --watch "
        "stops watching (exit 4, the rollout goes on).",
        show_default=False,
    ),
]


def timeout_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    from shipsafe.durations import parse_duration
    from shipsafe.errors import UsageError

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"--timeout: {exc}") from None
    if seconds <= 0:
        raise UsageError("--timeout: must be more than 0s")
    return seconds


def write(store: Any, rollout_id: str, summary: str | None, junit: str | None) -> None:
    """Write what was asked; a file that cannot be written is a warning, never a changed
    outcome (the rollout is over by now)."""
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not (summary or junit or step_summary):
        return
    from shipsafe.render import ci_reports

    record = store.get_rollout(rollout_id)
    facts = ci_reports.gather(record, store.events(record.id), store.measurements(record.id))
    if summary or step_summary:
        text = ci_reports.markdown(facts)
        if summary:
            _write(Path(summary), text, append=False)
        if step_summary:
            _write(Path(step_summary), text, append=True)
    if junit:
        _write(Path(junit), ci_reports.junit(facts), append=False)


def _write(path: Path, text: str, append: bool) -> None:
    try:
        with path.open("a" if append else "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        typer.echo(f"shipsafe: warning: cannot write {path}: {exc}", err=True)
