"""JSON output for agents: every error line carries a stable code (and where a plan names it,
the file, line and field); every run ends with exactly one `result` line, refusals included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipsafe import errors
from tests.fakes import FakeProviders
from tests.test_cli import FAST, json_lines, run, write_plan


def ends_with_one_result(output: str) -> dict[str, Any]:
    lines = json_lines(output)
    assert len(lines) == len(output.strip().splitlines()), "every line is JSON"
    results = [line for line in lines if line["kind"] == "result"]
    assert len(results) == 1 and lines[-1] is results[0]
    return results[0]


def test_an_invalid_plan_names_its_code_file_line_and_field(env: Path) -> None:
    plan = write_plan(env, "steps:\n  - setWeight: 10\n  - setWeight: 500\n")
    result = run("deploy", plan, "-o", "json")
    assert result.exit_code == 2
    error = json_lines(result.output)[0]
    assert error["kind"] == "error" and error["error"] == "plan.invalid"
    assert error["file"] == plan
    assert error["field"].startswith("steps[1].setWeight")
    assert (Path(plan).read_text().splitlines()[error["line"] - 1]).strip() == "- setWeight: 500"
    final = ends_with_one_result(result.output)
    assert final["exit_code"] == 2 and final["error"] == "plan.invalid"


def test_a_missing_plan_file_still_ends_with_a_result_line(env: Path) -> None:
    result = run("deploy", str(env / "nope.yaml"), "-o", "json")
    assert result.exit_code == 2
    assert ends_with_one_result(result.output)["error"] == "plan.invalid"


def test_a_lock_refusal_is_lock_held_and_exit_6(env: Path, fakes: FakeProviders) -> None:
    gate = write_plan(env, "steps:\n  - setWeight: 10\n  - approval: {}\n")
    assert run("deploy", gate, "--detach", "-o", "json").exit_code == 4
    result = run("deploy", write_plan(env, FAST), "-o", "json")
    assert result.exit_code == 6, result.output
    errors_ = [line for line in json_lines(result.output) if line["kind"] == "error"]
    assert [e["error"] for e in errors_] == ["lock.held"]
    final = ends_with_one_result(result.output)
    assert final["exit_code"] == 6 and final["error"] == "lock.held"


def test_a_query_without_data_refuses_with_preflight_no_data(
    env: Path, fakes: FakeProviders
) -> None:
    fakes.metrics_instance.answer = None
    result = run("deploy", write_plan(env, FAST), "-o", "json")
    assert result.exit_code == 2, result.output
    final = ends_with_one_result(result.output)
    assert final["error"] == "preflight.no_data"
    assert final["rollout_id"]  # the refused rollout was recorded: an agent can look it up
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}


def test_a_refused_command_ends_with_a_result_that_says_so(
    env: Path, fakes: FakeProviders
) -> None:
    deployed = run("deploy", write_plan(env, FAST), "-o", "json")
    rollout_id = json_lines(deployed.output)[0]["rollout_id"]
    result = run("pause", rollout_id, "-o", "json")
    assert result.exit_code == 2
    final = ends_with_one_result(result.output)
    assert final["error"] == "rollout.wrong_phase"


@pytest.mark.parametrize(
    "cls",
    [
        c for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, Exception) and c not in errors.SIGNALS
    ],
)
def test_every_error_class_has_its_own_stable_code(cls: type[errors.ShipsafeError]) -> None:
    classes = [
        c for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.ShipsafeError)
    ]
    assert issubclass(cls, errors.ShipsafeError)
    others = {c.code for c in classes if c is not cls}
    assert cls.code not in others, f"{cls.__name__} shares its code {cls.code}"
    assert cls.code == cls.code.lower() and " " not in cls.code


def test_the_signals_in_errors_are_apart_from_the_error_tree() -> None:
    """Every exception class in errors.py is a coded ShipsafeError or a named control-flow
    signal, and no signal is a ShipsafeError (none reaches the CLI's handler as itself)."""
    defined = {
        c for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, BaseException) and c.__module__ == errors.__name__
    }
    assert set(errors.SIGNALS) <= defined
    assert {c for c in defined if not issubclass(c, errors.ShipsafeError)} == set(errors.SIGNALS)
    assert [c for c in errors.SIGNALS if issubclass(c, errors.ShipsafeError)] == []


def exception_classes_outside_errors() -> list[str]:
    """Classes deriving straight from Exception or BaseException anywhere but errors.py."""
    import ast

    root = Path(errors.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "errors.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id in ("Exception", "BaseException")
                for b in node.bases
            ):
                found.append(f"{path.relative_to(root)}: {node.name}")
    return found


def test_no_exception_class_lives_outside_errors_py() -> None:
    assert exception_classes_outside_errors() == []


@pytest.mark.parametrize(
    "args", [["rollback", "-o", "json"], ["deploy", "--bogus", "x", "--output=json"]]
)
def test_bad_arguments_in_json_end_in_an_error_and_the_result_line(
    env: Path, args: list[str]
) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "shipsafe", *args], capture_output=True,
                          text=True, cwd=env, timeout=60)
    assert done.returncode == 2, done.stderr
    error, final = (json.loads(line) for line in done.stdout.splitlines())
    assert error["kind"] == "error" and error["error"] == "usage.invalid"
    assert final == {"kind": "result", "rollout_id": None, "phase": None, "exit_code": 2,
                     "message": error["message"], "error": "usage.invalid"}


def test_the_readme_error_code_table_gives_each_code_its_real_exit_code() -> None:
    """README.md's JSON errors table: every code it names exists, with the exit it states
    (a code with one exit for several shares it)."""
    import re
    from pathlib import Path

    from shipsafe import errors

    def classes(cls: type) -> list[type]:
        return [cls, *(c for sub in cls.__subclasses__() for c in classes(sub))]

    exits = {c.code: c.exit_code for c in classes(errors.ShipsafeError)}
    exits["command.refused"] = errors.ExitCode.INVALID  # a result line, not an exception
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| code | exit | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (`[^|]+) \| ([0-9 /]+) \|", table, re.M)
    assert len(rows) >= 10
    for names, codes in rows:
        named = re.findall(r"`([^`]+)`", names)
        stated = [int(x) for x in codes.split("/")]
        stated = stated * len(named) if len(stated) == 1 else stated
        assert len(stated) == len(named), names
        for name, code in zip(named, stated, strict=True):
            assert name in exits, f"README names {name}, which no error has"
            assert exits[name] == code, f"{name}: README says exit {code}, the code {exits[name]}"


def test_a_state_path_that_cannot_be_created_is_exit_2_and_changes_nothing(
    env: Path, fakes: FakeProviders
) -> None:
    blocker = env / "not-a-directory"
    blocker.write_text("a file where the state directory would go\n")
    plan = write_plan(env, FAST)
    result = run("deploy", plan, "--state", str(blocker / "state.db"), "-o", "json")
    assert result.exit_code == 2, result.output
    final = ends_with_one_result(result.output)
    assert final["error"] == "store.cannot_open"
    assert fakes.router_instance.weights == {"stable": 100, "canary": 0}  # target untouched
    assert not [c for c in fakes.router_instance.calls if c[0] == "set"]
