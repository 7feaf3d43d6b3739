"""The anchor: what the state store remembers of the audit log, so a log cut short, replaced or
deleted does not verify.

    Anchor(seq, hash, count)   the head record's number and hash, and how many records the
                               log held when the head was written (stored as JSON; the older
                               "seq:hash" form is read with count = seq)

`check` compares a log's records with its anchor:

    shorter than the anchor                      cut off (or replaced): broken
    the anchored record differs / is missing     replaced or rewritten: broken
    longer, and the extra records chain from     the log got ahead of its anchor (a process
      the anchored record and each is signed     killed between the write and the anchor
      by a key the trust root lists              update): intact, said in a note
    longer, and an extra record is unsigned      nothing vouches for it (a keyless writer
      (or signed by a key the root does not      killed before it moved the anchor, or a
      list)                                      record appended by something else): broken,
                                                 until `shipsafe audit repair` re-chains the
                                                 tail from the store's events

`ahead` and `missing_events` serve the repair (shipsafe.audit.repair): records past the anchor
are accepted only when each is an event the state store holds (the store is written first).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipsafe.audit.event_record import event_record
from shipsafe.records import Event

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRoot

REPAIR_HINT = (
    "shipsafe audit repair re-chains them from the state store's event records (and is "
    "itself audited)"
)


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    count: int

    def dump(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "count": self.count},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """The stored form; ValueError when it is neither JSON nor the older seq:hash."""
        if text.startswith("{"):
            data = json.loads(text)
            return cls(int(data["seq"]), str(data["hash"]), int(data["count"]))
        seq, _, digest = text.partition(":")
        return cls(int(seq), digest, int(seq))

    @classmethod
    def of(cls, value: Anchor | tuple[int, str]) -> Anchor:
        return value if isinstance(value, Anchor) else cls(value[0], value[1], value[0])

    def label(self) -> str:
        return f"record {self.seq} ({self.hash[:16]}), {self.count} records"


def check(
    anchor: Anchor,
    head_seq: int,
    count: int,
    hash_at: dict[int, str],
) -> tuple[list[str], list[str]]:
    """(problems, notes) of a log whose chain was walked: its head, its record count and the
    hash of every sequence number."""
    problems: list[str] = []
    notes: list[str] = []
    if head_seq < anchor.seq or count < anchor.count:
        problems.append(
            f"the log ends at record {head_seq} ({count} records) but the state store anchored "
            f"{anchor.label()}: records were cut off the end, or the log was replaced"
        )
        return problems, notes
    seen = hash_at.get(anchor.seq)
    if seen != anchor.hash:
        problems.append(
            f"record {anchor.seq} is not the one the state store anchored ({anchor.hash[:16]}"
            f", found {str(seen)[:16]}): the log was replaced or rewritten"
        )
        return problems, notes
    return problems, notes


def check_tail(
    anchor: Anchor, tail: list[dict[str, Any]], root: TrustRoot | None
) -> tuple[list[str], list[str]]:
    """(problems, notes) of the records past the anchor, which chain from it: each must be
    signed by a key the trust root lists, or nothing vouches for it."""
    from shipsafe.audit.signature import signer_of

    signers = [signer_of(root, r) for r in tail]
    unsigned = [int(r.get("seq", 0)) for r, k in zip(tail, signers, strict=True) if k is None]
    if unsigned:
        why = (
            "no trust root is configured, so no record is signed"
            if root is None
            else "unsigned, or signed by a key the trust root does not list"
        )
        return [
            f"{len(unsigned)} of {len(tail)} record(s) past the anchor (record {anchor.seq}) "
            f"are not signed by the writer (first: record {unsigned[0]}; {why}): a keyless "
            "writer killed before it moved the anchor, or records appended by something "
            f"else; {REPAIR_HINT}"
        ], []
    who = sorted({k.identity for k in signers if k is not None})
    return [], [
        f"{len(tail)} record(s) past the anchor (record {anchor.seq}) chain from it and are "
        f"signed by {', '.join(who)}; the next start re-anchors them, or: shipsafe audit repair"
    ]


def event_key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    """What identifies an event in the audit log and in the store alike."""
    return (
        str(record.get("rollout_id", "")),
        str(record.get("type", "")),
        str(record.get("time", "")),
        str(record.get("message", "")),
    )


def unmatched(records: Iterable[dict[str, Any]], events: Sequence[Event]) -> list[int]:
    """Sequence numbers of the records that are not among the store's events."""
    known = {event_key(event_record(e)) for e in events}
    return [int(r.get("seq", 0)) for r in records if event_key(r) not in known]


def missing_events(logged: Iterable[dict[str, Any]], events: Sequence[Event]) -> list[Event]:
    """The store's events (in order) that the log lacks: written to the store, then the
    process died (or the audit log failed) before the log had them."""
    have = {event_key(r) for r in logged}
    return [e for e in events if event_key(event_record(e)) not in have]
