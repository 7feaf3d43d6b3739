"""Records past the audit anchor must be signed by the writer (issue 9 item 6): a writer whose
key the trust root lists signs every record it chains; `audit verify` accepts a tail past the
anchor only when every extra record chains from it and is signed by such a key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipsafe.audit.anchor import Anchor
from shipsafe.audit.chain import chain, record_hash
from shipsafe.audit.file import FileAuditLog
from shipsafe.audit.signature import signer_of
from shipsafe.cli.app import app
from shipsafe.records import Event, EventType
from shipsafe.store.sqlite import SQLiteStore
from shipsafe.trust.keys import load_private
from shipsafe.trust.proofs import KeyProofs
from shipsafe.trust.root import TrustRoot, read_root
from tests.support.trust_root import PERMISSIVE, ensure_keys, write_trust_root

PEOPLE = {"alice": ("human", []), "robot": ("agent", [])}


@pytest.fixture
def root(tmp_path: Path) -> TrustRoot:
    ensure_keys(tmp_path / "keys", ["mallory"])  # a key the root does not list
    return read_root(write_trust_root(tmp_path, PERMISSIVE, PEOPLE), check_modes=False)


def proofs(tmp_path: Path, root: TrustRoot | None, name: str) -> KeyProofs:
    return KeyProofs(root, load_private(tmp_path / "keys" / f"{name}.key"))


def lines(log: FileAuditLog) -> list[dict[str, Any]]:
    return [json.loads(x) for x in log.path.read_text().splitlines()]


@pytest.fixture
def anchored(tmp_path: Path, store: SQLiteStore, root: TrustRoot) -> FileAuditLog:
    """A log of three records written by alice, its head anchored in the store."""
    log = FileAuditLog(tmp_path / "audit.jsonl", store, signer=proofs(tmp_path, root, "alice"))
    for i in range(3):
        log.append({"type": "notice", "rollout_id": "r1", "message": f"record {i}"})
    assert log.verify(root).ok
    return log


def ahead(log: FileAuditLog, records: list[dict[str, Any]], signer: Any = None) -> None:
    """Append chained records without moving the anchor (a process killed between the
    write and the anchor update, or something else appending)."""
    last = lines(log)[-1]
    seq, prev = last["seq"], last["hash"]
    with log.path.open("a") as fh:
        for body in records:
            rec = chain(body, seq, prev, signer)
            seq, prev = rec["seq"], rec["hash"]
            fh.write(json.dumps(rec, sort_keys=True) + "\n")


def test_a_writer_whose_key_the_root_lists_signs_every_record_without_secrets(
    anchored: FileAuditLog, root: TrustRoot, tmp_path: Path
) -> None:
    records = lines(anchored)
    assert [signer_of(root, r).identity for r in records] == ["alice"] * 3  # type: ignore[union-attr]
    private = (tmp_path / "keys" / "alice.key").read_text()
    body = "".join(private.splitlines()[1:-1])
    text = anchored.path.read_text()
    assert body[:40] not in text and "PRIVATE" not in text
    assert set(records[0]["proof"]) == {"payload", "signature"}
    assert set(records[0]["proof"]["payload"]) == {"purpose", "key_id", "digest"}


def test_a_keyless_writer_writes_records_without_a_proof(tmp_path: Path) -> None:
    log = FileAuditLog(tmp_path / "plain.jsonl", signer=KeyProofs(None, None))
    written = log.append({"type": "notice", "message": "no key"})
    assert "proof" not in written and log.verify().ok


def test_removing_a_records_signature_breaks_the_chain(
    anchored: FileAuditLog, root: TrustRoot
) -> None:
    records = lines(anchored)
    del records[1]["proof"]
    anchored.path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = anchored.verify(root)
    assert not result.ok and "record 2 was altered" in result.problems[0]


def test_a_tail_past_the_anchor_signed_by_the_writer_verifies_and_names_the_signer(
    anchored: FileAuditLog, root: TrustRoot, tmp_path: Path
) -> None:
    ahead(anchored, [{"type": "notice", "rollout_id": "r1", "message": "then killed"}],
          proofs(tmp_path, root, "alice"))
    result = anchored.verify(root)
    assert result.ok, result.problems
    assert "1 record(s) past the anchor (record 3)" in result.notes[0]
    assert "signed by alice" in result.notes[0]


def test_an_unsigned_tail_past_the_anchor_fails_verify_naming_audit_repair(
    anchored: FileAuditLog, root: TrustRoot
) -> None:
    ahead(anchored, [{"type": "notice", "rollout_id": "r1", "message": "keyless, killed"}])
    result = anchored.verify(root)
    assert not result.ok
    assert "not signed by the writer (first: record 4" in result.problems[0]
    assert "shipsafe audit repair" in result.problems[0]


def test_a_tail_with_one_unsigned_record_after_signed_ones_fails_verify(
    anchored: FileAuditLog, root: TrustRoot, tmp_path: Path
) -> None:
    alice = proofs(tmp_path, root, "alice")
    ahead(anchored, [{"type": "notice", "message": "signed"}], alice)
    ahead(anchored, [{"type": "notice", "message": "appended, unsigned"}])
    result = anchored.verify(root)
    assert not result.ok and "1 of 2 record(s)" in result.problems[0]
    assert "first: record 5" in result.problems[0]


def test_a_tail_signed_by_a_key_the_root_does_not_list_fails_verify(
    anchored: FileAuditLog, root: TrustRoot, tmp_path: Path
) -> None:
    # mallory signs with a key of her own: the proof verifies under that key, which the
    # trust root does not list
    mallory = proofs(tmp_path, None, "mallory")
    ahead(anchored, [{"type": "notice", "message": "self-signed"}], mallory)
    assert lines(anchored)[-1]["proof"]["signature"]
    result = anchored.verify(root)
    assert not result.ok and "not signed by the writer" in result.problems[0]


def test_a_signature_lifted_from_another_record_does_not_count(
    anchored: FileAuditLog, root: TrustRoot
) -> None:
    genuine = lines(anchored)[0]["proof"]
    last = lines(anchored)[-1]
    forged = {"type": "notice", "message": "forged", "seq": last["seq"] + 1,
              "prev": last["hash"], "proof": genuine}
    forged["hash"] = record_hash(forged)
    with anchored.path.open("a") as fh:
        fh.write(json.dumps(forged) + "\n")
    result = anchored.verify(root)
    assert not result.ok and "not signed by the writer" in result.problems[0]


def test_without_a_trust_root_any_tail_past_the_anchor_fails_verify(
    anchored: FileAuditLog, root: TrustRoot, tmp_path: Path
) -> None:
    ahead(anchored, [{"type": "notice", "message": "x"}], proofs(tmp_path, root, "alice"))
    result = anchored.verify(None)
    assert not result.ok and "no trust root is configured" in result.problems[0]


def test_audit_repair_re_anchors_an_unsigned_tail_and_signs_its_own_records(
    tmp_path: Path, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.trust_root import permissive_trust_root

    trust = permissive_trust_root(tmp_path / "site", monkeypatch, key="bob")
    root = read_root(trust, check_modes=False)
    log = FileAuditLog(tmp_path / "audit.jsonl", store)  # a keyless writer
    event = store.append_event(Event(rollout_id="r9", type=EventType.NOTICE,
                                     time="2026-12-01T00:00:00+00:00", message="first"))
    from shipsafe.audit.event_record import event_record

    log.append(event_record(event))
    killed = store.append_event(Event(rollout_id="r9", type=EventType.NOTICE,
                                      time="2026-12-01T00:00:01+00:00", message="killed"))
    FileAuditLog(log.path).append(event_record(killed))  # written; the anchor never moved
    args = ["--state", str(tmp_path / "state.db"), "--audit-log", str(log.path)]
    refused = CliRunner().invoke(app, ["audit", "verify", *args])
    assert refused.exit_code == 5, refused.output
    assert "shipsafe audit repair" in refused.output
    done = CliRunner().invoke(app, ["audit", "repair", *args])
    assert done.exit_code == 0, done.output
    repaired = lines(log)[-1]
    assert repaired["type"] == "audit_repaired" and repaired["data"]["accepted"] == [2]
    assert signer_of(root, repaired).identity == "bob"  # type: ignore[union-attr]
    text = store.get_meta(f"audit_head:{log.path.resolve()}")
    assert text is not None and Anchor.parse(text).seq == repaired["seq"]
    verified = CliRunner().invoke(app, ["audit", "verify", *args])
    assert verified.exit_code == 0, verified.output
