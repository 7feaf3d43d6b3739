"""Guardrails (issue 5) against the real rig: blue/green cutover and cut-back, migrations
with real `up`/`down` commands on a real SQLite file, signed approvals with keys made by
`shipsafe keys generate`, preflight against a real Prometheus, and the environment freeze
after a real breaker rollback.

shipsafe runs only as the real CLI (`python -m shipsafe ... -o json`); traffic is checked on
HAProxy over its runtime API (rig.haproxy.weights()), never in shipsafe's store; what
shipsafe decided is checked in the audit log beside the state file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.rig import Rig
from integration.rig.plans import LOCAL_BLUE_GREEN
from integration.shipsafe_cli import Finished, Running, ShipsafeCLI

pytestmark = pytest.mark.integration

SNAPSHOT = {"stable": 100, "canary": 0}  # blue serves everyone
CUT_OVER = {"stable": 0, "canary": 100}  # green serves everyone
HUMAN = {"CI": "false"}  # an approver is a person at a terminal, even when CI=true
SHIPSAFE = [sys.executable, "-m", "shipsafe"]

POLICY = """\
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
    requireBreakers: true
    freezeAfterRollback: 10m
"""

# a migration: prints the canary's weight as HAProxy has it when the command runs (so the
# audit shows whether traffic had moved), then changes the schema, or fails
MIGRATION = """\
import socket, sqlite3, sys
db, haproxy_socket, action = sys.argv[1:4]
with socket.socket(socket.AF_UNIX) as s:
    s.connect(haproxy_socket)
    s.sendall(b"get weight demo/canary\\n")
    print("canary weight", s.recv(100).decode().split()[0], flush=True)
if action == "fail":
    print("error: disk I/O error while rewriting orders", flush=True)
    sys.exit(3)
conn = sqlite3.connect(db)
if action == "add-note":
    conn.execute("ALTER TABLE orders ADD COLUMN note TEXT")
elif action == "drop-note":
    conn.execute("ALTER TABLE orders DROP COLUMN note")
conn.commit()
print("migrated:", action)
"""


# people, keys, trust file and policy --------------------------------------------------------
@dataclass(frozen=True)
class Org:
    """People's keys (in the trust root) and a policy of extra rules."""

    root: Path
    policy: Path

    def key(self, who: str) -> str:
        return str(self.root / f"{who}.key")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory, trust_root: Path) -> Org:
    """The people's keys are those of the session's trust root (integration/conftest.py,
    made with `shipsafe keys generate` and `shipsafe trust add-key`); POLICY, given with
    --policy, adds its rules to the root's."""
    import os

    root = tmp_path_factory.mktemp("org")
    policy = root / "policy.yaml"
    policy.write_text(POLICY)
    return Org(Path(os.environ["SHIPSAFE_TEST_KEYS"]), policy)


@pytest.fixture
def alice(tmp_path: Path) -> ShipsafeCLI:
    """The deployer, with a fresh state file (the audit log goes beside it)."""
    return ShipsafeCLI(tmp_path / "state.db", actor="alice")


@pytest.fixture
def rig_failing(rig_session: Rig) -> Rig:
    """The rig put back without waiting for earlier canary 5xx to leave Prometheus' window:
    for scenarios that switch 5xx on themselves (earlier ones only trip the breaker sooner)."""
    rig_session.reset(clean_history=False)
    return rig_session


# helpers ----------------------------------------------------------------------------------
def audit(
    cli: ShipsafeCLI, type_: str | None = None, rollout_id: str | None = None
) -> list[dict[str, Any]]:
    """Records of the audit log beside the state file, oldest first."""
    path = cli.state.parent / "audit.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        r
        for r in records
        if (type_ is None or r["type"] == type_)
        and (rollout_id is None or r["rollout_id"] == rollout_id)
    ]


def first(records: list[dict[str, Any]], type_: str, **data: Any) -> int:
    """Index of the first record of a type (with these data values) in `records`."""
    for i, record in enumerate(records):
        if record["type"] == type_ and all(record["data"].get(k) == v for k, v in data.items()):
            return i
    raise AssertionError(f"no {type_} {data or ''} in the audit log")


def said(finished: Finished) -> str:
    """What a command ended with: its `result` line, or its `error` lines (one a problem)."""
    ends = [e["message"] for e in finished.events if e.get("kind") in ("result", "error")]
    assert ends, f"no result or error line in:\n{finished.transcript()}"
    return "\n".join(ends)


def rollout_of(finished: Finished) -> str:
    ids = {str(e["rollout_id"]) for e in finished.events if e.get("rollout_id")}
    assert len(ids) == 1, f"rollouts {ids} in:\n{finished.transcript()}"
    return ids.pop()


