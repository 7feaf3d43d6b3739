"""The evidence rule, in one place.

No weight goes up, and nothing promotes, without at least one successful measurement of
every required check taken while the canary held the current weight: after that weight was
read back, and after the check's `initialDelay` counted from that moment (with
`consecutiveSuccessLimit`, that many successes in a row). Required checks: every breaker
once breakers have started, and the templates of every analysis step run at this weight;
`dryRun` templates are never required and never count. A human may accept an analysis step
without evidence (`promote` on an inconclusive or running analysis); that is recorded as a
waiver naming the human. Breakers are never waived.

The engine asks `missing()` before every traffic increase and before promote, and
`RolloutEngine.set_weight` refuses an increase it answers non-empty (a bug, not a plan error).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shipsafe.plan.models import Plan
from shipsafe.records import MeasurementPhase, WeightEvidence


def at_weight(weight: int, read_back_at: datetime, plan: Plan, breakers: bool) -> WeightEvidence:
    """Fresh evidence for a weight just read back; `breakers`: the breakers are running."""
    required = breaker_checks(plan) if breakers else []
    return WeightEvidence(weight=weight, read_back_at=read_back_at, required=required)


def breaker_checks(plan: Plan) -> list[str]:
    return [b.analysis for b in plan.breakers if not plan.analysis[b.analysis].dry_run]


def require(evidence: WeightEvidence, plan: Plan, names: list[str]) -> WeightEvidence:
    """An analysis step starts at this weight: its (non-dryRun) templates become required."""
    out = evidence.model_copy(deep=True)
    for name in names:
        if not plan.analysis[name].dry_run and name not in out.required:
            out.required.append(name)
    return out


def record(
    evidence: WeightEvidence,
    plan: Plan,
    name: str,
    phase: MeasurementPhase,
    finished_at: datetime,
) -> WeightEvidence:
    """Count one measurement of `name` towards this weight's evidence (returns a new one)."""
    template = plan.analysis[name]
    counts_from = evidence.read_back_at + timedelta(seconds=template.initial_delay)
    if template.dry_run or finished_at < counts_from:
        return evidence
    out = evidence.model_copy(deep=True)
    if phase is not MeasurementPhase.SUCCESSFUL:
        out.streak[name] = 0
        return out
    out.streak[name] = out.streak.get(name, 0) + 1
    if out.streak[name] >= (template.consecutive_success_limit or 1):
        out.succeeded.setdefault(name, finished_at)
    return out


def waive(evidence: WeightEvidence, plan: Plan, names: list[str], who: str) -> WeightEvidence:
    """A human accepted these step analyses without evidence; breakers are never waived."""
    out = evidence.model_copy(deep=True)
    never = set(breaker_checks(plan))
    for name in names:
        if name not in never and name not in out.succeeded:
            out.waived[name] = who
    return out


def missing(evidence: WeightEvidence | None) -> list[str]:
    """Required checks with no counted success (nor waiver) at the current weight."""
    if evidence is None:
        return ["(no weight read back yet)"]
    return [
        name
        for name in evidence.required
        if name not in evidence.succeeded and name not in evidence.waived
    ]


def describe(evidence: WeightEvidence, plan: Plan) -> str:
    """`error-rate (after 10s), latency` - what is still awaited, for messages."""
    parts = []
    for name in missing(evidence):
        delay = plan.analysis[name].initial_delay
        parts.append(f"{name} (counted from {delay:g}s after read-back)" if delay else name)
    return ", ".join(parts)
