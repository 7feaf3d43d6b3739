"""The audit witness compared with the logs it witnessed (shipsafe.audit.witness)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipsafe.audit.chain import GENESIS, chain
from shipsafe.audit.witness import FileWitness, append_only, compare, unprotected
from shipsafe.errors import AuditError


def _log(*rollouts: str) -> list[dict[str, Any]]:
    out, seq, prev = [], 0, GENESIS
    for rid in rollouts:
        rec = chain({"rollout_id": rid, "type": "rollout_created"}, seq, prev)
        seq, prev = rec["seq"], rec["hash"]
        out.append(rec)
    return out


def _witness(log: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"log": log, "seq": r["seq"], "hash": r["hash"], "rollout_id": r["rollout_id"],
             "type": r["type"]} for r in records]


def test_a_log_that_matches_its_witness_has_no_problems() -> None:
    log = _log("a", "b")
    result = compare(_witness("/x/audit.jsonl", log), lambda path: log)
    assert result.problems == [] and result.logs == {"/x/audit.jsonl": {"a", "b"}}


def test_a_re_chained_log_differs_from_the_witness() -> None:
    witnessed = _witness("/x/audit.jsonl", _log("a", "b", "c"))
    rewritten = _log("a", "c")  # b dropped, the rest re-chained: a valid chain on its own
    problems = compare(witnessed, lambda path: rewritten).problems
    assert any("record 2 differs from the witness" in p and "rollout b" in p for p in problems)
    assert any("record 3 (rollout c" in p and "missing from the log" in p for p in problems)


def test_a_witnessed_log_that_is_gone_names_its_rollouts() -> None:
    def gone(path: str) -> list[dict[str, Any]]:
        raise AuditError(f"no audit log at {path}")

    problems = compare(_witness("/x/elsewhere.jsonl", _log("hidden")), gone).problems
    assert len(problems) == 1 and "hidden" in problems[0] and "elsewhere" in problems[0]


def test_a_record_written_without_the_witness_is_a_problem() -> None:
    log = _log("a", "b")
    problems = compare(_witness("/x/audit.jsonl", log[:1]), lambda path: log).problems
    assert problems == ["/x/audit.jsonl: record 2 (rollout b) is in the log and missing from "
                        "the witness"]


def test_an_ordinary_file_is_no_witness(tmp_path: Path) -> None:
    path = tmp_path / "witness.log"
    path.write_text("")
    assert not append_only(path)
    assert "not append-only" in (unprotected(path) or "") or "not owned by root" in (
        unprotected(path) or "")
    FileWitness(path).put(tmp_path / "audit.jsonl", {"seq": 1, "hash": "h", "rollout_id": "r"})
    assert FileWitness(path).entries()[0]["rollout_id"] == "r"


def test_rollbacks_are_read_from_the_witness_with_their_environment() -> None:
    from shipsafe.audit.witness import rollbacks

    entries = [
        {"rollout_id": "a", "type": "rollout_created", "environment": "production"},
        {"rollout_id": "a", "type": "rollback_started", "reason": "analysis_failed"},
        {"rollout_id": "a", "type": "rollback_finished", "time": "2026-03-04T12:00:00Z"},
        {"rollout_id": "b", "type": "rollout_created", "environment": "staging"},
        {"rollout_id": "b", "type": "rollback_started", "reason": "breaker_tripped"},
        {"rollout_id": "c", "type": "rollout_created", "environment": "production"},
        {"rollout_id": "c", "type": "rollback_started", "reason": "manual_abort"},
    ]
    assert rollbacks(entries) == [
        ("a", "production", "2026-03-04T12:00:00Z"),
        ("b", "staging", None),  # started, never finished: the environment stays frozen
    ]  # c was an abort: it ends `aborted` and freezes nothing, as in the store


def test_a_log_the_witness_holds_nothing_of_is_named_when_it_has_records_since_the_root() -> None:
    from shipsafe.audit.witness import unwitnessed

    records = [{"seq": 1, "time": "2026-03-01T00:00:00Z"}, {"seq": 2, "time": "2026-12-01T10:00Z"}]
    since = "2026-06-01T00:00:00+00:00"
    found = unwitnessed("/x/audit.jsonl", records, [], since)
    assert found is not None and "1 record(s) written since" in found
    assert unwitnessed("/x/audit.jsonl", records[:1], [], since) is None  # all from before
    witnessed = [{"log": "/x/audit.jsonl", "seq": 2}]
    assert unwitnessed("/x/audit.jsonl", records, witnessed, since) is None  # compare's job
