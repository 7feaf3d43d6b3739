"""numpy and scipy are imported where a judge runs, never when the CLI starts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import shipsafe

HEAVY = ("numpy", "scipy")
JUDGE = Path(shipsafe.__file__).parent / "judge"


def _loaded_after(statement: str) -> list[str]:
    code = f"{statement}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    return [m for m in out.split(",") if m]


def test_importing_the_cli_loads_neither_numpy_nor_scipy():
    assert _loaded_after("import shipsafe.cli.app") == []


def test_importing_the_judges_loads_neither_until_one_runs():
    assert (
        _loaded_after(
            "import shipsafe.judge.base, shipsafe.judge.kayenta, shipsafe.judge.mannwhitney, "
            "shipsafe.judge.sequential"
        )
        == []
    )
    assert "numpy" in _loaded_after(
        "from shipsafe.judge.kayenta import classify; classify([1.0, 2.0], [3.0, 4.0])"
    )


@pytest.mark.parametrize("path", sorted(JUDGE.glob("*.py")), ids=lambda p: p.name)
def test_judge_modules_import_heavy_libraries_only_inside_functions(path: Path):
    tree = ast.parse(path.read_text())
    for node in tree.body:  # module level only; TYPE_CHECKING blocks are not executed
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module.split(".")[0]]
        else:
            continue
        assert not set(names) & set(HEAVY), f"{path.name} imports {names} at module level"
