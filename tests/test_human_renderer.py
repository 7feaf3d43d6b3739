"""What a person watching a deploy reads: one line an event, causes said once."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from shipsafe.records import Event, EventType, Reason
from shipsafe.render.human import HumanRenderer


def render(*events: Event) -> list[str]:
    out = io.StringIO()
    renderer = HumanRenderer(Console(file=out, width=40, highlight=False, soft_wrap=True))
    for event in events:
        renderer(event)
    return out.getvalue().splitlines()


def ev(type_: EventType, message: str = "", **data: object) -> Event:
    return Event(
        rollout_id="r", type=type_, time=datetime(2026, 1, 1, tzinfo=UTC), message=message,
        reason=Reason.BREAKER_TRIPPED, data=dict(data),
    )


def test_a_long_line_is_not_wrapped_for_logs() -> None:
    long = "breaker error-rate tripped: failed (2) > failureLimit (1); last: 0.28 does not meet"
    (line,) = render(ev(EventType.BREAKER_TRIPPED, long))
    assert long in line


def test_a_cause_repeated_by_several_events_is_printed_once() -> None:
    cause = "breaker error-rate tripped: failed (2) > failureLimit (1)"
    lines = render(
        ev(EventType.BREAKER_TRIPPED, cause),
        ev(EventType.PHASE_CHANGED, cause, **{"from": "progressing", "to": "rolling_back"}),
        ev(EventType.ROLLBACK_STARTED, cause),
        ev(EventType.ROLLBACK_FINISHED, "traffic restored to the snapshot and verified"),
    )
    assert sum(cause in line for line in lines) == 1
    assert any("progressing -> rolling_back" in line for line in lines)
    assert "traffic restored" in lines[-1]


def test_a_failed_breaker_run_is_said_once_by_the_trip_line() -> None:
    cause = "failed (2) > failureLimit (1); last: 0.28"
    lines = render(
        ev(EventType.ANALYSIS_COMPLETED, f"analysis breakers failed: {cause}",
           run="breakers", phase="failed"),
        ev(EventType.BREAKER_TRIPPED, f"breaker error-rate tripped: {cause}"),
    )
    assert sum(cause in line for line in lines) == 1
    assert "breaker error-rate tripped" in lines[0]


def test_a_failed_step_analysis_still_gets_its_line() -> None:
    (line,) = render(
        ev(EventType.ANALYSIS_COMPLETED, "analysis step-2 failed: 0 of 3 successful",
           run="step-2", phase="failed"),
    )
    assert "analysis step-2 failed" in line


def test_a_check_that_starts_failing_says_so_and_which_run_took_it() -> None:
    (line,) = render(
        ev(EventType.MEASUREMENT, "", run="breakers", metric="error-rate", value=0.2,
           phase="failed", condition="result < 0.05")
    )
    assert "error-rate failing: 0.2 (result < 0.05) [breaker]" in line


def test_measurements_fold_into_the_check_and_print_only_changes_of_state() -> None:
    def m(value: float, phase: str, run: str = "breakers") -> Event:
        return ev(EventType.MEASUREMENT, "", run=run, metric="error-rate", value=value,
                  phase=phase, condition="result < 0.05")

    lines = render(
        m(0.01, "successful"), m(0.01, "successful", run="step-2"), m(0.02, "successful"),
        m(0.2, "failed"), m(0.3, "failed", run="step-2"), m(0.01, "successful"),
    )
    assert len(lines) == 2, lines
    assert "error-rate failing: 0.2" in lines[0]
    assert "error-rate passing again: 0.01" in lines[1]


_READER_GOES_AWAY = """
import sys
from datetime import UTC, datetime
from shipsafe.records import Event, EventType, Reason
from shipsafe.render.human import HumanRenderer
renderer = HumanRenderer()
for i in range(2000):
    renderer(Event(rollout_id="r", type=EventType.STEP_STARTED, message=f"step {i}",
                   time=datetime(2026, 1, 1, tzinfo=UTC), reason=Reason.BREAKER_TRIPPED))
