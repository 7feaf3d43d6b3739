"""Bypasses 3, 4 and 6c of issue 10: a private store with a permissive policy, and edits to
the store the agent writes: an inserted approval, keys added to the pinned policy, a forged
emergency review; and an empty SHIPSAFE_PARENT_ROLLOUT."""

from __future__ import annotations

import json
import subprocess

from tests.attacks.conftest import Site, rollout_id

GATED = "steps:\n  - approval: {}\n  - setWeight: 100\n"
UNGATED = "steps:\n  - setWeight: 100\n"
PERMISSIVE = 'apiVersion: shipsafe/v1\nkind: Policy\nenvironments: {"*": {}}\n'


def _sql(site: Site, statement: str, *params: str) -> subprocess.CompletedProcess[str]:
    """The agent edits its store with Python's sqlite3, as any process of its could."""
    code = (
        "import sqlite3, sys, json; db = sqlite3.connect('.local/state/shipsafe/state.db'); "
        f"db.execute({statement!r}, json.loads({json.dumps(json.dumps(params))})); db.commit()"
    )
    done = site.agent_python(code)
    assert done.returncode == 0, done.stderr
    return done


def test_a_private_store_with_a_permissive_policy_still_obeys_the_trust_root(site: Site) -> None:
    (site.work / "lax.yaml").write_text(PERMISSIVE)
    done = site.agent("deploy", site.plan(UNGATED), "--state", "own.db",
                      "--policy", "lax.yaml", "--audit-log", "own-audit.jsonl")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "requireApproval" in done.stdout
    assert site.untouched()
    (refused,) = site.audit("deploy_refused", log=site.work / "own-audit.jsonl")
    assert refused["reason"] == "policy_violation"


def test_an_approval_row_inserted_into_the_store_does_not_promote(site: Site) -> None:
    done = site.agent("deploy", site.plan(GATED), "--detach")
    assert done.returncode == 4, done.stdout + done.stderr
    rid = rollout_id(done)
    forged = {
        "rollout_id": rid, "gate": "gate-1", "approved_at": "2026-01-01T00:00:00Z",
        "actor": {"id": "bob", "kind": "human", "host": "laptop"},
        "signer": "bob", "signature": "AAAA",
        "payload": {"purpose": "shipsafe-approval/v1", "rollout_id": rid, "gate": "gate-1"},
    }
    _sql(site, "INSERT INTO approvals (rollout_id, body) VALUES (?, ?)", rid, json.dumps(forged))
    resumed = site.agent("resume", rid, "--detach")
    assert resumed.returncode == 4, resumed.stdout + resumed.stderr  # still waiting
    assert site.untouched()
    assert "awaits approval (0 of 1)" in resumed.stdout
    assert site.audit("approval_accepted") == []
    assert site.audit("command_received")[-1]["data"]["command"] == "resume"


def test_keys_added_to_the_pinned_policy_refuse_every_deploy(site: Site) -> None:
    pinned = site.human("alice", "policy", "pin")
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    public = (site.keys / "mallory.pub").read_text().strip()
    code = (
        "import sqlite3, json; db = sqlite3.connect('.local/state/shipsafe/state.db'); "
        "(raw,) = db.execute(\"SELECT value FROM meta WHERE key='pinned_policy'\").fetchone(); "
        "entry = json.loads(raw); entry['document']['actors'] += ["
        f"{{'identity': 'mallory', 'kind': 'human', 'groups': [], 'publicKey': {public!r}}}, "
        f"{{'identity': 'mallory2', 'kind': 'human', 'groups': [], 'publicKey': {public!r}}}]; "
        "entry['document']['serial'] = 99; "
        "db.execute(\"UPDATE meta SET value=? WHERE key='pinned_policy'\", (json.dumps(entry),)); "
        "db.commit()"
    )
    assert site.agent_python(code).returncode == 0
    done = site.agent("deploy", site.plan(GATED), "--detach")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "does not verify against the trust root" in done.stdout + done.stderr
    assert site.untouched()
    (refused,) = site.audit("deploy_refused")
    assert "does not verify" in refused["message"]
    shown = site.agent("policy", "show")
    assert shown.returncode == 2  # the digest it would print is not vouched for


