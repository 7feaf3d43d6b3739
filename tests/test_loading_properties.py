"""Property: whatever plan or policy file the loader is given, `validate` ends in exit 0, or
in exit 2 with every problem naming file:line — never exit 1, never a traceback.

Inputs are structure-aware mutations of the real files in plans/: keys deleted, duplicated
or retyped, values swapped between places, anchors and aliases injected (recursive ones
too), plus line-level damage (a line duplicated, cut, re-indented, a byte flipped). The
number of examples comes from the hypothesis profile (tests/conftest.py): 2,800 a run under
CI=true (2,000 of them plans), 170 locally.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipsafe.errors import ExitCode, ShipsafeError
from shipsafe.plan.loader import UNEXPECTED, load_plan
from shipsafe.policy import Request, findings_for_plan, load_policy

ROOT = Path(__file__).resolve().parents[1]
PLAN_FILES = sorted(p for p in (ROOT / "plans").glob("*.yaml") if "kind: Plan" in p.read_text())
POLICY_FILE = ROOT / "plans" / "policy-example.yaml"
LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+): ")

# values that have broken loaders before: wrong types, non-finite and huge numbers, long
# strings, nesting, YAML's own oddities
HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["30s", "1e9h", "-5s", "", "~", "1h30m", "9" * 400 + "s", "{{canary}}",
                     "result < 0.01", "result <", "${HOME}", "haproxy", "exec", "shipsafe/v1"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.recursive(st.integers(), lambda c: st.lists(c, max_size=2), max_leaves=30),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


@st.composite
def mutated_document(draw: st.DrawFn, files: list[Path]) -> str:
    """A real file's data, mutated one to four times, dumped back to YAML."""
    path = draw(st.sampled_from(files))
    data = yaml.safe_load(path.read_text())
    for _ in range(draw(st.integers(1, 4))):
        places = [p for p in _paths(data) if p]
        if not places:
            break
        where = draw(st.sampled_from(places))
        op = draw(st.sampled_from(["delete", "retype", "swap", "rename", "wrap", "copy"]))
        parent = _get(data, where[:-1])
        if op == "delete":
            del parent[where[-1]]
        elif op == "retype":
            parent[where[-1]] = draw(HOSTILE_VALUES)
        elif op == "swap":
            other = draw(st.sampled_from(places))
            if other[: len(where)] != where and where[: len(other)] != other:
                a, b = _get(data, where), _get(data, other)
                _set(data, where, copy.deepcopy(b))
                _set(data, other, copy.deepcopy(a))
        elif op == "rename" and isinstance(parent, dict):
            value = parent.pop(where[-1])
            parent[draw(st.one_of(st.text(max_size=12), st.integers(), st.none()))] = value
        elif op == "wrap":
            moved = copy.deepcopy(_get(data, where))
            parent[where[-1]] = draw(st.sampled_from([[moved], {"x": moved}]))
        elif op == "copy" and isinstance(parent, dict):
            parent[f"{where[-1]}-copy"] = copy.deepcopy(_get(data, where))
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, ValueError):
        return yaml.safe_dump({"unrepresentable": True})


