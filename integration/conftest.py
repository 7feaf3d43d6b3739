"""Fixtures for tests against the real rig (HAProxy, Prometheus, demo services, load).

One rig per test session (it takes ~8 s to start, mostly Prometheus' first samples); the
function-scoped `rig` fixture puts it back to its starting point before each scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(autouse=True)
def private_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shipsafe run without --state would use the user's XDG state directory: never the
    real home's from a test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


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


PEOPLE = {  # who acts in the scenarios, and as what (the trust root says so, not a flag)
    "deployer": ("ci", []),
    "alice": ("human", ["release"]),
    "bob": ("human", ["release"]),
    "oncall": ("human", []),
    "approver": ("human", []),
    "robot": ("agent", []),
}


# the organisation's policy the admins signed: production as test_guardrails_real's scenarios
# need it (they add their own rules with --policy), the built-in rules everywhere else
ROOT_POLICY = """\
apiVersion: shipsafe/v1
kind: Policy
approvals: {maxValidity: 1h}
environments:
  production:
    requireApproval: {count: 1, signed: true}
    requireBreakers: true
    requireDataSnapshot: true
    freezeAfterRollback: 10m
    rollbackWindow: 1h
  "*":
    maxChainDepth: 2
    rollbackWindow: 1h
    maxDuration: 24h
    emergency: {allowed: true, maxPause: 1m, approvalAfter: true}
"""


@pytest.fixture(scope="session", autouse=True)
def trust_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A trust root made with the admin commands (`shipsafe keys generate`, `trust init`,
    `trust add-key`) in a root-owned directory, as an operator would under /etc/shipsafe.
    Every scenario's `shipsafe` runs with it and with its actor's key (shipsafe_cli.py)."""
    import os
    import subprocess
    import sys

    where = tmp_path_factory.mktemp("trust")
    keys = where / "keys"

    def shipsafe(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "shipsafe", *args], capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr

    for name in [*PEOPLE, "admin"]:
        kind = PEOPLE.get(name, ("human", []))[0]
        shipsafe("keys", "generate", "--identity", name, "--kind", kind,
                 "--out", str(keys / name))
    root = where / "etc" / "trust.yaml"
    admin = str(keys / "admin.key")
    (where / "policy.yaml").write_text(ROOT_POLICY)
    shipsafe("trust", "init", "--root", str(root), "--admin", f"admin={keys / 'admin.pub'}",
             "--sign-with", admin, "--policy", str(where / "policy.yaml"))
    for name, (kind, groups) in PEOPLE.items():
        shipsafe("trust", "add-key", "--root", str(root), "--identity", name, "--kind", kind,
                 *[f"--group={g}" for g in groups], "--public-key", str(keys / f"{name}.pub"),
                 "--sign-with", admin)
    shipsafe("trust", "show", "--root", str(root))
    saved = {k: os.environ.get(k) for k in ("SHIPSAFE_TRUST_ROOT", "SHIPSAFE_TEST_KEYS")}
    os.environ["SHIPSAFE_TRUST_ROOT"] = str(root)
    os.environ["SHIPSAFE_TEST_KEYS"] = str(keys)
    yield root
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