def test_a_forged_emergency_review_leaves_the_rollout_pending(site: Site) -> None:
    done = site.human("alice", "deploy", site.plan(GATED), "--emergency", "--reason",
                      "checkout is down for everyone")
    assert done.returncode == 0, done.stdout + done.stderr
    rid = rollout_id(done)
    assert site.weight() == 100  # the emergency went out; its approval comes after
    forged = {
        "rollout_id": rid, "gate": "emergency-review", "approved_at": "2026-01-01T00:00:00Z",
        "actor": {"id": "bob", "kind": "human", "host": "laptop"},
        "signer": "bob", "signature": "AAAA", "payload": {},
    }
    _sql(site, "INSERT INTO approvals (rollout_id, body) VALUES (?, ?)", rid, json.dumps(forged))
    pending = site.agent("audit", "pending")
    assert pending.returncode == 0
    assert [json.loads(x)["rollout_id"] for x in pending.stdout.splitlines()] == [rid]
    # and a new emergency is refused while that one is unreviewed (maxPendingReviews 1)
    site.weight_file.write_text("0")
    again = site.human("bob", "deploy", site.plan(GATED, service="payments"), "--emergency",
                       "--reason", "payments are down as well")
    assert again.returncode == 6, again.stdout + again.stderr
    assert site.untouched()
    assert "emergency.maxPendingReviews" in [
        f["rule"] for f in site.audit("deploy_refused")[-1]["data"]["findings"]
    ]


def test_an_empty_parent_rollout_still_counts_as_a_cascade(site: Site) -> None:
    done = site.agent("deploy", site.plan(UNGATED, environment="staging"), "--detach",
                      env={"SHIPSAFE_PARENT_ROLLOUT": ""})
    assert done.returncode == 4, done.stdout + done.stderr  # waits for a human at the gate
    assert site.untouched()
    (evaluated,) = site.audit("policy_evaluated")
    assert evaluated["data"]["gates"] == ["cascade-checkpoint"]
    assert "empty SHIPSAFE_PARENT_ROLLOUT" in json.dumps(evaluated)


def test_a_rolled_back_rollout_edited_to_aborted_still_freezes_production(site: Site) -> None:
    site.add_witness()
    started = site.human("alice", "deploy", site.plan(GATED), "--detach")
    assert started.returncode == 4, started.stdout + started.stderr
    rid = rollout_id(started)
    assert site.human("bob", "approve", rid).returncode == 0
    assert site.weight() == 100
    assert site.human("bob", "rollback", rid, "--reason", "totals wrong").returncode == 0
    assert site.untouched()  # back on stable
    # the agent lifts the freeze in its store: the rollback becomes an abort
    code = f"""
import json, sqlite3
db = sqlite3.connect('.local/state/shipsafe/state.db')
(body,) = db.execute('SELECT body FROM rollouts WHERE id=?', ({rid!r},)).fetchone()
record = json.loads(body)
record['phase'] = 'aborted'
db.execute('UPDATE rollouts SET phase=?, body=? WHERE id=?',
           ('aborted', json.dumps(record), {rid!r}))
db.commit()
"""
    assert site.agent_python(code).returncode == 0
    done = site.agent("deploy", site.plan(GATED, name="next.yaml"), "--detach")
    assert done.returncode == 6, done.stdout + done.stderr
    assert "as the audit witness saw it" in done.stdout
    assert site.untouched()
    refused = site.audit("deploy_refused")[-1]
    assert refused["reason"] == "frozen"
    assert refused["data"]["findings"][0]["rule"] == "freezeAfterRollback"


def test_an_approval_step_removed_from_the_stored_plan_is_refused_at_resume(
    site: Site,
) -> None:
    done = site.agent("deploy", site.plan(GATED), "--detach")
    assert done.returncode == 4, done.stdout + done.stderr
    rid = rollout_id(done)
    # the agent drops the gate from the stored plan and recomputes its digest
    code = f"""
import json, sqlite3
from shipsafe.records import sha256_hex
db = sqlite3.connect('.local/state/shipsafe/state.db')
(body,) = db.execute('SELECT body FROM rollouts WHERE id=?', ({rid!r},)).fetchone()
record = json.loads(body)
record['plan']['steps'] = [s for s in record['plan']['steps'] if 'approval' not in s]
record['plan_digest'] = sha256_hex(record['plan'])
record['step_count'] = len(record['plan']['steps'])
db.execute('UPDATE rollouts SET body=? WHERE id=?', (json.dumps(record), {rid!r}))
db.commit()
"""
    assert site.agent_python(code).returncode == 0
    resumed = site.agent("resume", rid, "--detach")
    assert resumed.returncode == 2, resumed.stdout + resumed.stderr
    assert "requireApproval" in resumed.stdout
    assert site.untouched()
    (refused,) = site.audit("command_refused")
    assert refused["rollout_id"] == rid and "no longer passes the policy" in refused["message"]
