"""A world for attack tests: the real CLI over fakes (router, metrics) with a shared fake
clock, a real SQLite store and audit log in a temp dir, real ed25519 keys and a trust root
signed by an admin key (holding POLICY and the people's keys), real file snapshots and real
subprocesses for migrations. Each actor acts with their own key (SHIPSAFE_KEY); mallory's
key is not in the trust root, and `nobody` has no key at all (an unverified agent).

Every attack test asserts three things: the exit code, that the target was not changed
(or was put back), and what the audit log recorded.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipsafe.approvals import generate_keys
from shipsafe.cli.app import app
from shipsafe.clock import FakeClock
from shipsafe.store import default_state_dir
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter
from tests.support.trust_root import write_trust_root

# a Wednesday, noon UTC
START = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

HEAD = """\
apiVersion: shipsafe/v1
kind: Plan
metadata: {{name: checkout, service: {service}, environment: {environment}}}
release: {{version: "{version}"}}
target:
  router: haproxy
  haproxy: {{socket: /tmp/none.sock, backend: {backend}, stable: {stable}, canary: {canary}}}
metricSources:
  prom: {{provider: prometheus, url: "http://127.0.0.1:9"}}
analysis:
  error-rate:
    source: prom
    query: errors{{server="{{{{canary}}}}"}}
    successCondition: result < 0.01
    interval: 5s
    count: 2
  blue-up:
    source: prom
    query: up{{server="{{{{stable}}}}"}}
    successCondition: result == 1.0
breakers:
  - analysis: error-rate
"""

POLICY = """\
apiVersion: shipsafe/v1
kind: Policy
environments:
  production:
    requireApproval: {count: 1, signed: true}
    requireBreakers: true
    maxFirstWeight: 25
    maxWeightIncrease: 50
    requireDataSnapshot: true
    freezeAfterRollback: 30m
    maxChainDepth: 1
    maxConcurrentRollouts: 2
    rollbackWindow: 1h
    freezeWindows:
      - {name: weekend, days: [sat, sun], timezone: Europe/Berlin, reason: nobody on call}
    emergency: {allowed: true, maxPause: 30s, approvalAfter: true, minReasonLength: 10,
                allowedKinds: [human]}
  "*":
    rollbackWindow: 1h
