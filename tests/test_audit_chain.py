"""The audit log is hash-chained: edits, removals, reorderings and truncation are found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipsafe.audit.file import FileAuditLog
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.errors import AuditError
from shipsafe.store.sqlite import SQLiteStore
from tests.conftest import make_plan


@pytest.fixture
def audited(make_ctx: Any, tmp_path: Path, store: SQLiteStore) -> FileAuditLog:
    drive(start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 10\n  - setWeight: 50\n")))
    log = FileAuditLog(tmp_path / "audit.jsonl", store)
    assert log.verify().ok
    return log


def _lines(log: FileAuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def _write(log: FileAuditLog, lines: list[str]) -> None:
    log.path.write_text("\n".join(lines) + "\n")


def test_an_untouched_log_verifies_and_records_every_event(
    audited: FileAuditLog, store: SQLiteStore
) -> None:
    (record,) = store.list_rollouts()
    result = audited.verify()
    assert result.ok and result.count == len(store.events(record.id))
    first = json.loads(_lines(audited)[0])
    assert first["type"] == "rollout_created" and first["prev"] == "0" * 64


def test_an_edited_record_is_found(audited: FileAuditLog) -> None:
    lines = _lines(audited)
    rec = json.loads(lines[3])
    rec["message"] = "nothing to see here"
    lines[3] = json.dumps(rec)
    result = audited.verify()
    _write(audited, lines)
    result = audited.verify()
    assert not result.ok
    assert any("record 4 was altered" in p for p in result.problems)


def test_a_removed_record_is_found(audited: FileAuditLog) -> None:
    lines = _lines(audited)
    del lines[2]
    _write(audited, lines)
    result = audited.verify()
    assert not result.ok and any("removed, inserted or reordered" in p for p in result.problems)


def test_reordered_records_are_found(audited: FileAuditLog) -> None:
    lines = _lines(audited)
    lines[2], lines[3] = lines[3], lines[2]
    _write(audited, lines)
    assert not audited.verify().ok


def test_records_cut_off_the_end_are_found_through_the_anchor(audited: FileAuditLog) -> None:
    lines = _lines(audited)
    _write(audited, lines[:-2])
    result = audited.verify()
    assert not result.ok and any("cut off the end" in p for p in result.problems)


def test_appending_after_tampering_refuses_instead_of_papering_over(
    audited: FileAuditLog,
) -> None:
    _write(audited, _lines(audited)[:-1])
    with pytest.raises(AuditError, match="does not continue"):
        audited.append({"type": "notice", "message": "x"})


def test_secrets_never_reach_the_audit_log(make_ctx: Any, tmp_path: Path) -> None:
    from shipsafe.records import EventType

    engine = start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 10\n"))
    engine.emit(
        EventType.NOTICE,
        message="fetched https://user:hunter2@prom.example/api",
        data={"token": "abc123", "nested": {"password": "pw"}},
    )
    text = (tmp_path / "audit.jsonl").read_text()
    assert "hunter2" not in text and "abc123" not in text and '"pw"' not in text
