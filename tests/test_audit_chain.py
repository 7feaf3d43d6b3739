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
    with pytest.raises(AuditError, match="cut off the end"):
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


class FlakyMirror:
    url = "mem://mirror"

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.down = False

    def check(self) -> None:
        if self.down:
            from shipsafe.errors import ConfigurationError

            raise ConfigurationError("mirror unreachable")

    def put(self, record: dict[str, Any]) -> None:
        if self.down:
            raise AuditError("mirror unreachable")
        self.records.append(record)


def test_a_mirror_outage_does_not_stop_the_log_and_the_backlog_catches_up(
    tmp_path: Path, store: SQLiteStore
) -> None:
    mirror = FlakyMirror()
    warnings: list[str] = []
    log = FileAuditLog(tmp_path / "a.jsonl", store, mirrors=[mirror])
    log.on_mirror_error = warnings.append
    log.append({"type": "notice", "message": "one"})
    mirror.down = True
    log.append({"type": "notice", "message": "two"})
    log.append({"type": "notice", "message": "three"})
    assert len(warnings) == 1 and "will retry" in warnings[0]
    assert [r["seq"] for r in mirror.records] == [1]
    mirror.down = False
    log.append({"type": "notice", "message": "four"})
    assert [r["seq"] for r in mirror.records] == [1, 2, 3, 4]
    assert log.verify().ok


def test_deploy_refuses_to_start_when_a_mirror_cannot_be_written(
    tmp_path: Path, store: SQLiteStore
) -> None:
    from shipsafe.errors import ConfigurationError

    mirror = FlakyMirror()
    mirror.down = True
    log = FileAuditLog(tmp_path / "a.jsonl", store, mirrors=[mirror])
    with pytest.raises(ConfigurationError):
        log.check_mirrors()
