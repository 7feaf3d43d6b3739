"""What a report shows, gathered from the store alone: the canary weight as read back, every
check's readings with its thresholds (and a judge's confidence bounds when its measurements
carry them), the steps, approvals, the breaker that tripped, the moment traffic was restored,
the snapshot, the plan digest and the rollout's range in the audit log."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipsafe.records import (
    Approval,
    Event,
    EventType,
    Measurement,
    RolloutRecord,
    Snapshot,
)

_THRESHOLD = re.compile(r"result\s*(<=|<|>=|>|==)\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)")
_INTERVAL = re.compile(
    r"([A-Za-z][\w /]*?) in \[(-?[0-9.]+(?:[eE][-+]?[0-9]+)?), (-?[0-9.]+(?:[eE][-+]?[0-9]+)?)\]"
)


@dataclass
class Reading:
    time: datetime
    value: float | None
    phase: str
    run: str
    message: str
    interval: tuple[float, float] | None = None


@dataclass
class CheckSeries:
    name: str
    condition: str
    thresholds: list[tuple[str, float]]
    readings: list[Reading] = field(default_factory=list)
    effect: str = ""  # what a judge's bounds are about, when it has any

    @property
    def tripped(self) -> bool:
        return any(r.phase == "failed" for r in self.readings)


@dataclass
class Marker:
    time: datetime
    kind: str  # step | approval | breaker | rollback | restored | promoted
    label: str


@dataclass
class AuditRange:
    location: str
    count: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    first_hash: str = ""
    last_hash: str = ""


@dataclass
class ReportData:
    record: RolloutRecord
    weight: list[tuple[datetime, int]]
    checks: dict[str, CheckSeries]
    markers: list[Marker]
    events: list[Event]
    snapshot: Snapshot | None
    approvals: list[Approval]
    audit: AuditRange | None
    end: datetime


def thresholds(condition: str) -> list[tuple[str, float]]:
    return [(op, float(value)) for op, value in _THRESHOLD.findall(condition or "")]


def gather(
    record: RolloutRecord,
    events: list[Event],
    measurements: list[Measurement],
    snapshot: Snapshot | None,
    approvals: list[Approval],
    audit: AuditRange | None,
    now: datetime,
) -> ReportData:
    from shipsafe.plan.models import plan_from_record

    plan = plan_from_record(record.plan)
    checks: dict[str, CheckSeries] = {}
    for m in measurements:
        template = plan.analysis.get(m.metric)
        condition = ""
        if template is not None:
            condition = template.success_condition or template.failure_condition or ""
        series = checks.setdefault(m.metric, CheckSeries(m.metric, condition,
                                                         thresholds(condition)))
        reading = Reading(m.finished_at, m.value, m.phase.value, m.run, m.message)
        found = _INTERVAL.search(m.message or "")
        if found:
            series.effect = found.group(1).strip()
            reading.interval = (float(found.group(2)), float(found.group(3)))
        series.readings.append(reading)
    weight: list[tuple[datetime, int]] = [(record.created_at, 0)]
    markers: list[Marker] = []
    for e in events:
        if e.type == EventType.WEIGHT_VERIFIED and isinstance(e.data.get("weight"), int):
            weight.append((e.time, int(e.data["weight"])))
        elif e.type == EventType.STEP_STARTED:
            markers.append(Marker(e.time, "step", f"step {e.data.get('step', '?')}"))
        elif e.type == EventType.APPROVAL_ACCEPTED:
            markers.append(Marker(e.time, "approval", f"approved: {e.data.get('gate', '')}"))
        elif e.type == EventType.BREAKER_TRIPPED:
            markers.append(Marker(e.time, "breaker", f"breaker {e.data.get('metric')} tripped"))
        elif e.type == EventType.ANALYSIS_COMPLETED and e.data.get("phase") in ("failed",
                                                                                "error"):
            if e.data.get("run") != "breakers":  # a breaker's own failure is its trip
                markers.append(Marker(e.time, "failed", f"analysis {e.data.get('run')} "
                                      f"{e.data.get('phase')}"))
        elif e.type == EventType.ROLLBACK_STARTED:
            markers.append(Marker(e.time, "rollback", "rollback"))
        elif e.type == EventType.ROLLBACK_FINISHED:
            weight.append((e.time, 0))
            markers.append(Marker(e.time, "restored", "traffic restored"))
        elif e.type == EventType.ROLLOUT_FINISHED and e.data.get("phase") == "succeeded":
            markers.append(Marker(e.time, "promoted", "promoted"))
    times = [t for t, _ in weight] + [e.time for e in events]
    end = record.finished_at or (max(times) if times else now)
    return ReportData(record, weight, checks, markers, events, snapshot, approvals, audit,
                      max(end, max(times) if times else end))


def audit_range(log: Any, rollout_id: str) -> AuditRange:
    """The first and last record of this rollout in the audit log (sequence and hash)."""
    found = AuditRange(str(getattr(log, "location", getattr(log, "path", ""))))
    for _, rec in log.records():
        if not rec or rec.get("rollout_id") != rollout_id:
            continue
        found.count += 1
        if found.first_seq is None:
            found.first_seq, found.first_hash = int(rec.get("seq", 0)), str(rec.get("hash", ""))
        found.last_seq, found.last_hash = int(rec.get("seq", 0)), str(rec.get("hash", ""))
    return found


def to_json(data: ReportData) -> dict[str, Any]:
    """The series the plot draws, as data: embedded in the page (not executed)."""
    return {
        "rollout": data.record.id,
        "phase": data.record.phase.value,
        "weight": [[t.isoformat(), w] for t, w in data.weight],
        "checks": {
            name: {
                "condition": c.condition,
                "thresholds": c.thresholds,
                "readings": [
                    [r.time.isoformat(), r.value, r.phase, r.run]
                    + ([list(r.interval)] if r.interval else [])
                    for r in c.readings
                ],
            }
            for name, c in data.checks.items()
        },
        "markers": [[m.time.isoformat(), m.kind, m.label] for m in data.markers],
    }
