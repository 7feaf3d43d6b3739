"""The layers of ../shared/DESIGN.md, checked on every import (TYPE_CHECKING ones included):
records and errors at the bottom import nothing of shipsafe; the plan, judge and approvals
know nothing of the engine; providers, stores and the audit know nothing of the engine or
the policy; the engine talks to providers, stores and the audit through their Protocols
(`base` modules) only and never reads YAML (plan models, not the loader); nothing but the
CLI imports the CLI, nothing but the CLI imports the renderers (two exceptions, named in
RENDER_WORDING), and the decision layers import no SDK (boto3, botocore, httpx, sqlite3,
requests): those live in providers, stores, the audit and the notifier."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shipsafe

ROOT = Path(shipsafe.__file__).parent

# unit (shipsafe.X) -> units it must not import
BELOW_EVERYTHING = {
    "engine", "cli", "render", "notify", "policy", "approvals", "providers", "store", "audit",
    "plan", "judge", "runner",
}
FORBIDDEN: dict[str, set[str]] = {
    "records": BELOW_EVERYTHING | {"errors", "conditions"},
    "errors": BELOW_EVERYTHING | {"conditions"},
    "durations": BELOW_EVERYTHING,
    "clock": BELOW_EVERYTHING,
    "conditions": BELOW_EVERYTHING,
    "plan": {"engine", "cli", "render", "notify", "policy", "approvals", "providers", "store",
             "audit", "judge", "runner"},
    "judge": {"engine", "cli", "render", "notify", "policy", "approvals", "providers", "store",
              "audit", "runner"},
    "approvals": {"engine", "cli", "render", "notify", "policy", "providers", "store", "audit"},
    "providers": {"engine", "cli", "render", "notify", "policy", "approvals", "store", "audit"},
    "store": {"engine", "cli", "render", "notify", "policy", "approvals", "audit"},
    "audit": {"engine", "cli", "render", "notify", "policy", "approvals"},
    "policy": {"engine", "cli", "render", "notify", "providers", "audit"},
    "notify": {"engine", "cli", "policy", "approvals", "providers"},
    "engine": {"cli", "render", "notify"},
}
# where a unit may reach into another only through named modules
ONLY_THROUGH: dict[tuple[str, str], tuple[str, ...]] = {
    ("engine", "providers"): ("shipsafe.providers.traffic.base", "shipsafe.providers.metrics.base",
                              "shipsafe.providers.snapshots.base"),
    ("engine", "store"): ("shipsafe.store.base",),
    ("engine", "audit"): ("shipsafe.audit.base",),
    ("store", "providers"): ("shipsafe.providers.aws_common",),
    ("audit", "providers"): ("shipsafe.providers.aws_common",),
}

# modules a unit must never import: the engine works on plan models, never on YAML
NEVER: dict[str, tuple[str, ...]] = {
    "engine": ("shipsafe.plan.loader", "shipsafe.plan.bounded_yaml"),
}


# the renderers belong to the CLI; these output edges reuse their wording so that a webhook,
# an HTML report and a CI summary say an outcome in the same words (moving the wording
# elsewhere would touch modules other work is changing; an explicit, named exception)
RENDER_WORDING: dict[str, tuple[str, ...]] = {
    "notify": ("shipsafe.render.ci_reports",),
    "report": ("shipsafe.render.ci_reports", "shipsafe.render.stamps"),
}

SDKS = {"boto3", "botocore", "httpx", "sqlite3", "requests"}
# the layers that decide talk to Protocols; only the edges (providers, store, audit, notify,
# cli) import an SDK
NO_SDK = {
    "records", "errors", "durations", "clock", "conditions", "plan", "judge", "approvals",
    "policy", "engine", "render", "report", "replay",
}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path) -> list[str]:
    """Every shipsafe module a file imports, `from shipsafe.x import y` as shipsafe.x.y when
    y is a module, else shipsafe.x."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("shipsafe.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "shipsafe":
                found += [f"shipsafe.{a.name}" for a in node.names]
            elif node.module.startswith("shipsafe."):
                for alias in node.names:
                    sub = ROOT.joinpath(*node.module.split(".")[1:], alias.name)
                    is_module = sub.with_suffix(".py").exists() or sub.is_dir()
                    found.append(f"{node.module}.{alias.name}" if is_module else node.module)
    return found


