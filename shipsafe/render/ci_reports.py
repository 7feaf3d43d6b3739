"""What a CI job keeps of a rollout: a Markdown job summary and a JUnit XML file.

Both are built from the stored record, events and measurements alone (any process can write
them), and neither needs anything beyond the standard library.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipsafe.records import Event, EventType, Measurement, Phase, RolloutRecord

_OUTCOME = {
    Phase.SUCCEEDED: "promoted",
    Phase.ROLLED_BACK: "rolled back",
    Phase.ABORTED: "aborted (rolled back)",
    Phase.ROLLBACK_FAILED: "ROLLBACK FAILED",
    Phase.PAUSED: "paused",
    Phase.AWAITING_APPROVAL: "awaiting approval",
}


def outcome_words(phase: Phase) -> str:
    """The outcome the way a person says it: "promoted", "rolled back", ..."""
    return _OUTCOME.get(phase, phase.value.replace("_", " "))


@dataclass
class CheckSummary:
    """One check (a metric of a breaker or a step's analysis) over the whole rollout."""

    name: str
    runs: set[str] = field(default_factory=set)
    measured: int = 0
    failed: int = 0
    errors: int = 0
    values: list[float | None] = field(default_factory=list)
    condition: str = ""
    tripped: bool = False

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None


@dataclass
class StepSummary:
    number: int
    text: str
    started: datetime | None = None
    finished: datetime | None = None


@dataclass
class Facts:
    record: RolloutRecord
    steps: list[StepSummary]
    checks: dict[str, CheckSummary]
    cause: str


def gather(
    record: RolloutRecord, events: list[Event], measurements: list[Measurement]
) -> Facts:
    from shipsafe.engine.steps import rollout_steps
    from shipsafe.plan.models import plan_from_record
    from shipsafe.plan.steps import describe_step

    plan = plan_from_record(record.plan)
    steps = [
        StepSummary(i + 1, describe_step(step))
        for i, step in enumerate(rollout_steps(record, plan))
    ]
    checks: dict[str, CheckSummary] = {}
    conditions = {
        name: t.success_condition or t.failure_condition or ""
        for name, t in plan.analysis.items()
    }
    for m in measurements:
        check = checks.setdefault(m.metric, CheckSummary(m.metric))
        check.runs.add("breaker" if m.run == "breakers" else "step")
        check.measured += 1
        check.failed += m.phase.value == "failed"
        check.errors += m.phase.value == "error"
        check.values.append(m.value)
        check.condition = conditions.get(m.metric, "")
    by_step: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        number = e.data.get("step")
        if isinstance(number, int):
            by_step[number].append(e)
        if e.type == EventType.BREAKER_TRIPPED:
            metric = str(e.data.get("metric", ""))
            checks.setdefault(metric, CheckSummary(metric)).tripped = True
        elif e.type == EventType.ANALYSIS_COMPLETED and e.data.get("phase") in ("failed",
                                                                                  "error"):
            # a step's analysis that failed names the checks that failed it ("error-rate: ")
            for name, check in checks.items():
                if f"{name}: " in e.message:
                    check.tripped = True
    for step in steps:
        for e in by_step.get(step.number, []):
            if e.type == EventType.STEP_STARTED:
                step.started = e.time
            elif e.type == EventType.STEP_COMPLETED:
                step.finished = e.time
    cause = record.runtime.rollback_message if record.phase != Phase.SUCCEEDED else ""
    return Facts(record, steps, checks, cause)


def _shown(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def markdown(facts: Facts) -> str:
    r = facts.record
    mark = {Phase.SUCCEEDED: "✅", Phase.ROLLBACK_FAILED: "🚨"}.get(r.phase, "↩️")
    if r.phase.waiting_for_human:
        mark = "⏸️"
    lines = [
        f"### {mark} {r.service} {r.version} → {r.environment}: {outcome_words(r.phase)}",
        "",
        f"Rollout `{r.id}` by {r.actor.label()}, plan `sha256:{r.plan_digest[:12]}`.",
    ]
    if facts.cause:
        lines += ["", f"**Cause:** {facts.cause}"]
    lines += ["", "| step | | started | done |", "|---|---|---|---|"]
    for s in facts.steps:
        state = "✓" if s.finished else ("✗" if s.started and r.phase != Phase.SUCCEEDED else "")
        if s.started and not s.finished and not r.phase.terminal:
            state = "…"
        lines.append(
            f"| {s.number}. {s.text} | {state} | {_clock(s.started)} | {_clock(s.finished)} |"
        )
    if facts.checks:
        lines += ["", "| check | where | measured | failed | errors | last | condition |",
                  "|---|---|---|---|---|---|---|"]
        for c in facts.checks.values():
            name = f"**{c.name}** ⚡ stopped it" if c.tripped else c.name
            lines.append(
                f"| {name} | {', '.join(sorted(c.runs))} | {c.measured} | {c.failed} | "
                f"{c.errors} | {_shown(c.last)} | `{c.condition}` |"
            )
    lines += ["", f"`shipsafe status {r.id}` · `shipsafe report {r.id}`", ""]
    return "\n".join(lines)


def _clock(when: datetime | None) -> str:
    return "" if when is None else when.strftime("%H:%M:%SZ")


def junit(facts: Facts) -> str:
    """One testsuite for the rollout; a testcase per step and per check. A rollback fails
    the step it happened in and the check that tripped; steps never reached are skipped."""
    r = facts.record
    suite = ET.Element("testsuite", name=f"shipsafe {r.service} {r.version} {r.environment}")
    cases: list[ET.Element] = []
    failures = skipped = 0
    ended = r.phase != Phase.SUCCEEDED and r.phase.terminal
    failed_step = min(r.step_index + 1, len(facts.steps)) if ended else None
    for s in facts.steps:
        case = ET.Element("testcase", classname=f"{r.id}.steps", name=f"{s.number}. {s.text}")
        if s.started and s.finished:
            case.set("time", f"{(s.finished - s.started).total_seconds():.3f}")
        if s.number == failed_step and not s.finished:
            ET.SubElement(case, "failure", message=facts.cause or r.message).text = (
                f"{r.id}: {outcome_words(r.phase)} during step {s.number}"
            )
            failures += 1
        elif not s.finished:
            ET.SubElement(case, "skipped", message="not reached")
            skipped += 1
        cases.append(case)
    for c in facts.checks.values():
        case = ET.Element("testcase", classname=f"{r.id}.checks", name=c.name)
        detail = (
            f"{c.measured} measured, {c.failed} failed, {c.errors} errors, last "
            f"{_shown(c.last)} ({c.condition})"
        )
        if c.tripped:
            ET.SubElement(case, "failure", message=f"{c.name} stopped the rollout").text = detail
            failures += 1
        else:
            ET.SubElement(case, "system-out").text = detail
        cases.append(case)
    attrs: dict[str, Any] = {
        "tests": len(cases), "failures": failures, "errors": 0, "skipped": skipped,
        "timestamp": r.created_at.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    for key, value in attrs.items():
        suite.set(key, str(value))
    if r.finished_at is not None:
        suite.set("time", f"{(r.finished_at - r.created_at).total_seconds():.3f}")
    suite.extend(cases)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, "unicode") + "\n"
