"""`shipsafe replay`: the engine over recorded data with a fake clock (shipsafe.replay)."""

from __future__ import annotations

import itertools
import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipsafe import replay
from shipsafe.errors import ConfigurationError, PlanError, ProviderError
from shipsafe.providers.metrics.base import MetricQuery, RangeResult
from shipsafe.records import Phase
from tests.conftest import PLAN_HEAD, make_plan

T1 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def scratch_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay's scratch store (in tempfile's directory) goes in the test's tmp_path, which
    tests/conftest.py keeps in memory: its thousands of SQLite commits then do not wait for
    the disk (4.5 s -> 0.2 s for the longest replay test here)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
T2 = T1 + timedelta(hours=1)
STEPS = """
breakers:
  - analysis: error-rate
steps:
  - setWeight: 5
  - analysis: {templates: [error-rate, latency]}
  - setWeight: 25
  - pause: {duration: 10m}
  - setWeight: 50
"""


def capture(errors_from: datetime | None = None, resolution: float = 5.0) -> replay.Capture:
    """Every query of the plan, recorded every `resolution` s over [T1, T2]: healthy, until
    the canary's error rate jumps at `errors_from`."""
    plan = make_plan(STEPS)
    cap = replay.Capture(resolution=resolution)
    steps = int((T2 - T1).total_seconds() / resolution) + 1
    for texts in replay.queries(plan).values():
        for text in texts:
            points = []
            for i in range(steps):
                t = T1.timestamp() + i * resolution
                bad = errors_from is not None and t >= errors_from.timestamp()
                if text.startswith("errors"):
                    value = 0.2 if bad and '"v2"' in text else 0.001
                else:
                    value = 0.1
                points.append((t, value))
            cap.series[text] = points
    return cap


def test_a_healthy_recording_promotes_in_replay_time():
    result = replay.run(make_plan(STEPS), capture(), T1, T2)
    assert result.phase == Phase.SUCCEEDED
    types = [e.type.value for e in result.events]
    assert "weight_set" in types and types[-1] in ("rollout_finished", "lock_released")
    finished = result.events[-1].time
    assert timedelta(minutes=10) <= finished - T1 < timedelta(minutes=12)  # the 10m pause


def test_errors_in_the_recording_trip_the_breaker_when_they_would_have():
    jump = T1 + timedelta(minutes=5)  # during the 10 minute pause at 25 %
    result = replay.run(make_plan(STEPS), capture(errors_from=jump), T1, T2)
    assert result.phase == Phase.ROLLED_BACK
    tripped = next(e for e in result.events if e.type.value == "breaker_tripped")
    assert jump <= tripped.time <= jump + timedelta(seconds=10)
    assert "error-rate" in tripped.message
    assert replay.offset(tripped, T1).startswith("+0:05:")


def test_replay_stops_where_the_recording_ends():
    result = replay.run(make_plan(STEPS), capture(), T1, T1 + timedelta(minutes=3))
    assert result.phase == Phase.PROGRESSING
    assert "recorded data ends" in result.stopped


def test_replay_stops_at_a_human_gate():
    steps = STEPS.replace("  - pause: {duration: 10m}\n", "  - pause: {}\n")
    result = replay.run(make_plan(steps), capture(), T1, T2)
    assert result.phase == Phase.PAUSED
    assert "waits for a human" in result.stopped


def test_a_query_missing_from_the_capture_is_a_provider_error():
    cap = replay.Capture(series={})
    with pytest.raises(ProviderError, match="not in the capture"):
        cap.value_at("up", 0.0)


def test_instant_answers_follow_prometheus_staleness():
    cap = replay.Capture(series={"q": [(100.0, 1.0), (200.0, math.nan), (300.0, 3.0)]})
    assert cap.value_at("q", 99.0) is None
    assert cap.value_at("q", 150.0) == 1.0
    assert cap.value_at("q", 250.0) is None  # NaN is no data
    assert cap.value_at("q", 300.0 + replay.STALENESS) == 3.0
    assert cap.value_at("q", 300.1 + replay.STALENESS) is None


def test_captured_source_answers_as_of_the_clock_and_over_ranges():
    now = [datetime.fromtimestamp(150, UTC)]
    source = replay.CapturedSource(
        "prom", replay.Capture(series={"q": [(100.0, 1.0), (120.0, 2.0)]}), lambda: now[0]
    )
    assert source.query(MetricQuery("q")).value == 2.0
    ranged = source.query_range("q", 90.0, 130.0, 10.0)
    assert ranged.points == ((100.0, 1.0), (110.0, 1.0), (120.0, 2.0), (130.0, 2.0))


def test_a_capture_survives_a_save_and_load(tmp_path: Path):
    cap = capture()
    cap.save(tmp_path / "c.json")
    again = replay.Capture.load(tmp_path / "c.json")
    assert again.series == cap.series and again.resolution == cap.resolution


def test_a_file_that_is_not_a_capture_is_a_clear_error(tmp_path: Path):
    (tmp_path / "c.json").write_text('{"series": [1, 2]}')
    with pytest.raises(ConfigurationError, match="not a capture file"):
        replay.Capture.load(tmp_path / "c.json")
    with pytest.raises(ConfigurationError, match="cannot read capture"):
        replay.Capture.load(tmp_path / "missing.json")