def sdk_imports(path: Path) -> set[str]:
    """The SDKs a file imports (anywhere in it: lazy imports inside functions count)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & SDKS


FILES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def own_unit(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def violations(path: Path, mine: str) -> list[str]:
    wrong = []
    for module in imports(path):
        other = unit(module)
        if other == mine or not other:
            continue
        if other == "cli" and mine not in ("cli", "__main__"):
            wrong.append(f"{module}: only the CLI imports the CLI")
        if other == "render" and mine != "cli" and not module.startswith(
            RENDER_WORDING.get(mine, ("-",))
        ):
            wrong.append(f"{module}: only the CLI imports the renderers")
        if other in FORBIDDEN.get(mine, set()):
            wrong.append(f"{module}: {mine} sits below {other}")
        if module.startswith(NEVER.get(mine, ("-",))):
            wrong.append(f"{module}: {mine} never imports it")
        through = ONLY_THROUGH.get((mine, other))
        if through and not module.startswith(through):
            wrong.append(f"{module}: {mine} reaches {other} only through {', '.join(through)}")
    if mine in NO_SDK:
        wrong += [f"{sdk}: {mine} imports no SDK" for sdk in sorted(sdk_imports(path))]
    return wrong


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_respects_the_layers(path: Path) -> None:
    assert violations(path, own_unit(path)) == []


@pytest.mark.parametrize(
    ("mine", "source", "caught"),
    [
        ("engine", "from shipsafe.store.sqlite import SQLiteStore\n", "only through"),
        ("engine", "from shipsafe.plan.loader import load_plan\n", "never imports it"),
        ("engine", "from shipsafe.store import sqlite\n", "only through"),
        ("plan", "from shipsafe.engine import rollout\n", "sits below engine"),
        ("records", "import shipsafe.plan.models\n", "sits below plan"),
        ("store", "from shipsafe.providers.traffic import haproxy\n", "only through"),
        ("render", "from shipsafe.cli import app\n", "only the CLI"),
        ("engine", "from shipsafe.render.human import HumanRenderer\n", "the renderers"),
        ("notify", "from shipsafe.render.human import HumanRenderer\n", "the renderers"),
        ("engine", "def f():\n    import boto3\n", "imports no SDK"),
        ("plan", "from httpx import Client\n", "imports no SDK"),
        ("records", "import sqlite3\n", "imports no SDK"),
        ("approvals", "import requests.adapters\n", "imports no SDK"),
    ],
)
def test_the_checker_catches_imports_against_the_layers(
    tmp_path: Path, mine: str, source: str, caught: str
) -> None:
    module = tmp_path / "m.py"
    module.write_text(source)
    found = violations(module, mine)
    assert found and caught in found[0]


def test_allowed_imports_pass_the_checker(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from shipsafe.store.base import StateStore\nfrom shipsafe.plan.models import Plan\n"
        "from shipsafe.records import Phase\n"
    )
    assert violations(module, "engine") == []


# -- no import cycles ------------------------------------------------------------------------
# Every import counts, type-only (TYPE_CHECKING) and lazy ones inside functions included: a
# circle hidden behind a lazy import is still two modules that cannot be read apart.


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(files: list[Path]) -> dict[str, set[str]]:
    """module -> the shipsafe modules it imports (`from shipsafe.x import name` is an edge
    to shipsafe.x, or to shipsafe.x.name when that is a module)."""
    graph = {module_of(path): set(imports(path)) for path in files}
    known = set(graph)
    for module, targets in graph.items():
        resolved = set()
        for target in targets:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != module:
                resolved.add(target)
        graph[module] = resolved
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One closed path (a -> b -> ... -> a) through every group of modules that import each
    other (Tarjan's strongly connected components, then a path inside each)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_closed_path(graph, group) for group in groups]


def _closed_path(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest cycle through the group's first module (breadth first, inside the group)."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")


def test_no_module_of_shipsafe_imports_itself_in_a_circle() -> None:
    found = [" -> ".join(cycle) for cycle in import_cycles(import_graph(FILES))]
    assert found == []


def test_the_cycle_finder_reports_a_circle_hidden_behind_a_type_only_import(
    tmp_path: Path,
) -> None:
    package = tmp_path / "shipsafe"
    (package / "engine").mkdir(parents=True)
    (package / "engine" / "rollout.py").write_text("from shipsafe.engine import steps\n")
    (package / "engine" / "steps.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from shipsafe.engine.rollout import RolloutEngine\n"
    )
    (package / "engine" / "analysis.py").write_text("from shipsafe.engine import steps\n")
    graph = {
        f"shipsafe.engine.{name}": set(imports(package / "engine" / f"{name}.py"))
        for name in ("rollout", "steps", "analysis")
    }
    assert import_cycles(graph) == [
        ["shipsafe.engine.rollout", "shipsafe.engine.steps", "shipsafe.engine.rollout"]
    ]


def test_the_cycle_finder_passes_a_graph_without_circles() -> None:
    graph = {"a": {"b", "c"}, "b": {"c"}, "c": set()}
    assert import_cycles(graph) == []
