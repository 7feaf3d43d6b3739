"""`shipsafe report`: one self-contained HTML file (no script, no link, no URL to fetch) whose
plot and data block hold what the store recorded, and a PNG; matplotlib only in `report`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import FakeProviders
from tests.test_cli import FAST, json_lines, run, write_plan


@pytest.fixture
def rolled_back(env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> str:
    """A canary that fails once it takes traffic: read back at 10%, then rolled back."""
    from datetime import UTC, datetime

    from shipsafe.clock import FakeClock

    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    router = fakes.router_instance
    fakes.metrics_instance.answer = lambda q: 0.25 if router.weights["canary"] else 0.0
    steps = "steps:\n  - setWeight: 10\n  - pause: {duration: 1m}\n  - setWeight: 50\n"
    result = run("deploy", write_plan(env, steps), "-o", "json")
    assert result.exit_code == 3
    return str(json_lines(result.output)[0]["rollout_id"])


def recorded_values(rollout_id: str) -> list[float]:
    doc = json.loads(run("status", rollout_id, "-o", "json").output)
    return [e["data"]["value"] for e in doc["events"] if e["type"] == "measurement"]


def test_the_report_is_one_offline_file_holding_the_series_and_the_rollback(
    env: Path, rolled_back: str
) -> None:
    result = run("report", "checkout", "--out", "r.html", "--png", "r.png")
    assert result.exit_code == 0, result.output
    page = (env / "r.html").read_text()
    # self-contained: nothing to fetch, nothing to run
    assert "<link" not in page and "@import" not in page
    assert not re.search(r"<script(?![^>]*type=\"application/json\")", page)
    urls = set(re.findall(r"(?:src|href)\s*=\s*\"([^\"#][^\"]*)\"", page))
    assert not urls, urls
    assert not re.search(r"url\((?!#)", page)
    # the plot holds the weight, the check, its threshold, the breaker and the restore
    for gid in ("series-weight", "series-error-rate", "threshold-error-rate",
                "marker-breaker", "marker-restored"):
        assert f'id="{gid}"' in page, gid
    data = json.loads(re.search(
        r'<script type="application/json" id="shipsafe-data">(.*?)</script>', page, re.S
    ).group(1))  # type: ignore[union-attr]
    assert data["rollout"] == rolled_back and data["phase"] == "rolled_back"
    assert [r[1] for r in data["checks"]["error-rate"]["readings"]] == recorded_values(
        rolled_back
    )
    assert data["checks"]["error-rate"]["thresholds"] == [["<", 0.01]]
    assert [w for _, w in data["weight"]] == [0, 10, 0]
    assert {m[1] for m in data["markers"]} >= {"breaker", "restored", "step"}
    assert "Cause:</strong> breaker error-rate tripped" in page
    assert f"sha256:{json.loads(run('status', rolled_back, '-o', 'json').output)['rollout']['plan_digest']}" in page  # noqa: E501
    assert re.search(r'id="audit">\d+ records in', page)
    assert (env / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_report_says_what_to_install(
    env: Path, rolled_back: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    for name in [m for m in sys.modules if m.startswith("shipsafe.report")]:
        monkeypatch.delitem(sys.modules, name)
    result = run("report", rolled_back)
    assert result.exit_code == 2
    assert "pip install 'shipsafe[report]'" in result.output


def test_help_and_validate_never_import_matplotlib(env: Path) -> None:
    plan = write_plan(env, FAST)
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom shipsafe.cli.app import app\n"
        f"r = CliRunner().invoke(app, ['validate', {plan!r}])\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'numpy')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=env)
    assert done.stdout.strip() == "[]"


def test_a_judges_confidence_bounds_are_drawn_when_its_measurements_carry_them(
    env: Path, rolled_back: str
) -> None:
    from datetime import UTC, datetime

    from shipsafe.records import Measurement, MeasurementPhase
    from shipsafe.store import open_store

    store = open_store(None, create=False)
    try:
        now = datetime.now(UTC)
        for low, high in ((0.7, 1.9), (0.9, 1.4)):
            store.add_measurement(Measurement(
                rollout_id=rolled_back, run="step-2", metric="judge-errors",
                phase=MeasurementPhase.SUCCESSFUL, value=1.1, started_at=now, finished_at=now,
                query="judge judge-errors",
                message=f"rate ratio canary/baseline in [{low:.3g}, {high:.3g}] (estimate 1.1, "
                "e-value 0.4 against <= 1; 12 readings)",
            ))
    finally:
        store.close()
    assert run("report", rolled_back, "--out", "r.html").exit_code == 0
    page = (env / "r.html").read_text()
    assert 'id="bounds-judge-errors"' in page and "rate ratio canary/baseline bounds" in page
    data = json.loads(re.search(
        r'id="shipsafe-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert [r[4] for r in data["checks"]["judge-errors"]["readings"]] == [[0.7, 1.9],
                                                                          [0.9, 1.4]]
