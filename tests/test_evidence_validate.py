"""`shipsafe validate` refuses templates whose limits let an analysis pass without a single
successful measurement, with the file and line of the offending key (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipsafe.cli.app import app
from tests.conftest import PLAN_HEAD
from tests.support.trust_root import permissive_trust_root

STEP = "steps:\n  - setWeight: 10\n  - analysis: {templates: [error-rate]}\n"


def validate(tmp_path: Path, head: str, steps: str = STEP) -> tuple[int, str]:
    path = tmp_path / "plan.yaml"
    path.write_text(head + steps)
    result = CliRunner().invoke(app, ["validate", str(path)])
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _permissive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trust root signs an empty policy: these tests are about the templates alone."""
    permissive_trust_root(tmp_path, monkeypatch, key=None)


def line_of(head: str, text: str) -> int:
    return next(i for i, line in enumerate(head.splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("limits", "key"),
    [
        ("    count: 1\n    failureLimit: 1\n", "failureLimit"),
        ("    count: 3\n    failureLimit: 3\n", "failureLimit"),
        ("    count: 2\n    noData: inconclusive\n    inconclusiveLimit: 2\n", "inconclusiveLimit"),
        ("    count: 3\n    failureLimit: 1\n    inconclusiveLimit: 2\n", "inconclusiveLimit"),
        ("    count: 2\n    consecutiveSuccessLimit: 3\n", "consecutiveSuccessLimit"),
    ],
)
def test_limits_that_can_pass_without_a_success_are_refused_with_file_and_line(
    tmp_path: Path, limits: str, key: str
) -> None:
    head = PLAN_HEAD.replace("    count: 3\n", limits, 1)
    code, output = validate(tmp_path, head)
    assert code == 2, output
    assert f"plan.yaml:{line_of(head, key + ':')}" in output
    assert key in output and "Traceback" not in output


def test_limits_below_count_are_accepted(tmp_path: Path) -> None:
    head = PLAN_HEAD.replace("    count: 3\n", "    count: 3\n    failureLimit: 1\n", 1)
    code, output = validate(tmp_path, head)
    assert code == 0, output


def test_a_breaker_only_template_is_not_judged_by_count(tmp_path: Path) -> None:
    # a breaker never completes: its failureLimit is how many failures it tolerates
    head = PLAN_HEAD.replace("    count: 3\n", "    failureLimit: 2\n", 1)
    code, output = validate(
        tmp_path, head, "breakers:\n  - analysis: error-rate\nsteps:\n  - setWeight: 10\n"
    )
    assert code == 0, output


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("{templates: [error-rate], onFailure: hold}", "holdFor"),
        ("{templates: [error-rate], holdFor: 5m}", "holdFor belongs to onFailure: hold"),
    ],
)
def test_hold_on_failure_needs_a_bound(tmp_path: Path, step: str, message: str) -> None:
    steps = f"steps:\n  - setWeight: 10\n  - analysis: {step}\n"
    code, output = validate(tmp_path, PLAN_HEAD, steps)
    assert code == 2 and message in output, output
    assert "plan.yaml:" in output


def test_an_error_interval_of_zero_is_refused(tmp_path: Path) -> None:
    head = PLAN_HEAD.replace("    count: 3\n", "    count: 3\n    errorInterval: 0s\n", 1)
    code, output = validate(tmp_path, head)
    assert code == 2 and "errorInterval" in output, output