@st.composite
def damaged_text(draw: st.DrawFn, files: list[Path]) -> bytes:
    """A real file (or a mutated one) with damage YAML itself has to deal with."""
    text = draw(st.one_of(st.sampled_from([p.read_text() for p in files]),
                          mutated_document(files)))
    lines = text.splitlines(keepends=True) or ["\n"]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(
            ["duplicate", "cut", "indent", "dedent", "anchor", "alias", "recursive", "tag",
             "flow", "bytes", "truncate"]
        ))
        line = lines[i]
        key = re.match(r"^(\s*)(- )?([A-Za-z][\w-]*):(\s*)(.*)$", line.rstrip("\n"))
        if op == "duplicate":
            lines.insert(i, line)
        elif op == "cut":
            del lines[i]
        elif op == "indent":
            lines[i] = "  " + line
        elif op == "dedent":
            lines[i] = line[1:]
        elif op in ("anchor", "recursive", "tag") and key:
            indent, dash, name, _, rest = key.groups()
            mark = {"anchor": "&a ", "recursive": "&r ", "tag": draw(st.sampled_from(
                ["!!python/object:os.system ", "!!binary ", "!!set ", "!!timestamp ",
                 "!!int ", "!custom "]))}[op]
            body = rest if rest else ""
            lines[i] = f"{indent}{dash or ''}{name}: {mark}{body}\n"
            if op == "recursive" and not rest and i + 1 < len(lines):
                lines.insert(i + 1, f"{indent}  self: *r\n")
        elif op == "alias" and key:
            indent, dash, name, _, _ = key.groups()
            lines[i] = f"{indent}{dash or ''}{name}: *a\n"
        elif op == "flow":
            lines[i] = line.rstrip("\n") + draw(st.sampled_from([" [", " {", " ]", ": :", " ?"]))
            lines[i] += "\n"
        elif op == "bytes":
            raw = bytearray(line.encode())
            if raw:
                raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
            return b"".join(x.encode() for x in lines[:i]) + bytes(raw) + b"".join(
                x.encode() for x in lines[i + 1:]
            )
        elif op == "truncate":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]
    return "".join(lines).encode()


BUILTIN = load_policy(None)


def validate_exit(path: Path, policy: Path | None = None) -> tuple[int, list[str]]:
    """What `shipsafe validate` decides, minus the printing: its exit code and its lines."""
    try:
        rules = BUILTIN if policy is None else load_policy(policy)
        plan = load_plan(path)
        findings_for_plan(plan, rules, Request())
    except ShipsafeError as exc:
        return exc.exit_code, list(getattr(exc, "problems", [exc.message]))
    return ExitCode.OK, []


def assert_exit_0_or_located_2(code: int, lines: list[str], source: Path) -> None:
    assert code in (ExitCode.OK, ExitCode.INVALID), (code, lines)
    if code == ExitCode.INVALID:
        assert lines
        for line in lines:
            if line.startswith("... and "):
                continue
            located = LOCATED.match(line)
            assert located and located["file"] == str(source), line
            assert UNEXPECTED not in line, line


# the profile's count (tests/conftest.py) for mutated plans; two thirds of it for damaged
# text and for policies: 1,200 + 800 + 800 examples under CI=true
N = settings.default.max_examples
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                        HealthCheck.function_scoped_fixture])
FEWER = settings(SETTINGS, max_examples=max(1, N * 2 // 3))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@SETTINGS
@given(text=mutated_document(PLAN_FILES))
def test_mutated_plans_exit_0_or_2_with_file_and_line(workdir: Path, text: str) -> None:
    path = workdir / "plan.yaml"
    path.write_text(text)
    assert_exit_0_or_located_2(*validate_exit(path), path)


@FEWER
@given(data=damaged_text(PLAN_FILES))
def test_damaged_plan_text_exits_0_or_2_with_file_and_line(workdir: Path, data: bytes) -> None:
    path = workdir / "plan.yaml"
    path.write_bytes(data)
    assert_exit_0_or_located_2(*validate_exit(path), path)


@FEWER
@given(data=st.one_of(mutated_document([POLICY_FILE]).map(str.encode),
                      damaged_text([POLICY_FILE])))
def test_mutated_policies_exit_0_or_2_with_file_and_line(workdir: Path, data: bytes) -> None:
    policy = workdir / "policy.yaml"
    policy.write_bytes(data)
    (workdir / "trust.yaml").write_text("keys: []\n")
    code, lines = validate_exit(PLAN_FILES[0], policy)
    if code == ExitCode.INVALID and lines and not lines[0].startswith(str(policy)):
        return  # the policy loaded; the (unchanged) plan broke one of its rules
    assert_exit_0_or_located_2(code, lines, policy)
