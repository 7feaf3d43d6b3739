"""The audit anchor (head hash and record count in the state store): a log cut short, replaced
or deleted does not verify; a log ahead of its anchor after a crash is repaired from the
store's events; refusals and lock releases are in the log (issue 9 item 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipsafe.audit.anchor import Anchor
from shipsafe.audit.chain import GENESIS, chain
from shipsafe.audit.event_record import event_record
from shipsafe.audit.file import FileAuditLog
from shipsafe.cli.app import app
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.errors import AuditError, LockedError, PreflightError
from shipsafe.records import Event, EventType
from shipsafe.store.sqlite import SQLiteStore
from tests.conftest import make_plan
from tests.fakes import FakeMetrics

PLAN = "steps:\n  - setWeight: 10\n  - setWeight: 50\n"


@pytest.fixture
def audited(make_ctx: Any, tmp_path: Path, store: SQLiteStore) -> FileAuditLog:
    drive(start_deploy(make_ctx(), make_plan(PLAN)))
    log = FileAuditLog(tmp_path / "audit.jsonl", store)
    assert log.verify().ok
    return log


def lines(log: FileAuditLog) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def anchor_of(log: FileAuditLog, store: SQLiteStore) -> Anchor:
    text = store.get_meta(f"audit_head:{log.path.resolve()}")
    assert text is not None
    return Anchor.parse(text)


def crash_after_the_write(log: FileAuditLog, store: SQLiteStore, rollout_id: str) -> Event:
    """An event stored, then written to the log, and the process killed before the anchor
    moved: the log is one record ahead of its anchor."""
    stored = store.append_event(
        Event(rollout_id=rollout_id, type=EventType.NOTICE, time=lines(log)[-1]["time"],
              message="written, then killed")
    )
    FileAuditLog(log.path).append(event_record(stored))  # no store: the anchor stays
    return stored


def test_the_anchor_records_the_head_hash_and_the_record_count(
    audited: FileAuditLog, store: SQLiteStore
) -> None:
    records = lines(audited)
    anchor = anchor_of(audited, store)
    assert (anchor.seq, anchor.hash, anchor.count) == (
        records[-1]["seq"], records[-1]["hash"], len(records)
    )


def test_a_replaced_log_one_record_longer_than_the_anchor_does_not_verify(
    audited: FileAuditLog,
) -> None:
    count = len(lines(audited))
    prev_seq, prev_hash, forged = 0, GENESIS, []
    for i in range(count + 1):
        record = chain({"type": "notice", "message": f"forged {i}"}, prev_seq, prev_hash)
        forged.append(json.dumps(record))
        prev_seq, prev_hash = record["seq"], record["hash"]
    audited.path.write_text("\n".join(forged) + "\n")
    result = audited.verify()
    assert not result.ok
    assert any("is not the one the state store anchored" in p for p in result.problems)


def test_a_deleted_log_does_not_verify_again_once_it_grows_past_the_old_head(
    audited: FileAuditLog,
) -> None:
    count = len(lines(audited))
    audited.path.unlink()
    unanchored = FileAuditLog(audited.path)  # written by something that has no store
    for i in range(count + 3):
        unanchored.append({"type": "notice", "message": f"new {i}"})
    assert not audited.verify().ok
    with pytest.raises(AuditError, match="not the one the state store anchored"):
        audited.append({"type": "notice", "message": "carry on?"})


def test_a_log_shorter_than_its_anchor_does_not_verify(audited: FileAuditLog) -> None:
    text = audited.path.read_text().splitlines()
    audited.path.write_text("\n".join(text[:-2]) + "\n")
    result = audited.verify()
    assert not result.ok and "cut off the end" in result.problems[0]


def test_a_log_ahead_of_its_anchor_by_an_unsigned_record_fails_verify_naming_repair(
    audited: FileAuditLog, store: SQLiteStore
) -> None:
    rollout_id = lines(audited)[0]["rollout_id"]
    crash_after_the_write(audited, store, rollout_id)  # a keyless writer, killed
    result = audited.verify()
    assert not result.ok
    assert "1 of 1 record(s) past the anchor" in result.problems[0]
    assert "shipsafe audit repair" in result.problems[0]


def test_the_next_write_repairs_a_log_left_ahead_by_a_crash(
    audited: FileAuditLog, store: SQLiteStore
) -> None:
    rollout_id = lines(audited)[0]["rollout_id"]
    crash_after_the_write(audited, store, rollout_id)
    ahead = lines(audited)[-1]["seq"]
    # and one more event reached the store but never the log (killed before the write)
    lost = store.append_event(Event(rollout_id=rollout_id, type=EventType.NOTICE,
                                    time=lines(audited)[-1]["time"], message="never written"))
    audited.append({"type": "notice", "message": "the next deploy"})  # used to exit 5
    records = lines(audited)
    repair = next(r for r in records if r["type"] == "audit_repaired")
    assert repair["data"]["accepted"] == [ahead]
    assert repair["data"]["checked_against_store"] is True
    assert repair["data"]["rechained"] == 1
    assert [r["message"] for r in records[-3:]] == [
        lost.message, repair["message"], "the next deploy"
    ]
    result = audited.verify()
    assert result.ok and not result.notes, (result.problems, result.notes)
    assert anchor_of(audited, store).count == len(records)


def test_records_past_the_anchor_that_the_store_never_saw_need_a_human(
    audited: FileAuditLog, store: SQLiteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FileAuditLog(audited.path).append({"type": "notice", "message": "appended by someone"})
    with pytest.raises(AuditError, match="not an event the state store holds"):
        audited.append({"type": "notice", "message": "next"})
    monkeypatch.setenv("SHIPSAFE_ACTOR", "oncall")
    args = ["audit", "repair", "--state", str(tmp_path / "state.db"),
            "--audit-log", str(audited.path)]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 5, refused.output
    assert "--accept-current-log" in refused.output
    done = CliRunner().invoke(
        app, [*args, "--accept-current-log", "--reason", "checked: a test wrote it"]
    )
    assert done.exit_code == 0, done.output
    last = lines(audited)[-1]
    assert last["type"] == "audit_repaired" and last["actor"].startswith("oncall")
    assert last["data"]["accepted_current_log"] == "checked: a test wrote it"
    assert audited.verify().ok


def test_audit_repair_re_anchors_a_log_ahead_and_is_itself_audited(
    audited: FileAuditLog, store: SQLiteStore, tmp_path: Path
) -> None:
    args = ["audit", "repair", "--state", str(tmp_path / "state.db"),
            "--audit-log", str(audited.path)]
    nothing = CliRunner().invoke(app, args)
    assert nothing.exit_code == 0 and "nothing to repair" in nothing.output
    crash_after_the_write(audited, store, lines(audited)[0]["rollout_id"])
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert lines(audited)[-1]["type"] == "audit_repaired"
    assert anchor_of(audited, store).seq == lines(audited)[-1]["seq"]
    verify = CliRunner().invoke(app, ["audit", "verify", *args[2:]])
    assert verify.exit_code == 0 and "note" not in verify.output, verify.output


def test_an_anchor_in_the_older_seq_hash_form_still_verifies(
    audited: FileAuditLog, store: SQLiteStore
) -> None:
    key = f"audit_head:{audited.path.resolve()}"
    current = store.get_meta(key)
    head = lines(audited)[-1]
    store.set_meta(key, f"{head['seq']}:{head['hash']}", current)
    assert audited.verify().ok
    audited.append({"type": "notice", "message": "after"})
    assert audited.verify().ok


def test_a_deploy_refused_because_the_lock_is_held_is_audited(
    make_ctx: Any, tmp_path: Path, store: SQLiteStore
) -> None:
    from tests.conftest import BOB

    first = start_deploy(make_ctx(), make_plan("steps:\n  - setWeight: 10\n  - pause: {}\n"))
    with pytest.raises(LockedError) as refused:
        start_deploy(make_ctx(BOB), make_plan(PLAN))
    assert refused.value.exit_code == 6 and refused.value.rollout_id
    records = lines(FileAuditLog(tmp_path / "audit.jsonl"))
    mine = [r for r in records if r["rollout_id"] == refused.value.rollout_id]
    assert [r["type"] for r in mine if r["type"] != "phase_changed"] == [
        "rollout_created", "deploy_refused", "rollout_finished"
    ]
    assert mine[1]["reason"] == "locked" and first.record.id in mine[1]["message"]


def test_a_preflight_failure_records_the_lock_release_as_well_as_its_acquisition(
    make_ctx: Any, tmp_path: Path, metrics: FakeMetrics
) -> None:
    metrics.answer = None  # no data against the stable target: preflight refuses
    with pytest.raises(PreflightError) as failed:
        start_deploy(make_ctx(), make_plan(PLAN))
    records = lines(FileAuditLog(tmp_path / "audit.jsonl"))
    types = [r["type"] for r in records if r["rollout_id"] == failed.value.rollout_id]
    assert "lock_acquired" in types and "lock_released" in types
    assert types.index("lock_acquired") < types.index("lock_released")
