"""With a team store (DynamoDB) the audit records go into the store - one chain for every
machine - and nothing into the working directory; `audit verify` checks that chain."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipsafe.audit.store_log import StoreAuditLog
from shipsafe.cli.app import app
from shipsafe.clock import FakeClock
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
    # the breaker's warm-up and interval pass in no time (real time here: ~14 s a deploy)
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
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


# repair of the chain in the store (issue 9): `shipsafe audit repair --state dynamodb://...`
def _past_the_head(team: str, body: dict[str, Any], stored: bool) -> int:
    """A writer killed between its record and the head: the record is there, the head is
    not moved. `stored`: the record is an event the store holds (events are written first)."""
    from shipsafe.audit.chain import chain
    from shipsafe.audit.event_record import event_record
    from shipsafe.audit.store_log import HEAD
    from shipsafe.records import Event, canonical_json

    store = open_store(team, create=False)
    try:
        if stored:
            event = store.append_event(Event.model_validate(body))
            body = event_record(event)
        seq, _, digest = (store.get_meta(HEAD) or "0:").partition(":")
        record = chain(body, int(seq), digest)
        store.set_meta(f"audit:record:{record['seq']:012d}", canonical_json(record), None)
        return int(record["seq"])
    finally:
        store.close()


def _team_records(team: str) -> list[dict[str, Any]]:
    store = open_store(team, create=False)
    try:
        return [rec for _, rec in StoreAuditLog(store).records() if rec]
    finally:
        store.close()


@pytest.fixture
def deployed(team: str, tmp_path: Path) -> str:
    result = runner.invoke(app, ["deploy", write_plan(tmp_path, FAST), "--state", team,
                                 "-o", "json"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.output.splitlines()[0])["rollout_id"])


def test_audit_repair_on_a_team_store_accepts_a_stored_event_left_past_the_head(
    team: str, deployed: str
) -> None:
    time = _team_records(team)[-1]["time"]
    ahead = _past_the_head(team, {"rollout_id": deployed, "type": "notice", "time": time,
                                  "message": "written, then killed"}, stored=True)
    store = open_store(team, create=False)
    try:  # and one more event that reached the store but never the chain
        from shipsafe.records import Event, EventType

        lost = store.append_event(Event(rollout_id=deployed, type=EventType.NOTICE, time=time,
                                        message="never chained"))
    finally:
        store.close()
    refused = runner.invoke(app, ["audit", "verify", "--state", team])
    assert refused.exit_code == 5 and "shipsafe audit repair" in refused.output
    done = runner.invoke(app, ["audit", "repair", "--state", team])
    assert done.exit_code == 0, done.output
    records = _team_records(team)
    repaired = records[-1]
    assert repaired["type"] == "audit_repaired" and repaired["actor"].startswith("ci-bot")
    assert repaired["data"]["accepted"] == [ahead]
    assert repaired["data"]["checked_against_store"] is True
    assert repaired["data"]["rechained"] == 1 and records[-2]["message"] == lost.message
    assert "proof" in repaired  # signed by the repairer's key (ci-bot's, in the trust root)
    verified = runner.invoke(app, ["audit", "verify", "--state", team])
    assert verified.exit_code == 0, verified.output
    again = runner.invoke(app, ["audit", "repair", "--state", team])
    assert again.exit_code == 0 and "nothing to repair" in again.output


def test_a_record_past_a_team_stores_head_the_store_never_saw_needs_a_human(
    team: str, deployed: str
) -> None:
    forged = _past_the_head(team, {"rollout_id": deployed, "type": "approval_accepted",
                                   "message": "approved by alice"}, stored=False)
    refused = runner.invoke(app, ["audit", "repair", "--state", team])
    assert refused.exit_code == 5, refused.output
    assert "not an event the state store holds" in refused.output
    assert "--accept-current-log" in refused.output
    assert _team_records(team)[-1]["seq"] == forged  # nothing written
    done = runner.invoke(app, ["audit", "repair", "--state", team, "--accept-current-log",
                               "--reason", "inspected: a test wrote it"])
    assert done.exit_code == 0, done.output
    last = _team_records(team)[-1]
    assert last["type"] == "audit_repaired"
    assert last["data"]["accepted_current_log"] == "inspected: a test wrote it"
    assert runner.invoke(app, ["audit", "verify", "--state", team]).exit_code == 0


def test_audit_repair_refuses_a_team_chain_that_is_itself_broken(team: str, deployed: str) -> None:
    store = open_store(team, create=False)
    try:
        key = "audit:record:000000000002"
        raw = json.loads(store.get_meta(key) or "{}")
        store.set_meta(key, json.dumps({**raw, "message": "edited"}), store.get_meta(key))
    finally:
        store.close()
    done = runner.invoke(app, ["audit", "repair", "--state", team, "--accept-current-log",
                               "--reason", "no"])
    assert done.exit_code == 5 and "chain itself is broken" in done.output
