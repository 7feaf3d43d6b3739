"""Hostile plan and policy files end in exit 2 naming file:line, within 1 s and 200 MB."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipsafe.cli.app import app
from shipsafe.errors import PlanError
from shipsafe.plan.bounded_yaml import MAX_BYTES, MAX_DEPTH
from shipsafe.plan.loader import load_plan
from tests.conftest import PLAN_HEAD

LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)

HOSTILE: dict[str, tuple[bytes, int, str]] = {
    # name: (file bytes, the line the error must name, words it must say)
    "billion laughs": (LAUGHS.encode(), 5, "more than 20000 values"),
    "recursive alias in a list": (b"a: 1\nb: &b [1, *b]\n", 2, "inside its own anchor"),
    "recursive alias in a mapping": (b"a:\n  b: &x\n    c: *x\n", 3, "inside its own anchor"),
    "a list as a key": (b"a: 1\n? [1, 2]\n: x\n", 2, "a key must be a plain value"),
    "a mapping as a key": (b"? {a: 1}\n: x\n", 1, "a key must be a plain value"),
    "nesting past the limit": (b"a: " + b"[" * 2000 + b"]" * 2000 + b"\n", 1, "nest"),
    "nested mappings past the limit": (
        b"a:\n" + b"".join(b"  " * i + b"k:\n" for i in range(1, 200)), 65, "nested deeper"
    ),
    "not UTF-8": (b"a: 1\nb: caf\xe9\n", 2, "not UTF-8"),
    "a NUL byte": (b"a: 1\nb: \x00\n", 2, "unacceptable character"),
    "a file over the size limit": (b"a: " + b"x" * MAX_BYTES + b"\n", 1, "the limit is"),
    "a list at the top": (b"- 1\n- 2\n", 1, "a plan is a mapping"),
    "a string at the top": (b"hello\n", 1, "a plan is a mapping"),
    "an empty file": (b"", 1, "empty"),
    "only a comment": (b"# nothing\n", 1, "empty"),
    "a python tag": (b"a: !!python/name:os.system x\n", 1, "not valid YAML"),
    "a bad timestamp": (b"a: 1\nb: !!timestamp 2026-13-45\n", 2, "cannot be read as timestamp"),
    "an empty tagged integer": (b"a: 1\nb: !!int \n", 2, "cannot be read as int"),  # fuzzer
    "an integer too long for Python": (b"a: 1\nb: " + b"9" * 5000 + b"\n", 2, "cannot be read"),
    "an undefined alias": (b"a: 1\nb: *nope\n", 2, "undefined alias"),
    "a duplicate anchor": (b"a: &x 1\nb: &x 2\n", 2, "duplicate anchor"),
    "unclosed flow list": (b"a: [1\nb: 2\n", 2, "not valid YAML"),
}

DURATIONS = {
    "NaN": ".nan",
    "infinity": ".inf",
    "negative infinity": "-.inf",
    "a float past the limit": "1.0e+300",
    "an integer past float range": "1" + "0" * 400,
    "a string past float range": "9" * 400 + "s",
    "31 days": "31d",
}

runner = CliRunner()


def validate(path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", str(path), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_plans_exit_2_naming_the_line(tmp_path: Path, name: str) -> None:
    data, line, words = HOSTILE[name]
    path = tmp_path / "plan.yaml"
    path.write_bytes(data)
    code, output = validate(path)
    assert code == 2, output
    first = output.splitlines()[0]
    assert first.startswith(f"{path}:{line}: "), first
    assert words in first, first
    assert "internal error" not in output and "Traceback" not in output


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_policies_exit_2_naming_the_line(tmp_path: Path, name: str) -> None:
    data, line, words = HOSTILE[name]
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN_HEAD + "steps:\n  - setWeight: 5\n")
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(data)
    code, output = validate(plan, "--policy", str(policy))
    assert code == 2, output
    assert f"{policy}:{line}: " in output, output
    assert words.replace("a plan is a mapping", "expected a mapping") in output, output
    assert "internal error" not in output and "Traceback" not in output


@pytest.mark.parametrize("name", ["billion laughs", "nesting past the limit", "not UTF-8",
                                  "a file over the size limit", "recursive alias in a list"])
def test_the_worst_inputs_cost_under_a_second_and_200_mb(tmp_path: Path, name: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(HOSTILE[name][0])
    tracemalloc.start()
    started = time.process_time()
    with pytest.raises(PlanError):
        load_plan(path)
    spent = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert spent < 1.0 and peak < 200 * 1024 * 1024, (spent, peak)


def test_nesting_up_to_the_limit_is_still_read(tmp_path: Path) -> None:
    """The limit refuses hostile depth, not ordinary plans: one level less still loads (and
    fails only because it is not a plan)."""
    path = tmp_path / "plan.yaml"
    depth = MAX_DEPTH - 1
    path.write_text("a: " + "[" * depth + "]" * depth + "\n")
    code, output = validate(path)
    assert code == 2 and "a: unknown key" in output, output


@pytest.mark.parametrize("name", DURATIONS)
def test_durations_must_be_finite_and_bounded(tmp_path: Path, name: str) -> None:
    path = tmp_path / "plan.yaml"
    steps = f"steps:\n  - setWeight: 5\n  - pause: {{duration: {DURATIONS[name]}}}\n"
    path.write_text(PLAN_HEAD + steps)
    code, output = validate(path)
    assert code == 2, output
    line = PLAN_HEAD.count("\n") + 3
    assert output.startswith(f"{path}:{line}: steps[1].pause.duration: "), output
    assert any(w in output for w in ("NaN", "limit of 30 days", "negative")), output


@pytest.mark.parametrize("field", ["interval: .inf", "initialDelay: .nan", "interval: 40d"])
def test_analysis_timing_must_be_finite_and_bounded(tmp_path: Path, field: str) -> None:
    path = tmp_path / "plan.yaml"
    head = PLAN_HEAD.replace("    interval: 5s\n    count: 3\n", f"    {field}\n    count: 3\n")
    path.write_text(head + "steps:\n  - setWeight: 5\n")
    code, output = validate(path)
    assert code == 2 and "analysis.error-rate." in output, output


def test_the_policy_caps_how_long_a_plan_may_wait(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        'apiVersion: shipsafe/v1\nkind: Policy\nenvironments: {"*": {maxDuration: 1h}}\n'
    )
    plan = tmp_path / "plan.yaml"
    # staging: --policy adds its rules to the trust root's (here none: the built-in policy)
    head = PLAN_HEAD.replace("environment: production", "environment: staging")
    plan.write_text(head + "steps:\n  - setWeight: 5\n  - pause: {duration: 2h}\n")
    code, output = validate(plan, "--policy", str(policy))
    assert code == 2, output
    assert "steps[1].pause.duration" in output and "(maxDuration)" in output, output
    plan.write_text(head + "steps:\n  - setWeight: 5\n  - pause: {duration: 1h}\n")
    code, output = validate(plan, "--policy", str(policy))
    assert code == 0, output


def test_the_builtin_policy_caps_waits_at_a_day(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    head = PLAN_HEAD.replace("environment: production", "environment: staging")
    plan.write_text(head + "steps:\n  - setWeight: 5\n  - pause: {duration: 25h}\n")
    code, output = validate(plan)
    assert code == 2 and "(maxDuration)" in output, output


def test_a_reader_that_goes_away_does_not_turn_exit_2_into_1(tmp_path: Path) -> None:
    """`shipsafe validate bad.yaml 2>&1 | head -1`: the pipe closes while the problems are
    printed; the exit code is still the error's."""
    import subprocess
    import sys

    path = tmp_path / "plan.yaml"
    path.write_bytes(HOSTILE["a list at the top"][0])
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipsafe", "validate", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # gone before the first line
    assert proc.wait(timeout=60) == 2