def test_fetch_records_every_query_of_the_plan_in_chunks():
    class Prom:
        def __init__(self) -> None:
            self.calls: list[tuple[str, float, float, float]] = []

        def query_range(self, text: str, start: float, end: float, step: float) -> RangeResult:
            self.calls.append((text, start, end, step))
            n = int((end - start) // step) + 1
            return RangeResult(tuple((start + i * step, 1.0) for i in range(n)), text)

    prom = Prom()
    plan = make_plan(STEPS)
    cap = replay.fetch(plan, {"prom": prom}, T1, T1 + timedelta(hours=30), 5.0)
    assert set(cap.series) == replay.queries(plan)["prom"]
    assert 'errors{server="v1"}' in cap.series  # what preflight sends
    points = cap.series['errors{server="v2"}']
    assert len(points) == 30 * 3600 // 5 + 1
    assert all(b[0] - a[0] == 5.0 for a, b in itertools.pairwise(points))
    assert max(int((e - s) / st) + 1 for _, s, e, st in prom.calls) <= replay.MAX_POINTS


def test_fetch_refuses_a_source_without_ranges():
    with pytest.raises(ConfigurationError, match="cannot answer range queries"):
        replay.fetch(make_plan(STEPS), {}, T1, T2, 5.0)


def test_plans_with_data_steps_are_not_replayed():
    head = PLAN_HEAD + "dataSnapshots:\n  db: {provider: file, path: /tmp/x}\n"
    steps = STEPS.replace("  - setWeight: 5\n", "  - snapshot: {data: [db]}\n  - setWeight: 5\n")
    with pytest.raises(PlanError, match="this plan has snapshot"):
        replay.check_replayable(make_plan(steps, head))


def test_judges_run_in_replay_over_the_capture():
    from tests.test_judge_checks import HEAD, series

    plan = make_plan(
        "breakers:\n  - analysis: vs-stable\nsteps:\n  - setWeight: 10\n"
        "  - pause: {duration: 5m}\n",
        HEAD,
    )
    answer = series(worse={"latency_seconds", "cpu", "memory"})
    cap = replay.Capture(resolution=10.0)
    n = int((T2 - T1).total_seconds() / 10) + 1
    for texts in replay.queries(plan).values():
        for text in texts:
            values: Any = answer(text, T1.timestamp(), T2.timestamp(), 10.0)
            cap.series[text] = [(T1.timestamp() + i * 10, v) for i, v in enumerate(values[:n])]
    result = replay.run(plan, cap, T1, T2)
    assert result.phase == Phase.ROLLED_BACK
    assert any("vs-stable" in e.message for e in result.events if e.type.value == "breaker_tripped")


def _plan_file(tmp_path: Path) -> Path:
    from tests.conftest import PLAN_HEAD

    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_HEAD + STEPS)
    return path


def test_cli_replays_a_capture_and_prints_when_the_breaker_tripped(tmp_path: Path):
    from typer.testing import CliRunner

    from shipsafe.cli.app import app

    capture(errors_from=T1 + timedelta(minutes=5)).save(tmp_path / "c.json")
    result = CliRunner().invoke(
        app,
        [
            "replay",
            str(_plan_file(tmp_path)),
            "--from",
            "2026-11-30T14:00:00Z",
            "--to",
            "2026-11-30T15:00:00Z",
            "--capture",
            str(tmp_path / "c.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    tripped = [line for line in result.output.splitlines() if "breaker_tripped" in line]
    assert len(tripped) == 1 and tripped[0].startswith("14:05:")
    assert "(+0:05:" in tripped[0]
    assert result.output.strip().splitlines()[-1].startswith("replay: rolled_back")


def test_cli_replay_json_ends_with_the_result(tmp_path: Path):
    import json

    from typer.testing import CliRunner

    from shipsafe.cli.app import app

    capture().save(tmp_path / "c.json")
    result = CliRunner().invoke(
        app,
        [
            "replay",
            str(_plan_file(tmp_path)),
            "--from",
            str(int(T1.timestamp())),
            "--to",
            str(int(T2.timestamp())),
            "--capture",
            str(tmp_path / "c.json"),
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[-1] == {
        "kind": "result",
        "replay": True,
        "phase": "succeeded",
        "stopped": "the rollout ended: succeeded",
    }
    assert any(line.get("type") == "weight_set" for line in lines[:-1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday", "--to", "2026-11-30T15:00:00Z"], "--from 'yesterday'"),
        (["--from", "2026-11-30T15:00:00Z", "--to", "2026-11-30T14:00:00Z"], "after --from"),
    ],
)
def test_cli_replay_refuses_bad_times_with_exit_2(tmp_path: Path, args, message):
    from typer.testing import CliRunner

    from shipsafe.cli.app import app

    result = CliRunner().invoke(app, ["replay", str(_plan_file(tmp_path)), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_replay_of_a_missing_capture_is_exit_2(tmp_path: Path):
    from typer.testing import CliRunner

    from shipsafe.cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "replay",
            str(_plan_file(tmp_path)),
            "--from",
            "2026-11-30T14:00:00Z",
            "--to",
            "2026-11-30T15:00:00Z",
            "--capture",
            str(tmp_path / "none.json"),
        ],
    )
    assert result.exit_code == 2
    assert "cannot read capture" in result.output


def test_cli_replay_that_cannot_write_its_save_file_is_exit_2_not_a_traceback(tmp_path: Path):
    from typer.testing import CliRunner

    from shipsafe.cli.app import app

    capture().save(tmp_path / "c.json")
    result = CliRunner().invoke(
        app,
        [
            "replay",
            str(_plan_file(tmp_path)),
            "--from",
            "2026-11-30T14:00:00Z",
            "--to",
            "2026-11-30T15:00:00Z",
            "--capture",
            str(tmp_path / "c.json"),
            "--save",
            str(tmp_path / "no-such-dir" / "saved.json"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "--save" in result.output and "cannot write the capture" in result.output
    assert "internal error" not in result.output
