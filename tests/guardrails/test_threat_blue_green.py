"""Threat: blue/green corruption. Attacks: cutover with a data snapshot that no longer
verifies (deleted, altered), cutover to green while blue is unhealthy, cutting back to a
blue that changed since its snapshot, and deploying into blue during the rollback window.
Real file snapshots; the blue identity probe is a real subprocess."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.guardrails.conftest import World, rollout_id_of


def _plan(world: World, name: str = "plan.yaml", stable: str = "v1", canary: str = "v2",
          version: str = "2.4.0", service: str = "checkout") -> str:
    db = world.root / "app.db"
    if not db.exists():
        db.write_bytes(b"orders: 2\n")
    blue = world.root / f"{stable}.version"
    if not blue.exists():
        blue.write_text("2.3.9\n")
    probe = json.dumps([sys.executable, "-c", f"print(open({str(blue)!r}).read())"])
    steps = f"""\
strategy:
  blueGreen: {{blueIdentity: {probe}}}
dataSnapshots:
  db: {{provider: file, path: {db}}}
steps:
  - analysis: {{templates: [error-rate]}}
  - snapshot: {{data: [db]}}
  - approval: {{}}
  - cutover: {{blueHealth: [blue-up]}}
  - analysis: {{templates: [error-rate]}}
"""
    return world.plan(steps, name=name, stable=stable, canary=canary, version=version,
                      service=service)


def _no_traffic_moved(world: World) -> bool:
    writes = [c for c in world.router.calls if c[0] == "set"]
    return not writes and world.on_stable()


def _waiting_at_cutover(world: World) -> str:
    result = world.deploy(_plan(world), "--detach")
    assert result.exit_code == 4, result.output
    return rollout_id_of(result)


def _copy(world: World, rid: str) -> Path:
    return Path(world.audit("data_snapshot_taken", rid)[0]["data"]["snapshot"]["copy"])


def test_cutover_with_a_deleted_data_snapshot_is_refused(world: World) -> None:
    rid = _waiting_at_cutover(world)
    _copy(world, rid).unlink()
    result = world.approve(rid, "bob")
    assert result.exit_code == 3, result.output
    assert _no_traffic_moved(world)
    started = world.audit("rollback_started", rid)[0]
    assert started["reason"] == "snapshot_unverified"
    assert "cutover refused" in started["message"] and "is gone" in started["message"]
    assert world.audit("blue_protected", rid) == []


def test_cutover_with_an_altered_data_snapshot_is_refused(world: World) -> None:
    rid = _waiting_at_cutover(world)
    copy = _copy(world, rid)
    os.chmod(copy, 0o600)
    copy.write_bytes(b"orders: 0\n")
    assert world.approve(rid, "bob").exit_code == 3
    assert _no_traffic_moved(world)
    assert "changed since it was taken" in world.audit("rollback_started", rid)[0]["message"]


def test_cutover_to_green_while_blue_is_unhealthy_is_refused(world: World) -> None:
    rid = _waiting_at_cutover(world)
    world.metrics.answer = lambda q: 0.0 if q.startswith("up") else 0.001  # blue is down
    assert world.approve(rid, "bob").exit_code == 3
    assert _no_traffic_moved(world)
    started = world.audit("rollback_started", rid)[0]
    assert started["reason"] == "blue_unhealthy" and "blue-up" in started["message"]


def test_a_rollback_never_cuts_back_to_a_blue_that_changed(world: World) -> None:
    rid = _waiting_at_cutover(world)
    bad = {"on": False}

    def answer(query: str) -> float | None:
        if query.startswith("up"):
            return 1.0
        return 0.5 if bad["on"] and '"v2"' in query else 0.001

    def after_cutover(weight: int) -> None:
        if weight == 100:
            bad["on"] = True  # green fails under load...
            (world.root / "v1.version").write_text("2.5.0-hotfix\n")  # ...and blue was reused

    world.metrics.answer = answer
    world.router.on_set = after_cutover
    result = world.approve(rid, "bob")
    assert result.exit_code == 5, result.output
    assert world.router.weights == {"stable": 0, "canary": 100}  # left on green: page a human
    assert ("restore", {"weights": {"stable": 100, "canary": 0}}) not in world.router.calls
    failed = world.audit("rollback_failed", rid)[0]
    assert failed["reason"] == "blue_changed" and "2.5.0-hotfix" in failed["message"]


def test_blue_is_protected_during_the_rollback_window(world: World) -> None:
    rid = _waiting_at_cutover(world)
    assert world.approve(rid, "bob").exit_code == 0
    assert world.router.weights == {"stable": 0, "canary": 100}
    assert world.audit("blue_protected", rid)
    snapshot_blue = world.audit("blue_checked", rid)
    assert snapshot_blue
    # the next release goes into the idle slot, which is blue (v1): the way back
    world.router.weights = {"stable": 100, "canary": 0}  # its view: v2 serves everything
    world.router.calls.clear()
    nxt = _plan(world, name="next.yaml", stable="v2", canary="v1", version="2.5.0")
    result = world.deploy(nxt)
    assert result.exit_code == 6, result.output
    assert world.untouched()
    finding = world.audit("deploy_refused")[-1]["data"]["findings"][0]
    assert finding["rule"] == "blueProtected" and finding["threat"] == "blue-green-corruption"
    world.clock.advance(3601)  # the window is over: blue may be reused
    assert world.deploy(nxt, "--detach").exit_code == 4


def test_renaming_the_service_does_not_unprotect_blue(world: World) -> None:
    # protection keys on the target (router, socket, backend), not on metadata.service
    rid = _waiting_at_cutover(world)
    assert world.approve(rid, "bob").exit_code == 0
    world.router.weights = {"stable": 100, "canary": 0}
    world.router.calls.clear()
    renamed = _plan(world, name="renamed.yaml", stable="v2", canary="v1", version="2.5.0",
                    service="checkout-next")
    result = world.deploy(renamed)
    assert result.exit_code == 6, result.output
    assert world.untouched()
    finding = world.audit("deploy_refused")[-1]["data"]["findings"][0]
    assert finding["rule"] == "blueProtected" and rid in finding["message"]


def test_within_the_window_a_rollback_cuts_back_to_an_unchanged_blue(world: World) -> None:
    rid = _waiting_at_cutover(world)
    assert world.approve(rid, "bob").exit_code == 0
    result = world.run("rollback", rid, "--reason", "checkout totals wrong", actor="bob")
    assert result.exit_code == 0, result.output
    assert world.on_stable()
    assert world.audit("rollback_finished", rid)
    assert "still runs what was snapshotted" in world.audit("blue_checked", rid)[-1]["message"]
