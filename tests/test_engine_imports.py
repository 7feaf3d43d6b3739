"""The engine, plan, analysis and policy code talk to Protocols: no SDK, socket, database
or subprocess module is imported there (providers, stores and shipsafe.runner do that)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shipsafe

FORBIDDEN = {"boto3", "botocore", "httpx", "requests", "sqlite3", "subprocess", "socket"}
PACKAGES = ["engine", "plan", "policy"]
ROOT = Path(shipsafe.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path",
    [p for pkg in PACKAGES for p in sorted((ROOT / pkg).glob("*.py"))],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_no_io_library_is_imported(path: Path) -> None:
    assert not (_imports(path) & FORBIDDEN)