def snapshot_weights(finished: Finished) -> dict[str, int]:
    (taken,) = finished.of_type("snapshot_taken")
    weights: dict[str, int] = taken["data"]["state"]["weights"]
    return weights


def awaiting_approval(running: Running) -> str:
    event = running.wait_for(
        lambda e: (
            e.get("type") == "phase_changed"
            and (e.get("data") or {}).get("to") == "awaiting_approval"
        ),
        "awaiting approval",
        60,
    )
    return str(event["rollout_id"])


def approve(cli: ShipsafeCLI, who: str, org: Org, rollout_id: str) -> Finished:
    return cli.as_actor(who).run("approve", rollout_id, env=HUMAN)  # with their own key


def deploy(cli: ShipsafeCLI, plan: Path, org: Org, *args: str) -> Running:
    return cli.deploy(plan, "--policy", str(org.policy), *args)


def blue_green_plan(rig: Rig, name: str, release: str) -> Path:
    """plans/local-blue-green.yaml made concrete, in an environment that needs a signed
    approval and a data snapshot before cutover (the policy above)."""
    plan = rig.plan(template=LOCAL_BLUE_GREEN, RIG_RELEASE=release)
    plan["metadata"]["environment"] = "production"
    return rig.write_plan(plan, name=f"{name}.yaml")


