"""Repairing a log that got ahead of its anchor, automatically at the next start or by a human
(`shipsafe audit repair`); every repair is itself an audit record.

A process killed between writing a record and moving the anchor leaves the log ahead of the
anchor. The records past it are accepted only if they chain from the anchored record *and*
each is an event the state store holds (events are written to the store first); the store's
events of those rollouts that the log lacks are then chained on, so the log is complete
again, and the anchor moves to the new head. Anything else (a log shorter than its anchor,
another log, a record past the anchor that the store never saw) needs a human: `shipsafe
audit repair --accept-current-log --reason TEXT` re-anchors a log whose own chain is intact,
and records who did it, why, and what the old anchor was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipsafe.audit.anchor import Anchor, event_key, missing_events, unmatched
from shipsafe.audit.chain import Verification, verify_records
from shipsafe.audit.event_record import event_record
from shipsafe.errors import AuditError, UsageError
from shipsafe.records import Event
from shipsafe.store.base import StateStore

REPAIRED = "audit_repaired"


@dataclass
class Repair:
    """What a repair appends before the anchor moves: events, then one audit_repaired record."""

    events: list[Event] = field(default_factory=list)
    note: dict[str, Any] = field(default_factory=dict)

    @property
    def needed(self) -> bool:
        return bool(self.note)


def plan_repair(
    records: list[dict[str, Any]],
    verification: Verification,
    anchor: Anchor | None,
    store: StateStore,
    actor: str,
    how: str,
    skip: tuple[str, str, str, str] | None = None,
    accept_current: str | None = None,
) -> Repair:
    """The repair of a log whose records and verification against `anchor` are given.
    `skip`: the event being appended right now (it follows the repair). `accept_current`: a
    human's reason to re-anchor a log that does not match its anchor. Raises AuditError."""
    if anchor is None or (verification.ok and verification.head_seq == anchor.seq):
        return Repair()
    chain_broken = [p for p in verification.problems if "state store anchored" not in p
                    and "is not the one the state store anchored" not in p]
    if chain_broken:
        raise AuditError(
            f"the audit chain itself is broken ({chain_broken[0]}): it cannot be re-anchored; "
            "keep it as evidence and start a new log (--audit-log)"
        )
    note: dict[str, Any] = {
        "how": how,
        "old_anchor": {"seq": anchor.seq, "hash": anchor.hash, "count": anchor.count},
        "head": verification.head_seq,
    }
    if not verification.ok:
        if not accept_current:
            raise AuditError(
                f"{verification.problems[0]}; if this log is the one to keep: shipsafe audit "
                "repair --accept-current-log --reason TEXT"
            )
        note["accepted_current_log"] = accept_current
        return Repair([], _note(note, actor, "re-anchored the current log: " + accept_current))
    past = [r for r in records if int(r.get("seq", 0)) > anchor.seq]
    rollouts = sorted({str(r["rollout_id"]) for r in past if r.get("rollout_id")})
    events: list[Event] = []
    stored: list[Event] = []
    for rollout_id in rollouts:
        try:
            stored += store.events(rollout_id)
        except UsageError:
            continue
    foreign = unmatched([r for r in past if r.get("type") != REPAIRED], stored)
    if foreign and not accept_current:
        raise AuditError(
            f"record {foreign[0]} past the anchor is not an event the state store holds "
            "(appended by something else?); inspect the log, then: shipsafe audit repair "
            "--accept-current-log --reason TEXT"
        )
    logged = [r for r in records if r.get("rollout_id") in rollouts]
    events = [e for e in missing_events(logged, stored) if skip is None or _key(e) != skip]
    note.update(
        accepted=[int(r.get("seq", 0)) for r in past],
        rechained=len(events),
        checked_against_store=not foreign,
    )
    if foreign:
        note["accepted_current_log"] = accept_current
    message = (
        f"{len(past)} record(s) past the anchor (record {anchor.seq}) matched the state store's "
        f"events; {len(events)} stored event(s) the log lacked were chained on"
    )
    return Repair(events, _note(note, actor, message))


def _key(event: Event) -> tuple[str, str, str, str]:
    return event_key(event_record(event))


def _note(data: dict[str, Any], actor: str, message: str) -> dict[str, Any]:
    return {
        "type": REPAIRED,
        "time": datetime.now(UTC).isoformat(),
        "actor": actor,
        "message": message,
        "data": data,
    }


def verify_list(records: list[dict[str, Any]], anchor: Anchor | None) -> Verification:
    """The chain and its anchor; the records past the anchor are the repair's to check (each
    must be an event the state store holds), signed or not."""
    return verify_records(((f"record {i + 1}", r) for i, r in enumerate(records)), anchor,
                          signed_tail=False)
