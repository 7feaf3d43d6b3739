"""With a team store (DynamoDB) the audit records go into the store - one chain for every
machine - and nothing into the working directory; `audit verify` checks that chain."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipsafe.audit.store_log import StoreAuditLog
from shipsafe.cli.app import app
from shipsafe.store import open_store
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter
from tests.support.trust_root import permissive_trust_root
from tests.test_cli import FAST, write_plan

runner = CliRunner()


@pytest.fixture
def team(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPSAFE_ACTOR", "ci-bot")
    permissive_trust_root(tmp_path, monkeypatch)
    for var in ("SHIPSAFE_STATE", "SHIPSAFE_AUDIT_LOG", "SHIPSAFE_AUDIT_S3", "CI"):
        monkeypatch.delenv(var, raising=False)
    providers = FakeProviders(FakeRouter(), FakeMetrics(0.001))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    url = "dynamodb://team-state"
    assert runner.invoke(app, ["store", "init", "--state", url]).exit_code == 0
    return url


def test_a_deploy_with_a_team_store_audits_into_the_store_not_the_cwd(
    team: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["deploy", write_plan(tmp_path, FAST), "--state", team])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / ".shipsafe").exists()
    assert not list(tmp_path.rglob("*.jsonl"))
    verified = runner.invoke(app, ["audit", "verify", "--state", team, "-o", "json"])
    assert verified.exit_code == 0, verified.output
    doc = json.loads(verified.output)
    assert doc["ok"] and doc["records"] >= 10 and doc["anchored"]
    store = open_store(team, create=False)
    try:
        types = [rec["type"] for _, rec in StoreAuditLog(store).records() if rec]
    finally:
        store.close()
    assert types[0] == "rollout_created" and "rollout_finished" in types


def test_two_writers_share_one_chain_without_gaps(team: str, atomic_moto: None) -> None:
    def write(n: int) -> None:
        store = open_store(team, create=False)
        try:
            log = StoreAuditLog(store)
            for i in range(10):
                log.append({"type": "notice", "message": f"writer {n} #{i}"})
        finally:
            store.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = open_store(team, create=False)
    try:
        result = StoreAuditLog(store).verify()
    finally:
        store.close()
    assert result.ok, result.problems
    assert result.count == 20


def test_an_edited_record_in_the_store_breaks_the_chain(team: str) -> None:
    store = open_store(team, create=False)
    try:
        log = StoreAuditLog(store)
        for i in range(3):
            log.append({"type": "notice", "message": str(i)})
        key = "audit:record:000000000002"
        raw = json.loads(store.get_meta(key) or "{}")
        tampered = json.dumps({**raw, "message": "nothing happened"})
        store.set_meta(key, tampered, store.get_meta(key))
    finally:
        store.close()
    result = runner.invoke(app, ["audit", "verify", "--state", team])
    assert result.exit_code == 5, result.output