def columns(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(orders)")]
    finally:
        conn.close()


def no_weight_was_set(cli: ShipsafeCLI, rollout_id: str) -> bool:
    return not audit(cli, "weight_intent", rollout_id) and not audit(cli, "weight_set", rollout_id)


# preflight: no data ------------------------------------------------------------------------
def test_a_query_without_data_in_prometheus_refuses_the_deploy_naming_it(
    rig: Rig, alice: ShipsafeCLI, org: Org
) -> None:
    plan = rig.plan(RIG_RELEASE="1.5.0")
    ghost = 'sum(rate(shipsafe_no_such_metric_total{server="{{canary}}"}[10s]))'
    plan["analysis"]["ghost"] = {
        "source": "prom",
        "query": ghost,
        "successCondition": "result < 0.05",
    }
    plan["steps"] = [{"setWeight": 10}, {"analysis": {"templates": ["ghost"]}}]

    finished = deploy(alice, rig.write_plan(plan, name="no-data.yaml"), org).wait(timeout=60)

    assert finished.code == 2, finished.transcript()
    sent = ghost.replace("{{canary}}", "stable")  # preflight asks about the stable target
    message = said(finished)
    assert "analysis 'ghost'" in message and sent in message and "no data" in message
    assert rig.haproxy.weights() == SNAPSHOT
    rid = rollout_of(finished)
    (failed,) = audit(alice, "preflight_failed", rid)
    assert "returned no data" in failed["message"] and sent in failed["message"]
    assert no_weight_was_set(alice, rid) and not audit(alice, "snapshot_taken", rid)


# signed approvals ----------------------------------------------------------------------------
def test_the_deployer_cannot_approve_their_own_rollout_and_another_human_can(
    rig: Rig, alice: ShipsafeCLI, org: Org
) -> None:
    plan = rig.plan(RIG_RELEASE="1.6.0")
    plan["metadata"]["environment"] = "production"
    plan["steps"] = [{"setWeight": 10}, {"approval": {"name": "go-live"}}, {"setWeight": 100}]
    running = deploy(alice, rig.write_plan(plan, name="approvals.yaml"), org)
    rid = awaiting_approval(running)
    held = {"stable": 90, "canary": 10}
    assert rig.haproxy.weights() == held

    own = approve(alice, "alice", org, rid)  # signed with her own, trusted, key

    assert own.code == 2, own.transcript()
    assert "signed this rollout's deploy" in said(own)
    assert rig.haproxy.weights() == held
    assert running.popen.poll() is None, running.transcript()  # still waiting at the gate
    (refused,) = audit(alice, "approval_refused", rid)
    assert "signed this rollout's deploy" in refused["data"]["reason"]

    other = approve(alice, "bob", org, rid)
    assert other.code == 0, other.transcript()
    finished = running.wait(timeout=60)

    assert finished.code == 0, finished.transcript()
    assert rig.haproxy.weights() == CUT_OVER
    (accepted,) = audit(alice, "approval_accepted", rid)
    assert accepted["data"]["signer"] == "bob" and accepted["data"]["gate"] == "go-live"
    assert accepted["data"]["key_id"].startswith("ed25519:")
    records = audit(alice, rollout_id=rid)
    assert first(records, "approval_accepted") < first(records, "weight_intent", weight=100)


# blue/green ---------------------------------------------------------------------------------
def test_blue_green_cuts_over_after_preview_snapshot_signed_approval_and_checks(
    rig: Rig, alice: ShipsafeCLI, org: Org
) -> None:
    rig.start_preview()
    running = deploy(alice, blue_green_plan(rig, "blue-green", "2.0.0"), org)
    rid = awaiting_approval(running)
    assert rig.haproxy.weights() == SNAPSHOT  # green judged and data saved; no user on it

    approved = approve(alice, "bob", org, rid)
    assert approved.code == 0, approved.transcript()
    finished = running.wait(timeout=60)

    assert finished.code == 0, finished.transcript()
    assert rig.haproxy.weights() == CUT_OVER
    records = audit(alice, rollout_id=rid)
    cutover = first(records, "weight_intent", weight=100)
    preview = first(records, "analysis_completed", run="step-1", phase="successful")
    snapshot = first(records, "data_snapshot_taken")
    signed = first(records, "approval_accepted", gate="cutover", signer="bob")
    verified = first(records, "data_snapshot_verified", before="cutover")
    blue = first(records, "blue_protected")
    after = first(records, "analysis_completed", run="step-5", phase="successful")
    assert preview < snapshot < signed < verified < blue < cutover < after
    assert "blue still runs what was snapshotted ('200 stable')" in [
        r["message"] for r in records if r["type"] == "blue_checked"
    ]
    copy = Path(records[snapshot]["data"]["snapshot"]["copy"])
    assert copy.is_file() and columns(copy) == ["id", "item"]  # a real copy of the database


@pytest.mark.parametrize("tamper", ["deleted", "altered"])
def test_cutover_is_refused_when_the_data_snapshot_copy_was_tampered_with(
    rig: Rig, alice: ShipsafeCLI, org: Org, tamper: str
) -> None:
    rig.start_preview()
    waiting = deploy(alice, blue_green_plan(rig, f"bg-{tamper}", "2.1.0"), org, "--detach")
    parked = waiting.wait(timeout=60)
    assert parked.code == 4, parked.transcript()
    rid = rollout_of(parked)
    (taken,) = audit(alice, "data_snapshot_taken", rid)
    copy = Path(taken["data"]["snapshot"]["copy"])
    if tamper == "deleted":
        copy.unlink()
    else:
        os.chmod(copy, 0o600)  # the snapshot is read-only; someone made it writable
        with sqlite3.connect(copy) as conn:
            conn.execute("DELETE FROM orders")

    approved = approve(alice, "bob", org, rid)  # no driver: the approver drives on

    assert approved.code == 3, approved.transcript()
    assert rig.haproxy.weights() == SNAPSHOT
    assert no_weight_was_set(alice, rid)
    (started,) = audit(alice, "rollback_started", rid)
    assert started["reason"] == "snapshot_unverified"
    why = "is gone" if tamper == "deleted" else "changed since it was taken"
    assert "cutover refused" in started["message"] and why in started["message"]
    assert not audit(alice, "blue_protected", rid)


def test_a_green_failing_after_cutover_is_cut_back_to_blue_at_the_snapshot_weights(
    rig: Rig, alice: ShipsafeCLI, org: Org
) -> None:
    rig.start_preview()
    running = deploy(alice, blue_green_plan(rig, "bg-bad", "2.2.0"), org)
    rid = awaiting_approval(running)
    approving = alice.as_actor("bob").start("approve", rid, "--key", org.key("bob"), env=HUMAN)
    running.wait_for_type("weight_verified", timeout=30, weight=100)
    assert rig.haproxy.weights() == CUT_OVER
    rig.canary.set_faults(error_share=1.0)  # green answers users 5xx from now on

    finished = running.wait(timeout=60)
    rig.canary.set_faults()  # (the next scenario then waits less for a clean history)

    assert approving.wait(timeout=30).code == 0
    assert finished.code == 3, finished.transcript()
    assert finished.result["phase"] == "rolled_back"
    assert rig.haproxy.weights() == snapshot_weights(finished) == SNAPSHOT
    records = audit(alice, rollout_id=rid)
    cut_back = first(records, "rollback_started")
    assert first(records, "weight_verified", weight=100) < cut_back
    assert records[cut_back]["reason"] in ("analysis_failed", "breaker_tripped")
    checked = [r for r in records[cut_back:] if r["type"] == "blue_checked"]
    assert checked and "still runs what was snapshotted" in checked[0]["message"]
    assert first(records, "rollback_finished") > cut_back


# migrations ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Migration:
    db: Path
    plan: Path


def migration_plan(rig: Rig, tmp_path: Path, down: str) -> Migration:
    """The local canary with a data snapshot and an expand migration before traffic moves."""
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
        conn.execute("INSERT INTO orders (item) VALUES ('tea'), ('scones')")
    script = tmp_path / "migrate.py"
    script.write_text(MIGRATION)

    def command(action: str) -> list[str]:
        return [sys.executable, str(script), str(db), str(rig.haproxy.socket), action]

    plan = rig.plan(RIG_RELEASE="1.4.0")
    plan["dataSnapshots"] = {"app-db": {"provider": "file", "path": str(db)}}
    # breakers from the read-back of 20% (after error-rate's own initialDelay): the breaker,
    # not the analysis step behind it, is what these tests watch trip
    plan["breakerWarmup"] = "0s"
    plan["steps"] = [
        {"snapshot": {"data": ["app-db"]}},
        {
            "migrate": {
                "name": "orders-note",
                "up": command("add-note"),
                "down": command(down),
                "compatibility": "expand",
                "timeout": "30s",
            }
        },
        {"setWeight": 20},
        {"analysis": {"templates": ["error-rate"]}},
        {"setWeight": 100},
    ]
    return Migration(db, rig.write_plan(plan, name=f"migrate-{down}.yaml"))


def migration_runs(cli: ShipsafeCLI, rollout_id: str) -> list[tuple[str, int, str]]:
    return [
        (r["data"]["direction"], r["data"]["exit_code"], r["data"]["output"])
        for r in audit(cli, "migration_finished", rollout_id)
    ]


def test_a_breaker_trip_restores_traffic_then_runs_down_and_freezes_the_environment(
    rig_failing: Rig, alice: ShipsafeCLI, org: Org, tmp_path: Path
) -> None:
    rig = rig_failing
    migration = migration_plan(rig, tmp_path, down="drop-note")
    rig.canary.set_faults(error_share=1.0)  # the release fails once users reach it

    finished = deploy(alice, migration.plan, org).wait(timeout=60)

    assert finished.code == 3, finished.transcript()
    trips = finished.of_type("breaker_tripped")
    assert trips and trips[0]["data"]["metric"] == "error-rate", finished.transcript()
    assert rig.haproxy.weights() == snapshot_weights(finished) == SNAPSHOT
    assert columns(migration.db) == ["id", "item"]  # `down` put the schema back
    rid = rollout_of(finished)
    (up, down) = migration_runs(alice, rid)
    assert up[:2] == ("up", 0) and "canary weight 0\n" in up[2]  # before traffic moved
    assert down[:2] == ("down", 0) and "canary weight 0\n" in down[2]  # after it came back
    records = audit(alice, rollout_id=rid)
    assert first(records, "migration_finished", direction="up") < first(records, "weight_intent")
    assert first(records, "breaker_tripped") < first(
        records, "migration_finished", direction="down"
    )

    # the environment just rolled back: the next deploy there is refused, nothing moves
    again = deploy(alice, migration.plan, org).wait(timeout=60)

    assert again.code == 6, again.transcript()
    assert "frozen until" in said(again)
    assert rig.haproxy.weights() == SNAPSHOT
    assert columns(migration.db) == ["id", "item"]
    refused_id = rollout_of(again)
    (refused,) = audit(alice, "deploy_refused", refused_id)
    assert refused["data"]["findings"][0]["rule"] == "freezeAfterRollback"
    assert no_weight_was_set(alice, refused_id)
    assert not audit(alice, "migration_started", refused_id)


def test_a_failing_down_ends_rollback_failed_naming_the_snapshot_that_restores_the_data(
    rig_failing: Rig, alice: ShipsafeCLI, org: Org, tmp_path: Path
) -> None:
    rig = rig_failing
    migration = migration_plan(rig, tmp_path, down="fail")
    rig.canary.set_faults(error_share=1.0)

    finished = deploy(alice, migration.plan, org).wait(timeout=60)

    assert finished.code == 5, finished.transcript()
    assert finished.result["phase"] == "rollback_failed"
    assert rig.haproxy.weights() == SNAPSHOT  # traffic went back; the data could not
    assert columns(migration.db) == ["id", "item", "note"]
    rid = rollout_of(finished)
    (taken,) = audit(alice, "data_snapshot_taken", rid)
    snapshot = taken["data"]["snapshot"]
    message = said(finished)
    assert snapshot["id"] in message and snapshot["copy"] in message, message
    assert "disk I/O error" in message
    (failed,) = audit(alice, "rollback_failed", rid)
    assert failed["reason"] == "migration_failed" and snapshot["copy"] in failed["message"]
    assert columns(Path(snapshot["copy"])) == ["id", "item"]  # it holds the data as it was