print("rendered every event", file=sys.stderr)
"""


def test_a_reader_that_goes_away_does_not_stop_the_rollout() -> None:
    """A real pipe whose reader is gone (`shipsafe deploy ... | head -1`): every event is
    still handled, and the process ends with 0, without a traceback at exit either."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", _READER_GOES_AWAY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the first line
    with proc.stderr:
        errors = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, errors
    assert "rendered every event" in errors and "Error" not in errors, errors


def test_the_status_line_counts_down_a_pause_and_shows_weight_and_readings() -> None:
    from datetime import timedelta

    from shipsafe.render.live import Summary

    start = datetime(2026, 1, 1, tzinfo=UTC)
    summary = Summary()
    for event in (
        ev(EventType.PHASE_CHANGED, "", **{"from": "pending", "to": "progressing"}),
        ev(EventType.WEIGHT_VERIFIED, "", weight=25),
        ev(EventType.MEASUREMENT, "", metric="error-rate", value=0.002, phase="successful"),
        ev(EventType.STEP_STARTED, "step 4/8: pause 600s", step=4, of=8,
           until=(start + timedelta(minutes=10)).isoformat()),
    ):
        summary.update(event)
    now = start + timedelta(minutes=5, seconds=48)
    head, check = (line.plain for line in summary.lines(now=now))
    assert "progressing" in head and "step 4/8 pause 600s" in head
    assert "(4m12s left)" in head and "canary 25%" in head
    assert check.split()[:3] == ["error-rate", "█", "0.002"] and "✓" in check


def test_no_status_line_when_output_is_not_a_terminal() -> None:
    renderer = HumanRenderer(Console(file=io.StringIO(), highlight=False))
    assert renderer.live is None


def test_one_clock_local_with_offset_or_utc_and_a_date_when_not_today() -> None:
    from datetime import date, timedelta, timezone

    from shipsafe.render.stamps import Stamps

    when = datetime(2026, 3, 4, 10, 0, 5, tzinfo=UTC)
    assert Stamps(utc=True, today=date(2026, 3, 4))(when) == "10:00:05Z"
    assert Stamps(utc=True, today=date(2026, 3, 5))(when) == "2026-03-04 10:00:05Z"
    local = Stamps(today=date(2026, 3, 4))
    paris = when.astimezone(timezone(timedelta(hours=1)))
    shown = local(paris)
    expected_offset = when.astimezone().strftime("%z")
    assert shown.endswith(f"{expected_offset[:3]}:{expected_offset[3:]}")


def test_a_log_gets_the_check_lines_every_n_seconds_even_in_a_silent_pause() -> None:
    from datetime import timedelta

    out = io.StringIO()
    renderer = HumanRenderer(
        Console(file=out, width=200, highlight=False, soft_wrap=True), progress_seconds=30
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    renderer(ev(EventType.ROLLOUT_CREATED, "checkout 2.4.0 to production"))
    renderer(ev(EventType.MEASUREMENT, "", run="breakers", metric="error-rate", value=0.002,
                phase="successful", condition="result < 0.05"))
    before = len(out.getvalue().splitlines())
    for second in range(0, 95):  # 95 s of a pause with nothing happening
        renderer.heartbeat(start + timedelta(seconds=second))
    progress = out.getvalue().splitlines()[before:]
    heads = [line for line in progress if " … " in line]
    assert len(heads) == 3, progress  # at 30, 60 and 90 s
    assert sum("error-rate" in line and "0.002" in line for line in progress) == 3


def test_the_sparkline_scales_readings_and_marks_no_data() -> None:
    from shipsafe.render.checks import sparkline

    assert sparkline([0.0, 0.5, 1.0, None]) == "▁▅█·"
    assert sparkline([0.2, 0.2]) == "██"  # bars start from 0
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([None]) == "·"
