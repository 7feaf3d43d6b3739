"""Scripts the agent runs (as its own Unix user, through `site.agent_python`) to forge what it
can write: shared by the attack tests here and the AWS ones in integration/aws."""

# Drop rollout {dropped}'s records from the agent's audit log, re-chain the rest from genesis
# and write the new head (and count) into every audit anchor of its store.
RECHAIN = """
import json, sqlite3
from pathlib import Path
from shipsafe.audit.chain import GENESIS, chain
from shipsafe.audit.anchor import Anchor
path = Path('.local/state/shipsafe/audit.jsonl')
kept = [json.loads(l) for l in path.read_text().splitlines()
        if json.loads(l)['rollout_id'] != {dropped!r}]
seq, prev, out = 0, GENESIS, []
for rec in kept:
    body = {{k: v for k, v in rec.items() if k not in ('seq', 'prev', 'hash')}}
    rec = chain(body, seq, prev)
    seq, prev = rec['seq'], rec['hash']
    out.append(json.dumps(rec, sort_keys=True, separators=(',', ':')))
path.write_text('\\n'.join(out) + '\\n')
db = sqlite3.connect('.local/state/shipsafe/state.db')
for (key,) in db.execute("SELECT key FROM meta WHERE key LIKE 'audit_head%'").fetchall():
    db.execute('UPDATE meta SET value=? WHERE key=?', (Anchor(seq, prev, len(out)).dump(), key))
db.commit()
"""
