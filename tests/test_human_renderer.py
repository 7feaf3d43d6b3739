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


def test_measurements_say_which_run_took_them() -> None:
    (line,) = render(
        ev(EventType.MEASUREMENT, "", run="breakers", metric="error-rate", value=0.2,
           phase="failed", condition="result < 0.05")
    )
    assert "error-rate = 0.2" in line and "[breaker]" in line and "failed" in line


def test_a_reader_that_goes_away_does_not_stop_the_rollout(monkeypatch: object) -> None:
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    import shipsafe.render.human as human

    silenced: list[bool] = []
    monkeypatch.setattr(human, "silence_stdout", lambda: silenced.append(True))  # type: ignore[attr-defined]
    renderer = HumanRenderer(human.SteadyConsole(file=ClosedPipe(), highlight=False))
    renderer(ev(EventType.STEP_STARTED, "step 1"))  # must not raise, nor exit
    renderer(ev(EventType.STEP_STARTED, "step 2"))
    assert renderer.console.quiet and silenced


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
    text = summary.text(now=start + timedelta(minutes=5, seconds=48)).plain
    assert "progressing" in text and "step 4/8 pause 600s" in text
    assert "(4m12s left)" in text and "canary 25%" in text and "error-rate 0.002 ✓" in text


def test_no_status_line_when_output_is_not_a_terminal() -> None:
    renderer = HumanRenderer(Console(file=io.StringIO(), highlight=False))
    assert renderer.live is None
