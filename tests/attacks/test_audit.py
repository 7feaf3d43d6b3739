"""Bypasses 3 (--audit-log elsewhere) and 5 (a re-chained audit log) of issue 10: with the
witness the trust root names (an append-only file root prepared), `audit verify` compares
every witnessed log with the witness and fails on any rollout in one and not the other."""

from __future__ import annotations

import json

from tests.attacks.conftest import PEOPLE, POLICY, Site, rollout_id
from tests.attacks.forgeries import RECHAIN
from tests.support.trust_root import write_trust_root

UNGATED = "steps:\n  - setWeight: 100\n"


def _deploy(site: Site, service: str, *args: str) -> str:
    site.weight_file.write_text("0")
    done = site.agent("deploy", site.plan(UNGATED, environment="staging", service=service,
                                          name=f"{service}.yaml"), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return rollout_id(done)


def test_a_rollout_audited_elsewhere_then_removed_fails_verify(site: Site) -> None:
    site.add_witness()
    _deploy(site, "orders")
    hidden = _deploy(site, "checkout", "--audit-log", "elsewhere.jsonl")
    seen = site.agent("audit", "verify", "-o", "human")
    assert seen.returncode == 0, seen.stdout + seen.stderr
    assert "elsewhere.jsonl: 1 rollout(s)" in seen.stdout  # not hidden: the witness names it
    site.agent_python("import os; os.remove('elsewhere.jsonl')")
    verified = site.agent("audit", "verify", "-o", "human")
    assert verified.returncode == 5, verified.stdout + verified.stderr
    assert hidden in verified.stderr and "elsewhere.jsonl" in verified.stderr
    assert site.weight() == 100  # what the deploys did stays visible in the router, too


def test_a_re_chained_log_with_a_new_head_fails_verify(site: Site) -> None:
    witness = site.add_witness()
    dropped = _deploy(site, "orders")
    _deploy(site, "checkout")
    assert site.agent("audit", "verify").returncode == 0
    # drop a rollout's records, re-chain the rest, write the new head into the store
    edited = site.agent_python(RECHAIN.format(dropped=dropped))
    assert edited.returncode == 0, edited.stderr
    # the chain and its anchor alone are fooled: an admin takes the witness out of the root
    write_trust_root(site.root, POLICY, PEOPLE, serial=3, path=site.trust)
    fooled = site.agent("audit", "verify", "-o", "human")
    assert fooled.returncode == 0, fooled.stdout + fooled.stderr
    assert "chain intact" in fooled.stdout
    write_trust_root(site.root, POLICY, PEOPLE, serial=4, path=site.trust, witness=witness)
    verified = site.agent("audit", "verify", "-o", "json")
    assert verified.returncode == 5, verified.stdout + verified.stderr
    (result,) = [json.loads(x) for x in verified.stdout.splitlines() if '"problems"' in x]
    assert any(dropped in p or "differs from the witness" in p for p in result["problems"])
    assert not result["ok"]
    # and the agent cannot rewrite the witness to match
    truncate = site.agent_python(f"open({str(witness)!r}, 'w').write('')")
    assert truncate.returncode != 0 and "Operation not permitted" in truncate.stderr
    assert dropped in witness.read_text()
