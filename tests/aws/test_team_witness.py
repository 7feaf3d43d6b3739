"""A team store's audit chain (inside DynamoDB) checkpointed to the trust root's S3 Object
Lock witness: every machine's records reach the same witness, and `audit verify --state
dynamodb://...` compares the chain with it, so a chain rewritten in the table (re-chained,
head moved) fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipsafe.audit.chain import GENESIS, chain
from shipsafe.audit.s3_witness import S3Witness
from shipsafe.audit.store_log import HEAD, StoreAuditLog
from shipsafe.cli.app import app
from shipsafe.clock import FakeClock
from shipsafe.records import canonical_json
from shipsafe.store import open_store
from tests.aws.test_s3_witness_contract import locked_bucket
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter
from tests.support.trust_root import permissive_trust_root
from tests.test_cli import FAST, write_plan

runner = CliRunner()
TEAM = "dynamodb://team-state"
WITNESS = "s3://team-witness/audit"


@pytest.fixture
def team(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    monkeypatch.setenv("SHIPSAFE_ACTOR", "ci-bot")
    for var in ("SHIPSAFE_STATE", "SHIPSAFE_AUDIT_LOG", "SHIPSAFE_AUDIT_S3", "CI"):
        monkeypatch.delenv(var, raising=False)
    locked_bucket(aws.client("s3"), "team-witness")
    permissive_trust_root(tmp_path / "etc", monkeypatch, witness=WITNESS)
    providers = FakeProviders(FakeRouter(), FakeMetrics(0.001))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    assert runner.invoke(app, ["store", "init", "--state", TEAM]).exit_code == 0
    return providers


def _deploy_from(machine: Path, team: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> str:
    """A deploy from another working directory (another CI checkout, another machine)."""
    machine.mkdir()
    monkeypatch.chdir(machine)
    team.router_instance.weights = {"stable": 100, "canary": 0}
    done = runner.invoke(app, ["deploy", write_plan(machine, FAST), "--state", TEAM, "-o",
                               "json"])
    assert done.exit_code == 0, done.output
    return str(json.loads(done.output.splitlines()[-1])["rollout_id"])


def _verify() -> tuple[int, dict[str, Any]]:
    done = runner.invoke(app, ["audit", "verify", "--state", TEAM, "-o", "json"])
    (result,) = [json.loads(x) for x in done.output.splitlines() if '"problems"' in x]
    return done.exit_code, result


def test_every_machines_records_reach_the_same_witness_and_verify_agrees(
    team: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _deploy_from(tmp_path / "machine-a", team, monkeypatch)
    second = _deploy_from(tmp_path / "machine-b", team, monkeypatch)
    store = open_store(TEAM, create=False)
    try:
        chained = [r for _, r in StoreAuditLog(store).records() if r]
    finally:
        store.close()
    witnessed = S3Witness.from_url(WITNESS).entries()
    assert {e["log"] for e in witnessed} == {f"{TEAM}#audit"}
    assert [(e["seq"], e["hash"]) for e in witnessed] == [(r["seq"], r["hash"]) for r in chained]
    code, result = _verify()
    assert code == 0, result
    assert result["witnessed_logs"] == {f"{TEAM}#audit": sorted([first, second])}


def test_a_team_chain_rewritten_in_the_table_fails_verify(
    team: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _deploy_from(tmp_path / "machine-a", team, monkeypatch)
    _deploy_from(tmp_path / "machine-b", team, monkeypatch)
    # the agent (who may write the table) turns the first rollout's records into notices,
    # re-chains everything and moves the head: the chain alone verifies again
    store = open_store(TEAM, create=False)
    try:
        records = [r for _, r in StoreAuditLog(store).records() if r]
        seq, prev = 0, GENESIS
        for rec in records:
            body = {k: v for k, v in rec.items() if k not in ("seq", "prev", "hash", "sig")}
            if body.get("rollout_id") == dropped:
                body = {"type": "notice", "rollout_id": "-", "message": "nothing happened",
                        "time": body.get("time")}
            new = chain(body, seq, prev)
            key = f"audit:record:{new['seq']:012d}"
            store.set_meta(key, canonical_json(new), store.get_meta(key))
            seq, prev = new["seq"], new["hash"]
        store.set_meta(HEAD, f"{seq}:{prev}", store.get_meta(HEAD))
        assert StoreAuditLog(store).verify().ok  # fooled without the witness
    finally:
        store.close()
    code, result = _verify()
    assert code == 5, result
    assert any("differs from the witness" in p and dropped in p for p in result["problems"])
