"""The contract every audit witness passes (shipsafe.audit.witness.AuditWitness): what is put
comes back as entries, per log and in order; a log written through the file log with the
witness compares clean, a rewritten one does not; a retried put changes nothing; a witness
that is no witness is refused at check (exit 2) and named by problems(); and an attempt to
rewrite a checkpoint is refused by the witness itself and leaves the entry in place.
Subclass WitnessContract and define three fixtures:

    witness        a witness as an admin prepared it
    not_a_witness  the same kind, prepared wrongly (a plain file; a bucket without
                   COMPLIANCE Object Lock)
    rewrite        () -> None: the deploying user's attempt to rewrite or remove what the
                   witness holds; must raise (the witness refuses it)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipsafe.audit.chain import GENESIS, chain
from shipsafe.audit.file import FileAuditLog
from shipsafe.audit.witness import AuditWitness, compare
from shipsafe.errors import ConfigurationError, ExitCode


def records(*rollouts: str) -> list[dict[str, Any]]:
    out, seq, prev = [], 0, GENESIS
    for rid in rollouts:
        rec = chain({"rollout_id": rid, "type": "rollout_created", "time": "2026-12-01T12:00:00Z",
                     "data": {"environment": "production"}}, seq, prev)
        seq, prev = rec["seq"], rec["hash"]
        out.append(rec)
    return out


class WitnessContract:
    @pytest.fixture
    def witness(self) -> AuditWitness:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def not_a_witness(self) -> AuditWitness:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def rewrite(self) -> Callable[[], None]:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_what_is_put_comes_back_per_log_in_order(self, witness: AuditWitness) -> None:
        one, two = records("a", "b"), records("c")
        for rec in one:
            witness.put("/var/lib/x/audit.jsonl", rec)
        witness.put("dynamodb://team#audit", two[0])
        got = [(e["log"], e["seq"], e["hash"], e["rollout_id"]) for e in witness.entries()]
        assert sorted(got) == sorted([
            ("/var/lib/x/audit.jsonl", 1, one[0]["hash"], "a"),
            ("/var/lib/x/audit.jsonl", 2, one[1]["hash"], "b"),
            ("dynamodb://team#audit", 1, two[0]["hash"], "c"),
        ])

    def test_the_freeze_fields_are_kept(self, witness: AuditWitness) -> None:
        created = records("a")[0]
        started = chain({"rollout_id": "a", "type": "rollback_started",
                         "reason": "breaker_tripped", "time": "2026-12-01T12:01:00+00:00"},
                        created["seq"], created["hash"])
        witness.put("/x/audit.jsonl", created)
        witness.put("/x/audit.jsonl", started)
        from shipsafe.audit.witness import rollbacks

        assert rollbacks(witness.entries()) == [("a", "production", None)]
        kept = {e["seq"]: e for e in witness.entries()}
        assert kept[2]["reason"] == "breaker_tripped"
        assert kept[1]["time"] == "2026-12-01T12:00:00Z"

    def test_a_log_written_with_the_witness_compares_clean_and_a_rewrite_does_not(
        self, witness: AuditWitness, tmp_path: Path
    ) -> None:
        log = FileAuditLog(tmp_path / "audit.jsonl", witness=witness)
        for rid in ("a", "b", "c"):
            log.append({"rollout_id": rid, "type": "rollout_created"})

        def read(path: str) -> list[dict[str, Any]]:
            return [r for _, r in FileAuditLog(path).records() if r is not None]

        clean = compare(witness.entries(), read)
        assert clean.problems == []
        assert clean.logs == {str((tmp_path / "audit.jsonl").resolve()): {"a", "b", "c"}}
        kept = [r for r in read(str(tmp_path / "audit.jsonl")) if r["rollout_id"] != "b"]
        seq, prev, out = 0, GENESIS, []
        for rec in kept:  # b dropped, the rest re-chained: a valid chain on its own
            body = {k: v for k, v in rec.items() if k not in ("seq", "prev", "hash")}
            rec = chain(body, seq, prev)
            seq, prev = rec["seq"], rec["hash"]
            out.append(rec)
        problems = compare(witness.entries(), lambda path: out).problems
        assert any("differs from the witness" in p and "rollout b" in p for p in problems)

    def test_a_data_snapshot_record_keeps_its_digest(self, witness: AuditWitness) -> None:
        created = records("a")[0]
        taken = chain({"rollout_id": "a", "type": "data_snapshot_taken",
                       "data": {"name": "orders-db", "record_sha256": "f0" * 32}},
                      created["seq"], created["hash"])
        witness.put("/x/audit.jsonl", taken)
        (entry,) = witness.entries()
        assert (entry["snapshot"], entry["snapshot_sha256"]) == ("orders-db", "f0" * 32)

    def test_every_field_a_witness_entry_holds_comes_back(self, witness: AuditWitness) -> None:
        from shipsafe.audit.witness import witness_entry

        rec = chain({"rollout_id": "a", "type": "rollback_started", "reason": "breaker_tripped",
                     "time": "2026-12-01T12:00:00Z"}, 0, GENESIS)
        witness.put("/x/audit.jsonl", rec)
        (entry,) = witness.entries()
        expected = {k: v for k, v in witness_entry("/x/audit.jsonl", rec).items()
                    if v is not None}
        assert {k: v for k, v in entry.items() if v is not None} == expected

    def test_a_retried_put_changes_nothing(self, witness: AuditWitness) -> None:
        rec = records("a")[0]
        witness.put("/x/audit.jsonl", rec)
        witness.put("/x/audit.jsonl", rec)
        assert compare(witness.entries(), lambda path: [rec]).problems == []

    def test_a_witness_prepared_wrongly_is_refused_with_exit_2(
        self, not_a_witness: AuditWitness
    ) -> None:
        with pytest.raises(ConfigurationError) as refused:
            not_a_witness.check()
        assert refused.value.exit_code == ExitCode.INVALID
        assert "\n" not in refused.value.message
        assert not_a_witness.problems()

    def test_a_witness_prepared_right_has_no_problems(self, witness: AuditWitness) -> None:
        witness.check()
        assert witness.problems() == []

    def test_rewriting_a_checkpoint_is_refused_by_the_witness(
        self, witness: AuditWitness, rewrite: Callable[[], None]
    ) -> None:
        rec = records("a")[0]
        witness.put("/x/audit.jsonl", rec)
        with pytest.raises(Exception):  # noqa: B017 - each witness refuses in its own words
            rewrite()
        assert [(e["seq"], e["hash"]) for e in witness.entries()] == [(1, rec["hash"])]
