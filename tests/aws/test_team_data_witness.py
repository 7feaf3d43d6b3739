"""A keyless deploy on a team store (dynamodb://TABLE) with a witness: the team chain's
records reach the trust root's witness (StoreAuditLog), data_snapshot_taken among them, so
the cutover checks the snapshot record in the table against the digest the witness took."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipsafe.audit.store_log import StoreAuditLog, log_url
from shipsafe.audit.witness import FileWitness
from shipsafe.clock import FakeClock
from shipsafe.engine.context import EngineContext
from shipsafe.engine.control import start_deploy, submit_command
from shipsafe.engine.driver import drive
from shipsafe.records import CommandKind, Phase
from shipsafe.store.dynamodb import DynamoDBStore
from shipsafe.trust.proofs import KeyProofs
from tests.conftest import ALICE, make_plan
from tests.fakes import FakeDataSnapshots
from tests.test_data_witness import BLUE_GREEN, Providers

TEAM = "dynamodb://team-state"


@pytest.fixture
def team(aws: Any) -> Iterator[DynamoDBStore]:
    DynamoDBStore.init(TEAM)
    store = DynamoDBStore.open(TEAM)
    yield store
    store.close()


@pytest.fixture
def witness(tmp_path: Path) -> FileWitness:
    path = tmp_path / "witness.log"
    path.write_text("")
    return FileWitness(path)


def _ctx(store: DynamoDBStore, clock: FakeClock, witness: FileWitness,
         snapshots: FakeDataSnapshots) -> EngineContext:
    """As the CLI session builds it for a team store: the chain inside the table, the trust
    root's witness for it and for the snapshot check (cli/session.py, cli/common.py)."""
    audit = StoreAuditLog(store, witness=witness)
    return EngineContext(store=store, clock=clock, providers=Providers(snapshots), actor=ALICE,
                         subscribers=[audit], proofs=KeyProofs(None, witness=witness))


def _at_the_pause(store: DynamoDBStore, clock: FakeClock, witness: FileWitness,
                  snapshots: FakeDataSnapshots) -> str:
    engine = start_deploy(_ctx(store, clock, witness, snapshots), make_plan(BLUE_GREEN))
    assert drive(engine, detach=True) == Phase.PAUSED
    return engine.record.id


def _promote(store: DynamoDBStore, clock: FakeClock, witness: FileWitness,
             snapshots: FakeDataSnapshots, rollout_id: str) -> Phase:
    """Another process (a new context, as `shipsafe promote` on another machine would)."""
    ctx = _ctx(store, clock, witness, snapshots)
    return submit_command(ctx, rollout_id, CommandKind.PROMOTE, {}, wait_seconds=0).phase


def test_the_team_chains_snapshot_digest_reaches_the_witness(
    team: DynamoDBStore, clock: FakeClock, witness: FileWitness
) -> None:
    rollout_id = _at_the_pause(team, clock, witness, FakeDataSnapshots())
    (entry,) = [e for e in witness.entries() if e["type"] == "data_snapshot_taken"]
    assert entry["log"] == log_url(TEAM)
    assert entry["rollout_id"] == rollout_id and entry["snapshot"] == "db"
    assert len(entry["snapshot_sha256"]) == 64


def test_a_keyless_cutover_on_a_team_store_goes_ahead_when_nothing_changed(
    team: DynamoDBStore, clock: FakeClock, witness: FileWitness
) -> None:
    snapshots = FakeDataSnapshots()
    rollout_id = _at_the_pause(team, clock, witness, snapshots)
    assert _promote(team, clock, witness, snapshots, rollout_id) == Phase.SUCCEEDED


def test_a_keyless_cutover_on_a_team_store_refuses_a_replaced_snapshot_record(
    team: DynamoDBStore, clock: FakeClock, witness: FileWitness
) -> None:
    snapshots = FakeDataSnapshots()
    rollout_id = _at_the_pause(team, clock, witness, snapshots)
    # another snapshot, and the record in the table saying so: the provider's check passes
    snapshot = team.get_snapshot(rollout_id)
    assert snapshot is not None
    (record,) = snapshot.data
    snapshots.snapshots[record["id"]] = "orders v0"
    team.save_snapshot(snapshot.model_copy(update={"data": [{**record, "data": "orders v0"}]}))
    phase = _promote(team, clock, witness, snapshots, rollout_id)
    assert phase in (Phase.ROLLED_BACK, Phase.ROLLBACK_FAILED)
    why = str(team.get_rollout(rollout_id).runtime.rollback_message)
    assert "is not the one the audit witness saw taken" in why
