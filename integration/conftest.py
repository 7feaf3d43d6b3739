"""Fixtures for tests against the real rig (HAProxy, Prometheus, demo services, load).

One rig per test session (it takes ~8 s to start, mostly Prometheus' first samples); the
function-scoped `rig` fixture puts it back to its starting point before each scenario.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration.rig import Rig
from integration.rig.processes import find_binary


def _require_binaries() -> None:
    missing = [name for name in ("haproxy", "prometheus") if find_binary(name) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: run `bash integration/install.sh` first",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def rig_session() -> Iterator[Rig]:
    _require_binaries()
    with Rig() as rig:
        yield rig


@pytest.fixture
def rig(rig_session: Rig) -> Rig:
    """The session's rig, reset: no faults, stable 100 / canary 0, clean recent history."""
    rig_session.reset()
    return rig_session
