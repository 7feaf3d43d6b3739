"""Control verbs of issue 10: promote may skip a step (and waive its analysis), so it is
signed and verified where the driver applies it. A promote row the agent writes into its
store (unsigned under a human's name, or signed with its own agent key) does not promote."""

from __future__ import annotations

from tests.attacks.conftest import Site, rollout_id

HELD = "steps:\n  - approval: {}\n  - setWeight: 10\n  - pause: {}\n  - setWeight: 100\n"

FORGE = """
import datetime
from pathlib import Path
from shipsafe.approvals import COMMAND_PURPOSE, command_body
from shipsafe.records import Actor, ActorKind, Command, CommandKind
from shipsafe.store.sqlite import SQLiteStore
from shipsafe.trust import keys
from shipsafe.trust.proofs import KeyProofs

store = SQLiteStore.open('.local/state/shipsafe/state.db', create=False)
record = store.get_rollout({rid!r})
bob = Actor(id='bob', kind=ActorKind.HUMAN, host='laptop', identity='bob', key_id='bob')
now = datetime.datetime.now(datetime.UTC)
unsigned = Command(rollout_id=record.id, kind=CommandKind.PROMOTE, actor=bob, created_at=now,
                   args={{'step': record.step_index}})
store.add_command(unsigned)
own = KeyProofs(None, keys.load_private(Path('robot.key')))
signed = unsigned.model_copy(update={{'proof': own.sign(COMMAND_PURPOSE,
                                                        command_body(record, unsigned))}})
store.add_command(signed)
store.close()
"""


def test_a_promote_row_written_into_the_store_does_not_promote(site: Site) -> None:
    started = site.agent("deploy", site.plan(HELD), "--detach")
    assert started.returncode == 4, started.stdout + started.stderr
    rid = rollout_id(started)
    approved = site.human("bob", "approve", rid, "--detach")
    assert approved.returncode == 4, approved.stdout + approved.stderr
    assert site.weight() == 10  # held at the pause step, which waits for a promote
    site.give_agent("robot")  # the agent's own key: the trust root lists it as an agent
    forged = site.agent_python(FORGE.format(rid=rid))
    assert forged.returncode == 0, forged.stderr
    site.agent("resume", rid, "--detach")  # a driver picks the rows up
    assert site.weight() == 10  # no promote: the canary still holds 10%
    applied = [r["data"] for r in site.audit("command_applied")
               if r["rollout_id"] == rid and r["data"]["command"] == "promote"]
    assert len(applied) == 2
    assert all(str(a["result"]).startswith("refused") for a in applied)
    assert [a["kind"] for a in applied] == ["agent", "agent"]
    assert [a["identity"] for a in applied] == [None, "robot"]
    assert not [r for r in site.audit("weight_intent") if r["data"].get("weight") == 100]
    # the control: bob's own promote, signed with his key, is applied
    promoted = site.human("bob", "promote", rid)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert site.weight() == 100


TWO_HOLDS = (
    "steps:\n  - approval: {}\n  - setWeight: 10\n  - pause: {}\n  - setWeight: 50\n"
    "  - pause: {}\n  - setWeight: 100\n"
)

REPLAY = """
import sqlite3
db = sqlite3.connect('.local/state/shipsafe/state.db')
(body,) = db.execute(
    "SELECT body FROM commands WHERE rollout_id=? AND body LIKE '%promote%' ORDER BY id DESC",
    ({rid!r},),
).fetchone()
db.execute("INSERT INTO commands (rollout_id, applied, body) VALUES (?, 0, ?)", ({rid!r}, body))
db.commit()
"""


def test_a_humans_signed_promote_copied_back_into_the_store_skips_no_other_step(
    site: Site,
) -> None:
    """bob's promote skipped the first pause; the same signed row, copied back minutes later
    while the rollout holds the second pause, is refused: the signature covers the step."""
    started = site.agent("deploy", site.plan(TWO_HOLDS), "--detach")
    assert started.returncode == 4, started.stdout + started.stderr
    rid = rollout_id(started)
    approved = site.human("bob", "approve", rid, "--detach")
    assert approved.returncode == 4, approved.stdout + approved.stderr
    assert site.weight() == 10
    promoted = site.human("bob", "promote", rid, "--detach")
    assert promoted.returncode == 4, promoted.stdout + promoted.stderr
    assert site.weight() == 50  # held at the second pause
    replayed = site.agent_python(REPLAY.format(rid=rid))
    assert replayed.returncode == 0, replayed.stderr
    site.agent("resume", rid, "--detach")  # a driver picks the copied row up
    assert site.weight() == 50
    applied = [r["data"] for r in site.audit("command_applied")
               if r["rollout_id"] == rid and r["data"]["command"] == "promote"]
    assert len(applied) == 2
    assert not str(applied[0]["result"]).startswith("refused")
    assert applied[0]["identity"] == "bob" and applied[1]["identity"] == "bob"
    assert "promote was issued at step 3; the rollout is at step 5" in applied[1]["result"]
    assert not [r for r in site.audit("weight_intent") if r["data"].get("weight") == 100]
    # the control: a fresh promote from bob skips the second pause
    again = site.human("bob", "promote", rid)
    assert again.returncode == 0, again.stdout + again.stderr
    assert site.weight() == 100
