"""Bypass 4e of issue 10: a data snapshot replaced, its recorded sha256 updated in the store.
The record was signed by the deployer's key when taken and is verified from that signature
before the migration that needs it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.attacks.conftest import Site, rollout_id


def _migration_plan(site: Site) -> tuple[str, Path, Path]:
    """Steps that snapshot a data file, wait for a human, then migrate (the migration writes
    a marker file): (steps, the data file, the marker)."""
    db = site.work / "app.db"
    db.write_text("orders: 2\n")
    marker = site.work / "migrated"
    up = json.dumps([site.rt.python, "-c", f"open({str(marker)!r}, 'w').write('up')"])
    down = json.dumps([site.rt.python, "-c", "print('down')"])
    steps = (
        f"dataSnapshots:\n  db: {{provider: file, path: {db}}}\n"
        "steps:\n  - snapshot: {data: [db]}\n  - approval: {}\n"
        f"  - migrate: {{name: note, up: {up}, down: {down}, compatibility: expand}}\n"
        "  - approval: {}\n  - setWeight: 100\n"
    )
    return steps, db, marker


def _replace_snapshot(site: Site, rid: str) -> None:
    """The agent swaps the snapshot for its own file and records the new checksum."""
    code = f"""
import hashlib, json, os, sqlite3
db = sqlite3.connect('.local/state/shipsafe/state.db')
(body,) = db.execute('SELECT body FROM snapshots WHERE rollout_id=?', ({rid!r},)).fetchone()
snap = json.loads(body)
copy = snap['data'][0]['copy']
os.chmod(copy, 0o600)
open(copy, 'w').write('orders: 0\\n')
snap['data'][0]['sha256'] = hashlib.sha256(open(copy, 'rb').read()).hexdigest()
snap['data'][0]['size'] = os.path.getsize(copy)
db.execute('UPDATE snapshots SET body=? WHERE rollout_id=?', (json.dumps(snap), {rid!r}))
db.commit()
"""
    edited = site.agent_python(code)
    assert edited.returncode == 0, edited.stderr


def _replace_then_approve(site: Site, rid: str, marker: Path) -> str:
    """The agent replaces the snapshot, then bob approves the migration: refused, nothing
    ran, the target untouched. Returns what the rollout's audit records say."""
    _replace_snapshot(site, rid)
    approved = site.human("bob", "approve", rid)
    assert approved.returncode not in (0, 4), approved.stdout + approved.stderr
    assert not marker.exists()  # the migration never ran
    assert site.untouched()
    return " ".join(r["message"] for r in site.audit() if r["rollout_id"] == rid)


def test_a_replaced_data_snapshot_with_its_new_checksum_stops_the_migration(site: Site) -> None:
    steps, _, marker = _migration_plan(site)
    started = site.human("alice", "deploy", site.plan(steps), "--detach")
    assert started.returncode == 4, started.stdout + started.stderr
    rid = rollout_id(started)
    messages = _replace_then_approve(site, rid, marker)
    assert "does not verify from its signature" in messages


def test_a_keyless_deploys_replaced_snapshot_is_caught_by_the_witness(site: Site) -> None:
    """Bypass 4e without a key: the agent deploys unsigned (so its snapshot record carries no
    signature), replaces the snapshot and its recorded sha256; the record's digest the audit
    witness took when the snapshot was taken no longer matches, and the migration (or a
    cutover: the same check) refuses."""
    site.add_witness()
    steps, db, marker = _migration_plan(site)
    os.chown(db, site.rt.uid, site.rt.gid)
    started = site.agent("deploy", site.plan(steps), "--detach")
    assert started.returncode == 4, started.stdout + started.stderr
    rid = rollout_id(started)
    (taken,) = [r for r in site.audit("data_snapshot_taken") if r["rollout_id"] == rid]
    assert "proof" not in taken["data"]["snapshot"]  # keyless: nothing signed it
    messages = _replace_then_approve(site, rid, marker)
    assert "is not the one the audit witness saw taken" in messages
