"""Issue 9 item 6: records past the audit anchor must be signed by the writer. The agent
appends a forged record that chains from the log's head (without moving the anchor, which
the state store holds): unsigned, or signed with a key it made itself. `audit verify` fails
on both; the records the agent's deploy wrote itself verify."""

from __future__ import annotations

import json

from shipsafe.trust.keys import decode_public, key_id
from tests.attacks.conftest import Site, rollout_id

UNGATED = "steps:\n  - setWeight: 100\n"

FORGE = """
import json
from pathlib import Path
from shipsafe.audit.chain import chain
path = Path({log!r})
head = json.loads(path.read_text().splitlines()[-1])
signer = None
if {self_signed!r}:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from shipsafe.trust.proofs import KeyProofs
    signer = KeyProofs(None, Ed25519PrivateKey.generate())
forged = chain({{'type': 'approval_accepted', 'rollout_id': head['rollout_id'],
                'time': head['time'], 'message': 'approved by alice'}},
               head['seq'], head['hash'], signer)
assert ('proof' in forged) == {self_signed!r}
with path.open('a') as fh:
    fh.write(json.dumps(forged, sort_keys=True, separators=(',', ':')) + '\\n')
"""


def _forge(site: Site, self_signed: bool) -> str:
    return FORGE.format(self_signed=self_signed, log=str(site.state_dir / "audit.jsonl"))


def _deployed(site: Site) -> str:
    done = site.agent("deploy", site.plan(UNGATED, environment="staging"))
    assert done.returncode == 0, done.stdout + done.stderr
    verified = site.agent("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return rollout_id(done)


def _verify_fails(site: Site) -> dict[str, object]:
    verified = site.agent("audit", "verify", "-o", "json")
    assert verified.returncode == 5, verified.stdout + verified.stderr
    (result,) = [json.loads(x) for x in verified.stdout.splitlines() if '"problems"' in x]
    return result


def test_a_forged_unsigned_record_chained_past_the_anchor_fails_verify(site: Site) -> None:
    _deployed(site)
    forged = site.agent_python(_forge(site, self_signed=False))
    assert forged.returncode == 0, forged.stderr
    result = _verify_fails(site)
    problems = " ".join(map(str, result["problems"]))  # type: ignore[call-overload]
    assert "not signed by the writer" in problems and "shipsafe audit repair" in problems
    assert site.audit()[-1]["message"] == "approved by alice"  # the forgery is there, caught


def test_a_forged_record_self_signed_by_the_agent_fails_verify(site: Site) -> None:
    _deployed(site)
    forged = site.agent_python(_forge(site, self_signed=True))
    assert forged.returncode == 0, forged.stderr
    result = _verify_fails(site)
    problems = " ".join(map(str, result["problems"]))  # type: ignore[call-overload]
    assert "signed by a key the trust root does not list" in problems


def test_a_human_deploys_records_carry_the_humans_signature(site: Site) -> None:
    done = site.human("alice", "deploy", site.plan(UNGATED, environment="staging"))
    assert done.returncode == 0, done.stdout + done.stderr
    mine = [r for r in site.audit() if r.get("rollout_id") == rollout_id(done)]
    assert mine and all("proof" in r for r in mine)
    alice = key_id(decode_public((site.keys / "alice.pub").read_text().strip()))
    assert {r["proof"]["payload"]["key_id"] for r in mine} == {alice}
