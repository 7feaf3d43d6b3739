"""Bypass 4e of issue 10: a data snapshot replaced, its recorded sha256 updated in the store.
The record was signed by the deployer's key when taken and is verified from that signature
before the migration that needs it."""

from __future__ import annotations

import json

from tests.attacks.conftest import Site, rollout_id


def test_a_replaced_data_snapshot_with_its_new_checksum_stops_the_migration(site: Site) -> None:
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
    started = site.human("alice", "deploy", site.plan(steps), "--detach")
    assert started.returncode == 4, started.stdout + started.stderr
    rid = rollout_id(started)
    # the agent swaps the snapshot for its own file and records the new checksum
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
    approved = site.human("bob", "approve", rid)
    assert approved.returncode not in (0, 4), approved.stdout + approved.stderr
    assert not marker.exists()  # the migration never ran
    assert site.untouched()
    messages = " ".join(r["message"] for r in site.audit() if r["rollout_id"] == rid)
    assert "does not verify from its signature" in messages