"""

# name -> (kind, groups); mallory's key exists but is not in the trust file
PEOPLE = {
    "alice": ("human", ["release"]),
    "bob": ("human", ["release"]),
    "carol": ("human", []),
    "robot": ("agent", ["release"]),
    "pipeline": ("ci", ["release"]),
}


class GuardProviders(FakeProviders):
    """Fakes for router and metrics; the real `file` provider for data snapshots."""

    def data_snapshot(self, name: str, config: dict[str, Any]) -> Any:
        from shipsafe.providers.snapshots.file import build

        return build(config, name)


def default_metrics(query: str) -> float | None:
    return 1.0 if query.startswith("up") else 0.001


@dataclass
class World:
    root: Path
    clock: FakeClock
    providers: GuardProviders
    runner: CliRunner = field(default_factory=CliRunner)

    @property
    def router(self) -> FakeRouter:
        return self.providers.router_instance

    @property
    def metrics(self) -> FakeMetrics:
        return self.providers.metrics_instance

    def key(self, name: str) -> str:
        return str(self.root / "keys" / f"{name}.key")

    def plan(
        self,
        steps: str,
        *,
        name: str = "plan.yaml",
        environment: str = "production",
        service: str = "checkout",
        version: str = "2.4.0",
        stable: str = "v1",
        canary: str = "v2",
        extra: str = "",
        head: str | None = None,
        backend: str = "checkout",
    ) -> str:
        """A plan for HAProxy backend `backend` (the target: the lock, freezes and blue
        protection are its, whatever `service` and `environment` say)."""
        text = (head or HEAD).format(
            service=service, environment=environment, version=version, stable=stable,
            canary=canary, backend=backend,
        )
        path = self.root / name
        path.write_text(text + textwrap.dedent(extra) + textwrap.dedent(steps))
        return str(path)

    def run(self, *args: str, actor: str = "alice", env: dict[str, str] | None = None) -> Any:
        environ = {"SHIPSAFE_ACTOR": actor, **(env or {})}
        if Path(self.key(actor)).exists() and "SHIPSAFE_KEY" not in environ:
            environ["SHIPSAFE_KEY"] = self.key(actor)
        return self.runner.invoke(app, list(args), env=environ)

    def sign_root(self, policy: str | None = None, people: dict[str, tuple[str, list[str]]]
                  | None = None) -> None:
        """(Re)write the trust root: POLICY (or `policy`) and the people's keys, signed."""
        write_trust_root(self.root, policy or POLICY, people or PEOPLE)

    def deploy(self, plan: str, *args: str, actor: str = "alice",
               env: dict[str, str] | None = None) -> Any:
        return self.run("deploy", plan, "-o", "json", *args, actor=actor, env=env)

    def approve(self, rollout_id: str, who: str, *args: str, key: str | None = None) -> Any:
        return self.run("approve", rollout_id, "--key", key or self.key(who), *args, actor=who)

    def audit(
        self, type_: str | None = None, rollout_id: str | None = None
    ) -> list[dict[str, Any]]:
        path = default_state_dir() / "audit.jsonl"
        if not path.exists():
            return []
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [
            r for r in records
            if (type_ is None or r["type"] == type_)
            and (rollout_id is None or r["rollout_id"] == rollout_id)
        ]

    def untouched(self) -> bool:
        """The router got no write at all: the stable target serves everything, as before."""
        writes = [c for c in self.router.calls if c[0] in ("set", "restore")]
        return not writes and self.router.weights == {"stable": 100, "canary": 0}

    def on_stable(self) -> bool:
        return self.router.weights == {"stable": 100, "canary": 0}


def rollout_id_of(result: Any) -> str:
    for line in result.output.splitlines():
        if line.startswith("{"):
            doc = json.loads(line)
            if doc.get("rollout_id"):
                return str(doc["rollout_id"])
    raise AssertionError(f"no rollout id in: {result.output}")


def result_line(result: Any) -> dict[str, Any]:
    lines = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    return lines[-1] if lines else {}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.chdir(tmp_path)
    for name in ("SHIPSAFE_STATE", "SHIPSAFE_POLICY", "SHIPSAFE_TRUST", "SHIPSAFE_PARENT_ROLLOUT",
                 "SHIPSAFE_AGENT", "SHIPSAFE_APPROVER_KEY", "CI", "SHIPSAFE_AUDIT_LOG"):
        monkeypatch.delenv(name, raising=False)
    clock = FakeClock(START)
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    monkeypatch.setattr("shipsafe.clock.SystemClock", lambda: clock)
    providers = GuardProviders(FakeRouter(), FakeMetrics(default_metrics))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    for name in [*PEOPLE, "mallory", "admin"]:
        generate_keys(tmp_path / "keys" / name)
    # the test process is the trust root's owner here (in CI, root): see tests/attacks for
    # the real thing, run as an unprivileged user
    monkeypatch.setattr("shipsafe.trust.paths.TRUSTED_OWNERS", frozenset({0, os.geteuid()}))
    monkeypatch.setenv("SHIPSAFE_TRUST_ROOT", str(tmp_path / "trust-root.yaml"))
    # with SHIPSAFE_TRUST_ROOT emptied, no root at all (whatever /etc/shipsafe holds)
    monkeypatch.setattr("shipsafe.trust.root.DEFAULT_ROOT", str(tmp_path / "no-default-root"))
    monkeypatch.delenv("SHIPSAFE_KEY", raising=False)
    write_trust_root(tmp_path, POLICY, PEOPLE)
    return World(tmp_path, clock, providers)


Answer = Callable[[str], float | None]
