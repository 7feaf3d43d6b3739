"""The audit witness: every chained record's (log, seq, hash, rollout) is also appended to a
file the deploying user may append to but never rewrite, so a rewritten, re-chained, cut or
hidden audit log is caught by comparing the two (`shipsafe audit verify`).

The trust root names the witness (`document.auditWitness`), so a deploying process cannot
choose or skip it. Root prepares it once (everyone may read and append it; with +a nobody
may truncate, rewrite, rename or delete it until root removes the attribute):

    install -m 0666 -o root -g root /dev/null /var/lib/shipsafe/witness.log
    chattr +a /var/lib/shipsafe/witness.log     # append-only: ext2/3/4, xfs, btrfs; not tmpfs

shipsafe refuses a witness that is not append-only (FS_APPEND_FL) or not owned by root: on a
filesystem without the attribute (tmpfs, most network filesystems) it is no witness.

Where AWS is used the witness is an S3 bucket with Object Lock (shipsafe.audit.s3_witness);
both pass the same contract (AuditWitness, tests/contract/witness_contract.py).
"""

from __future__ import annotations

import array
import fcntl
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shipsafe.errors import AuditError, ConfigurationError
from shipsafe.records import canonical_json

FS_IOC_GETFLAGS = 0x80086601
FS_APPEND_FL = 0x00000020


def append_only(path: Path) -> bool:
    """Whether the file carries the append-only attribute (chattr +a)."""
    fd = -1
    for mode in (os.O_RDONLY, os.O_WRONLY | os.O_APPEND):  # whichever this user may open
        try:
            fd = os.open(path, mode)
            break
        except OSError:
            continue
    if fd < 0:
        return False
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
    except OSError:  # the filesystem has no such attributes (tmpfs, ...)
        return False
    finally:
        os.close(fd)
    return bool(flags[0] & FS_APPEND_FL)


