"""Threats: state-migration lock-in and rollback impossibility, with a real SQLite database
and real migration subprocesses. Attacks: a contract migration inside the previous
release's rollback window; a migration whose way back fails. Rollback runs `down`; when
`down` fails the rollout ends rollback_failed (exit 5) naming the snapshot that restores the
data."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from tests.guardrails.conftest import World, rollout_id_of

SCRIPT = """\
import sqlite3, sys, time
db, action = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
if action == "add-note":
    c.execute("ALTER TABLE orders ADD COLUMN note TEXT")
elif action == "drop-note":
    c.execute("ALTER TABLE orders DROP COLUMN note")
elif action == "drop-legacy":
    c.execute("ALTER TABLE orders DROP COLUMN legacy")
elif action == "fail":
    print("error: disk I/O error while writing orders", flush=True)
    sys.exit(3)
elif action == "hang":
    time.sleep(30)
c.commit()
print("migrated:", action)
"""


def _columns(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(orders)")]
    finally:
        conn.close()


def _setup(world: World) -> tuple[Path, Path]:
    db = world.root / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, legacy TEXT)")
    conn.execute("INSERT INTO orders (legacy) VALUES ('a'), ('b')")
    conn.commit()
    conn.close()
    script = world.root / "migrate.py"
    script.write_text(SCRIPT)
    return db, script


def _cmd(script: Path, db: Path, action: str) -> str:
    return json.dumps([sys.executable, str(script), str(db), action])


def _plan(world: World, db: Path, script: Path, up: str, down: str | None,
          compatibility: str = "expand", extra: str = "", name: str = "plan.yaml") -> str:
    way_back = f"down: {_cmd(script, db, down)}" if down else "irreversible: true"
    steps = f"""\
dataSnapshots:
  db: {{provider: file, path: {db}}}
steps:
  - snapshot: {{data: [db]}}
  - approval: {{}}
  - migrate: {{name: orders-note, up: {_cmd(script, db, up)}, {way_back},
               compatibility: {compatibility}{extra}}}
  - setWeight: 20
  - analysis: {{templates: [error-rate]}}
"""
    return world.plan(steps, name=name)


def _trip_breaker_once_traffic_moves(world: World) -> None:
    healthy = {"ok": True}

    def answer(query: str) -> float | None:
        if query.startswith("up"):
            return 1.0
        return 0.001 if healthy["ok"] or '"v1"' in query else 0.5

    world.metrics.answer = answer
    world.router.on_set = lambda weight: healthy.update(ok=weight == 0)


def test_a_contract_migration_inside_the_rollback_window_is_refused(world: World) -> None:
    db, script = _setup(world)
    first = _plan(world, db, script, "add-note", "drop-note")
    rid = rollout_id_of(world.deploy(first, "--detach"))
    assert world.approve(rid, "bob").exit_code == 0  # 2.4.0 promoted, its window opens
    world.router.weights = {"stable": 100, "canary": 0}  # the next release's view
    world.router.calls.clear()
    contract = _plan(world, db, script, "drop-legacy", None, "contract", name="contract.yaml")
    result = world.deploy(contract)
    assert result.exit_code == 6, result.output
    assert "rollback window is open" in result.output
    assert world.untouched()
    assert "legacy" in _columns(db)  # the previous release still has its column
    finding = world.audit("deploy_refused")[-1]["data"]["findings"][0]
    assert finding["rule"] == "contractInRollbackWindow"
    assert finding["threat"] == "state-migration-lock-in"
    world.clock.advance(3601)  # the window closed
    assert world.deploy(contract, "--detach").exit_code == 4


def test_rollback_runs_down_and_the_output_is_audited(world: World) -> None:
    db, script = _setup(world)
    _trip_breaker_once_traffic_moves(world)
    rid = rollout_id_of(world.deploy(_plan(world, db, script, "add-note", "drop-note"),
                                     "--detach"))
    result = world.approve(rid, "bob")
    assert result.exit_code == 3, result.output  # rolled back
    assert world.on_stable()
    assert _columns(db) == ["id", "legacy"]  # `down` removed the column again
    runs = [(e["data"]["direction"], e["data"]["exit_code"], e["data"]["output"].strip())
            for e in world.audit("migration_finished", rid)]
    assert runs == [("up", 0, "migrated: add-note"), ("down", 0, "migrated: drop-note")]


def test_a_failing_down_ends_in_rollback_failed_naming_the_snapshot(world: World) -> None:
    db, script = _setup(world)
    _trip_breaker_once_traffic_moves(world)
    rid = rollout_id_of(world.deploy(_plan(world, db, script, "add-note", "fail"), "--detach"))
    result = world.approve(rid, "bob")
    assert result.exit_code == 5, result.output
    assert world.on_stable()  # traffic went back; the data could not
    failed = world.audit("rollback_failed", rid)[0]
    assert failed["reason"] == "migration_failed"
    snapshot = world.audit("data_snapshot_taken", rid)[0]["data"]["snapshot"]
    assert snapshot["id"] in failed["message"] and snapshot["copy"] in failed["message"]
    assert "disk I/O error" in failed["message"]
    assert "ROLLBACK FAILED" in result.output and snapshot["id"] in result.output
    # the snapshot really holds the data as it was before the migration
    assert _columns(Path(snapshot["copy"])) == ["id", "legacy"]


def test_an_irreversible_migration_that_ran_is_not_silently_rolled_back(world: World) -> None:
    db, script = _setup(world)
    _trip_breaker_once_traffic_moves(world)
    plan = _plan(world, db, script, "add-note", None)
    rid = rollout_id_of(world.deploy(plan, "--detach"))
    assert world.approve(rid, "bob").exit_code == 5
    message = world.audit("rollback_failed", rid)[0]["message"]
    assert "irreversible" in message and "restore the data" in message


def test_a_failing_up_rolls_back_and_names_the_snapshot(world: World) -> None:
    db, script = _setup(world)
    rid = rollout_id_of(world.deploy(_plan(world, db, script, "fail", "drop-note"), "--detach"))
    assert world.approve(rid, "bob").exit_code == 3
    assert world.untouched() or world.on_stable()
    assert [e["data"]["direction"] for e in world.audit("migration_finished", rid)] == ["up"]
    started = world.audit("rollback_started", rid)[0]
    assert started["reason"] == "migration_failed" and "restore the data" in started["message"]


def test_a_hanging_migration_is_stopped_by_its_timeout(world: World) -> None:
    db, script = _setup(world)
    plan = _plan(world, db, script, "hang", "drop-note", extra=", timeout: 1s")
    rid = rollout_id_of(world.deploy(plan, "--detach"))
    assert world.approve(rid, "bob").exit_code == 3
    finished = world.audit("migration_finished", rid)[0]
    assert finished["data"]["timed_out"] is True


def test_a_migration_with_a_vanished_snapshot_does_not_run(world: World) -> None:
    db, script = _setup(world)
    rid = rollout_id_of(world.deploy(_plan(world, db, script, "add-note", "drop-note"),
                                     "--detach"))
    copy = Path(world.audit("data_snapshot_taken", rid)[0]["data"]["snapshot"]["copy"])
    copy.unlink()
    assert world.approve(rid, "bob").exit_code == 3
    assert _columns(db) == ["id", "legacy"]  # never migrated
    assert world.audit("migration_started", rid) == []
    assert world.audit("rollback_started", rid)[0]["reason"] == "snapshot_unverified"
