"""The exec router runs real commands (no shell) and passes the router contract."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.providers.traffic.exec import build
from tests.contract.router_contract import RouterContract

SCRIPT = str(Path(__file__).parent.parent / "support" / "weight_file.py")


def exec_router(tmp_path: Path, **overrides: object) -> object:
    state = str(tmp_path / "weight")
    config = {
        "getWeight": [sys.executable, SCRIPT, state, "get"],
        "setWeight": [sys.executable, SCRIPT, state, "set", "{weight}"],
        "timeout": 10,
    }
    config.update(overrides)
    return build(config, "exec")


class TestExecRouterContract(RouterContract):
    @pytest.fixture
    def router(self, tmp_path: Path) -> object:
        return exec_router(tmp_path)

    @pytest.fixture
    def broken_router(self, tmp_path: Path) -> object:
        # subprocess raises FileNotFoundError for a command that is not there
        missing = ["/nonexistent/weight-tool"]
        return exec_router(tmp_path, getWeight=missing, setWeight=[*missing, "{weight}"])


def test_a_missing_command_is_a_configuration_error(tmp_path: Path) -> None:
    router = exec_router(tmp_path, getWeight=["/nonexistent/get-weight"])
    with pytest.raises(ConfigurationError, match="command not found"):
        router.check()  # type: ignore[attr-defined]


def test_a_failing_command_is_a_provider_error_with_its_message(tmp_path: Path) -> None:
    router = exec_router(tmp_path, setWeight=[sys.executable, SCRIPT, "x", "set", "nope{weight}"])
    with pytest.raises(ProviderError, match="exited 1: bad weight"):
        router.set_weight(5)  # type: ignore[attr-defined]


def test_arguments_are_not_interpreted_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    router = exec_router(
        tmp_path, setWeight=["echo", "{weight}", f"; touch {marker}", "$(touch x)"]
    )
    router.set_weight(5)  # type: ignore[attr-defined]
    assert not marker.exists()
