"""A target's identity, and the environment the policy says owns it."""

from __future__ import annotations

import os
from pathlib import Path

from shipsafe.plan.loader import load_plan_text
from shipsafe.plan.target_identity import matches, target_identity, target_key
from shipsafe.policy import LoadedPolicy, _parse, target_findings

HEAD = """\
apiVersion: shipsafe/v1
kind: Plan
metadata: {{name: checkout, service: {service}, environment: {environment}}}
release: {{version: "2.4.0"}}
target:
  router: haproxy
  haproxy: {{socket: {socket}, backend: checkout, stable: v1, canary: v2}}
steps:
  - setWeight: 10
"""

POLICY = """\
apiVersion: shipsafe/v1
kind: Policy
environments:
  production: {requireApproval: {count: 2}, maxFirstWeight: 5}
  production-eu: {requireApproval: {count: 3}, maxFirstWeight: 5}
  staging: {}
targets:
  - {environment: production, router: haproxy, match: {socket: SOCKET, backend: checkout}}
"""


def _plan(tmp_path: Path, environment: str, socket: str, service: str = "checkout") -> object:
    text = HEAD.format(environment=environment, socket=socket, service=service)
    return load_plan_text(text, str(tmp_path / "plan.yaml"))


def _loaded(socket: str) -> LoadedPolicy:
    policy = _parse(POLICY.replace("SOCKET", socket), "policy.yaml")
    return LoadedPolicy(policy, "test", "digest")


def test_a_socket_reached_by_another_path_is_the_same_target(tmp_path: Path) -> None:
    real = tmp_path / "admin.sock"
    real.touch()
    os.symlink(real, tmp_path / "link.sock")
    one = target_identity(_plan(tmp_path, "production", str(real)).target)  # type: ignore[attr-defined]
    two = target_identity(_plan(tmp_path, "x", f"{tmp_path}/./link.sock").target)  # type: ignore[attr-defined]
    assert one == two and target_key(one).startswith("haproxy:backend=checkout,socket=")
    assert matches(one, "haproxy", {"backend": "checkout"})
    assert not matches(one, "haproxy", {"backend": "payments"})
    assert not matches(one, "exec", {"backend": "checkout"})


def test_a_claimed_target_under_a_looser_label_is_an_error(tmp_path: Path) -> None:
    sock = str(tmp_path / "admin.sock")
    loaded = _loaded(sock)
    (finding,) = target_findings(_plan(tmp_path, "staging", sock), loaded)  # type: ignore[arg-type]
    assert finding.rule == "targetEnvironment" and "belongs to production" in finding.message
    assert target_findings(_plan(tmp_path, "production", sock), loaded) == []  # type: ignore[arg-type]
    # a stricter environment may name it
    assert target_findings(_plan(tmp_path, "production-eu", sock), loaded) == []  # type: ignore[arg-type]
    # an unclaimed target: the label stands
    other = str(tmp_path / "other.sock")
    assert target_findings(_plan(tmp_path, "staging", other), loaded) == []  # type: ignore[arg-type]
