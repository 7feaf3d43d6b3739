"""A keyless deploy signs nothing, so its data-snapshot record is checked before cutover
against the record's digest that the audit witness took when the snapshot was taken."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from shipsafe.audit.file import FileAuditLog
from shipsafe.audit.witness import FileWitness
from shipsafe.clock import FakeClock
from shipsafe.engine.context import EngineContext
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.records import Phase
from shipsafe.store.sqlite import SQLiteStore
from shipsafe.trust.proofs import KeyProofs
from tests.conftest import ALICE, make_plan
from tests.fakes import FakeDataSnapshots, FakeMetrics, FakeProviders, FakeRouter

BLUE_GREEN = f"""
strategy:
  blueGreen: {{blueIdentity: ["{sys.executable}", "-c", "print('2.3.9')"]}}
dataSnapshots:
  db: {{provider: file, path: /tmp/none.db}}
breakers:
  - analysis: error-rate
steps:
  - analysis: {{templates: [error-rate]}}
  - snapshot: {{data: [db]}}
  - pause: {{}}
  - cutover: {{blueHealth: [error-rate]}}
  - analysis: {{templates: [error-rate]}}
"""


class Providers(FakeProviders):
    def __init__(self, snapshots: FakeDataSnapshots) -> None:
        super().__init__(FakeRouter(), FakeMetrics(0.001))
        self.snapshots = snapshots

    def data_snapshot(self, name: str, config: dict[str, Any]) -> Any:
        return self.snapshots


@pytest.fixture
def witness(tmp_path: Path) -> Path:
    path = tmp_path / "witness.log"
    path.write_text("")
    return path


def _ctx(store: SQLiteStore, clock: FakeClock, witness: Path, snapshots: FakeDataSnapshots,
         tmp_path: Path) -> EngineContext:
    audit = FileAuditLog(tmp_path / "audit.jsonl", store, witness=FileWitness(witness))
    return EngineContext(store=store, clock=clock, providers=Providers(snapshots), actor=ALICE,
                         subscribers=[audit], proofs=KeyProofs(None, witness=FileWitness(witness)))


def _at_the_pause(store: SQLiteStore, clock: FakeClock, witness: Path,
                  snapshots: FakeDataSnapshots, tmp_path: Path) -> Any:
    engine = start_deploy(_ctx(store, clock, witness, snapshots, tmp_path),
                          make_plan(BLUE_GREEN))
    assert drive(engine, detach=True) == Phase.PAUSED
    return engine


def _replace_snapshot(store: SQLiteStore, rollout_id: str, snapshots: FakeDataSnapshots) -> None:
    """Another snapshot, and the record saying so: the provider's own check passes."""
    snapshot = store.get_snapshot(rollout_id)
    assert snapshot is not None
    (record,) = snapshot.data
    snapshots.snapshots[record["id"]] = "orders v0"
    store.save_snapshot(snapshot.model_copy(update={"data": [{**record, "data": "orders v0"}]}))


def _promote(store: SQLiteStore, clock: FakeClock, witness: Path, snapshots: FakeDataSnapshots,
             tmp_path: Path, rollout_id: str) -> Phase:
    from shipsafe.engine.control import submit_command
    from shipsafe.records import CommandKind

    ctx = _ctx(store, clock, witness, snapshots, tmp_path)
    result = submit_command(ctx, rollout_id, CommandKind.PROMOTE, {}, wait_seconds=0)
    return result.phase


def test_the_witness_keeps_the_digest_of_a_keyless_data_snapshot_record(
    store: SQLiteStore, clock: FakeClock, witness: Path, tmp_path: Path
) -> None:
    snapshots = FakeDataSnapshots()
    engine = _at_the_pause(store, clock, witness, snapshots, tmp_path)
    (entry,) = [e for e in FileWitness(witness).entries() if e["type"] == "data_snapshot_taken"]
    assert entry["rollout_id"] == engine.record.id and entry["snapshot"] == "db"
    assert len(entry["snapshot_sha256"]) == 64


def test_cutover_goes_ahead_when_the_record_is_the_one_the_witness_saw(
    store: SQLiteStore, clock: FakeClock, witness: Path, tmp_path: Path
) -> None:
    snapshots = FakeDataSnapshots()
    engine = _at_the_pause(store, clock, witness, snapshots, tmp_path)
    assert _promote(store, clock, witness, snapshots, tmp_path, engine.record.id) == (
        Phase.SUCCEEDED
    )


def test_cutover_refuses_a_replaced_snapshot_with_its_new_record(
    store: SQLiteStore, clock: FakeClock, witness: Path, tmp_path: Path
) -> None:
    snapshots = FakeDataSnapshots()
    engine = _at_the_pause(store, clock, witness, snapshots, tmp_path)
    _replace_snapshot(store, engine.record.id, snapshots)
    phase = _promote(store, clock, witness, snapshots, tmp_path, engine.record.id)
    assert phase in (Phase.ROLLED_BACK, Phase.ROLLBACK_FAILED)
    assert "is not the one the audit witness saw taken" in _why(store, engine.record.id)


def test_a_forged_entry_appended_to_the_witness_makes_cutover_refuse_not_pass(
    store: SQLiteStore, clock: FakeClock, witness: Path, tmp_path: Path
) -> None:
    """Anyone may append to the witness: every entry for the record must agree."""
    snapshots = FakeDataSnapshots()
    engine = _at_the_pause(store, clock, witness, snapshots, tmp_path)
    FileWitness(witness).put(tmp_path / "forged.jsonl", {
        "seq": 1, "hash": "h", "type": "data_snapshot_taken", "rollout_id": engine.record.id,
        "data": {"name": "db", "record_sha256": "0" * 64},
    })
    phase = _promote(store, clock, witness, snapshots, tmp_path, engine.record.id)
    assert phase in (Phase.ROLLED_BACK, Phase.ROLLBACK_FAILED)
    assert "holds another record" in _why(store, engine.record.id)


def _why(store: SQLiteStore, rollout_id: str) -> str:
    return str(store.get_rollout(rollout_id).runtime.rollback_message)
