"""No module outside engine/rollout.py touches the rollout engine's private members: step
executors and commands return outcomes and intents, and the rollout applies them in one
place (DESIGN.md, "The engine's shape")."""

from __future__ import annotations

import ast
from pathlib import Path

import shipsafe

ROOT = Path(shipsafe.__file__).parent
ENGINE = ROOT / "engine" / "rollout.py"
FILES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts and p != ENGINE)


def engine_privates() -> set[str]:
    """Every private name RolloutEngine defines: its methods and the attributes it sets."""
    tree = ast.parse(ENGINE.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RolloutEngine")
    names: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef | ast.Assign | ast.AnnAssign):
            if isinstance(node, ast.FunctionDef):
                names.add(node.name)
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else []
            )
            for target in targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                elif isinstance(target, ast.Attribute):
                    names.add(target.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_uses(source: str, privates: set[str]) -> list[str]:
    """`x._name` where x is not self/cls and _name is private to the engine, or x is named
    like an engine (`engine._anything`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__"):
            continue
        owner = node.value
        name = owner.id if isinstance(owner, ast.Name) else (
            owner.attr if isinstance(owner, ast.Attribute) else ""
        )
        if name in ("self", "cls"):
            continue
        if node.attr in privates or name == "engine":
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_outside_the_rollout_touches_the_engines_private_members() -> None:
    privates = engine_privates()
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in FILES
        if (uses := private_uses(path.read_text(), privates))
    }
    assert offenders == {}


def test_the_engine_keeps_private_members_the_check_looks_for() -> None:
    # the check is only as good as the names it collects
    assert {"_pause", "_complete_step", "_enter_step", "_router"} <= engine_privates()


def test_the_checker_catches_a_private_call_on_the_engine() -> None:
    source = (
        "def promote(engine, other):\n"
        "    engine._to('progressing')\n"
        "    other.runner._complete_step('x')\n"
        "    self._pause()\n"
    )
    found = private_uses(source, {"_complete_step", "_pause"})
    assert found == ["line 2: engine._to", "line 3: other.runner._complete_step"]