def unprotected(path: Path) -> str | None:
    """Why PATH is no witness, or None."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"audit witness {path}: {exc.strerror or exc}"
    if info.st_uid != 0:
        return f"audit witness {path} is not owned by root"
    if not append_only(path):
        return (f"audit witness {path} is not append-only (chattr +a; ext4/xfs/btrfs support "
                "it, tmpfs does not): the deploying user could rewrite it")
    return None


class AuditWitness(Protocol):
    """Where every chained audit record is also written, out of the deploying user's reach:
    an append-only file (FileWitness) or an S3 bucket with Object Lock in compliance mode
    (shipsafe.audit.s3_witness.S3Witness). Named by the trust root, never by the deployer."""

    @property
    def url(self) -> str: ...

    def check(self) -> None:
        """Before a deploy changes anything: ConfigurationError (exit 2) unless this is a
        witness the deploying user cannot rewrite."""
        ...

    def put(self, log: str | Path, record: dict[str, Any]) -> None:
        """Witness one chained record of `log`; AuditError when it cannot."""
        ...

    def entries(self) -> list[dict[str, Any]]:
        """Every witnessed entry (witness_entry's shape), oldest first per log."""
        ...

    def problems(self) -> list[str]:
        """Why this is no witness, or what someone tried to do to it (verify fails on any)."""
        ...


def log_id(log: str | Path) -> str:
    """How a witness names a log: a file by its absolute path, a store's chain by its URL."""
    return str(log.resolve()) if isinstance(log, Path) else log


def witness_entry(log: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """What a witness keeps of a chained record: enough to find it missing or rewritten,
    and what the freeze after a rollback needs."""
    return {
        "log": log_id(log),
        "seq": record.get("seq"),
        "hash": record.get("hash"),
        "rollout_id": record.get("rollout_id"),
        "type": record.get("type"),
        "time": record.get("time"),
        # which environment a rollout deploys to: the freeze after a rollback is read
        # from here too, so a phase edited in the store does not lift it
        **({"environment": (record.get("data") or {}).get("environment")}
           if record.get("type") == "rollout_created" else {}),
        **({"reason": record.get("reason")}
           if record.get("type") == "rollback_started" else {}),
        # a data snapshot's record, by digest: a keyless deploy's record (no signature) is
        # checked against it before cutover and migrations (engine/data.py)
        **({"snapshot": (record.get("data") or {}).get("name"),
            "snapshot_sha256": (record.get("data") or {}).get("record_sha256")}
           if record.get("type") == "data_snapshot_taken" else {}),
    }


class FileWitness:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def url(self) -> str:
        return str(self.path)

    def check(self) -> None:
        """Before a deploy changes anything: the witness must be a witness."""
        why = unprotected(self.path)
        if why is not None:
            raise ConfigurationError(why)

    def problems(self) -> list[str]:
        why = unprotected(self.path)
        return [] if why is None else [why]

    def put(self, log: str | Path, record: dict[str, Any]) -> None:
        line = canonical_json(witness_entry(log, record)) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise AuditError(f"cannot append to the audit witness {self.path}: {exc}") from exc

    def entries(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AuditError(f"cannot read the audit witness {self.path}: {exc}") from exc
        out = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out


def rollbacks(entries: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(rollout, environment, finished at or None while it runs) for every witnessed
    rollback: what the freeze after a rollback needs, from where the agent cannot edit."""
    environment = {
        str(e.get("rollout_id")): str(e.get("environment"))
        for e in entries if e.get("type") == "rollout_created" and e.get("environment")
    }
    started: dict[str, str | None] = {}
    for entry in entries:
        rid = str(entry.get("rollout_id"))
        if entry.get("type") == "rollback_started" and entry.get("reason") != "manual_abort":
            started.setdefault(rid, None)  # an abort ends `aborted`: no freeze, as in the store
        elif entry.get("type") == "rollback_finished" and rid in started:
            started[rid] = str(entry.get("time"))
    return [(rid, environment[rid], done) for rid, done in started.items() if rid in environment]


@dataclass
class Comparison:
    problems: list[str] = field(default_factory=list)
    logs: dict[str, set[str]] = field(default_factory=dict)  # log -> rollouts witnessed


def compare(
    entries: list[dict[str, Any]],
    read_log: Any,
) -> Comparison:
    """Every witnessed record must be in its log with the same hash, and every record of a
    witnessed log must be witnessed. read_log(path) -> iterable of records (dicts), raising
    AuditError when the log cannot be read."""
    result = Comparison()
    by_log: dict[str, dict[int, dict[str, Any]]] = {}
    for entry in entries:
        if isinstance(entry.get("seq"), int):
            by_log.setdefault(str(entry.get("log")), {})[entry["seq"]] = entry
    for log, witnessed in sorted(by_log.items()):
        rollouts = {str(e.get("rollout_id")) for e in witnessed.values()} - {"-", "None"}
        result.logs[log] = rollouts
        try:
            records = {r.get("seq"): r for r in _dicts(read_log(log))}
        except AuditError as exc:
            result.problems.append(
                f"{exc}: the witness lists {len(witnessed)} records of it (rollouts "
                f"{', '.join(sorted(rollouts)) or '-'})"
            )
            continue
        for seq, entry in sorted(witnessed.items()):
            record = records.get(seq)
            if record is None:
                result.problems.append(
                    f"{log}: record {seq} (rollout {entry.get('rollout_id')}, "
                    f"{entry.get('type')}) is in the witness and missing from the log"
                )
            elif record.get("hash") != entry.get("hash"):
                result.problems.append(
                    f"{log}: record {seq} differs from the witness (witnessed: rollout "
                    f"{entry.get('rollout_id')}, {entry.get('type')}): the log was rewritten"
                )
        first = min(witnessed)  # records from before the witness was set up are not its
        for seq, record in sorted((s, r) for s, r in records.items() if isinstance(s, int)):
            if seq > first and seq not in witnessed:
                result.problems.append(
                    f"{log}: record {seq} (rollout {record.get('rollout_id')}) is in the log "
                    "and missing from the witness"
                )
    return result


def _dicts(records: Iterable[Any]) -> Iterable[dict[str, Any]]:
    return (r for r in records if isinstance(r, dict))


def unwitnessed(
    log: str, records: Iterable[Any], entries: list[dict[str, Any]], since: str
) -> str | None:
    """A log the witness holds nothing of, though it has records written since the trust
    root named the witness (`since`, ISO time): they went elsewhere - another endpoint or
    credentials (the deploying process chooses those), or a witness that was switched off -
    so nothing vouches for them. compare() only sees logs the witness lists."""
    if any(str(e.get("log")) == log for e in entries):
        return None
    try:
        start = _when(since)
    except ValueError:
        return None
    late = 0
    for record in _dicts(records):
        try:
            late += _when(str(record.get("time"))) >= start
        except ValueError:
            continue
    if not late:
        return None
    return (f"{log}: {late} record(s) written since the trust root of {since} and none of "
            "them in the witness (written with another AWS endpoint or credentials, or "
            "without the witness)")


def _when(text: str) -> Any:
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
