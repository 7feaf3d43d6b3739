"""Analysis as data plus pure functions (Argo Rollouts' semantics).

A measurement gets a phase from the template's conditions; each metric keeps counters;
`assess_metric` turns counters into a phase and a message such as
`failed (2) > failureLimit (1)`; a run's phase is the worst of its metrics.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from shipsafe import conditions
from shipsafe.plan.analysis import AnalysisTemplate
from shipsafe.plan.models import render_args, render_query
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.records import (
    ANALYSIS_PHASE_ORDER,
    AnalysisPhase,
    AnalysisRunState,
    MeasurementPhase,
    MetricState,
)

STEP = "step"
BREAKER = "breaker"


def new_run(
    run_id: str,
    kind: str,
    names: list[str],
    templates: dict[str, AnalysisTemplate],
    now: datetime,
    warmup: float = 0.0,
) -> AnalysisRunState:
    """A run whose metrics are first due after their initialDelay (or `warmup`, if longer)."""
    return AnalysisRunState(
        id=run_id,
        kind=kind,
        templates=list(names),
        started_at=now,
        metrics={
            name: MetricState(
                name=name,
                phase=AnalysisPhase.RUNNING,
                next_due=now + timedelta(seconds=max(warmup, templates[name].initial_delay)),
            )
            for name in names
        },
    )


def query_for(template: AnalysisTemplate, variables: dict[str, str]) -> MetricQuery:
    """The query a template sends: plan variables filled into its text and its args. A
    built-in check asks the router's counters about whoever `{{canary}}` names (the stable
    target in preflight and blue's health check)."""
    if template.builtin is not None:
        return MetricQuery(
            text=template.builtin,
            window_seconds=template.effective_window,
            args={"subject": variables["canary"]},
        )
    if template.query is None:
        raise ValueError("a judge check sends range queries (shipsafe.engine.judging)")
    return MetricQuery(
        text=render_query(template.query, variables),
        window_seconds=template.effective_window,
        args=render_args(dict(template.args), variables),
    )


def judge(
    template: AnalysisTemplate,
    value: float | None,
    context: dict[str, dict[str, float]] | None = None,
) -> tuple[MeasurementPhase, str]:
    """The phase of one measurement. No data is never success; a reading that is not a
    finite number (NaN, +Inf, -Inf: a ratio over a canary with no requests) is failed, and so
    is a condition that cannot be evaluated (it raised, or met a NaN of its own making).
    `context`: the canary and stable readings of a built-in check, for conditions that
    compare them."""
    if value is None:
        if template.no_data == "inconclusive":
            return MeasurementPhase.INCONCLUSIVE, "no data"
        return MeasurementPhase.FAILED, "no data (noData: fail)"
    if not math.isfinite(value):
        return MeasurementPhase.FAILED, f"the reading {value} is not a finite number"
    try:
        failed = (
            conditions.evaluate(template.failure_condition, value, context)
            if template.failure_condition
            else None
        )
        succeeded = (
            conditions.evaluate(template.success_condition, value, context)
            if template.success_condition
            else None
        )
    except conditions.ConditionError as exc:
        return MeasurementPhase.FAILED, f"{exc} (counted as failed)"
    shown = f"{value:.6g}"
    if failed:
        return (
            MeasurementPhase.FAILED,
            f"{shown} meets failureCondition {template.failure_condition}",
        )
    if succeeded is None:  # only a failure condition, and it did not hold
        return MeasurementPhase.SUCCESSFUL, f"{shown} does not meet {template.failure_condition}"
    if succeeded:
        return MeasurementPhase.SUCCESSFUL, f"{shown} meets {template.success_condition}"
    if failed is None:  # only a success condition, and it did not hold
        return MeasurementPhase.FAILED, f"{shown} does not meet {template.success_condition}"
    # both given, neither held
    return MeasurementPhase.INCONCLUSIVE, f"{shown} meets neither condition"


def record_measurement(
    state: MetricState,
    template: AnalysisTemplate,
    phase: MeasurementPhase,
    value: float | None,
    message: str,
    now: datetime,
) -> MetricState:
    """Counters after one more measurement (returns a new state)."""
    s = state.model_copy(deep=True)
    s.measured += 1
    s.last_value = value
    s.message = message
    s.consecutive_success = s.consecutive_success + 1 if phase is MeasurementPhase.SUCCESSFUL else 0
    if phase is MeasurementPhase.ERROR:
        s.error += 1
        s.consecutive_error += 1
        # retried soon (Argo's error interval): a dead source must not wait a long interval
        s.next_due = now + timedelta(seconds=template.next_after_error)
        return s
    s.consecutive_error = 0
    if phase is MeasurementPhase.SUCCESSFUL:
        s.successful += 1
    elif phase is MeasurementPhase.FAILED:
        s.failed += 1
    else:
        s.inconclusive += 1
    s.next_due = now + timedelta(seconds=template.effective_interval)
    return s


def assess_metric(
    template: AnalysisTemplate, state: MetricState, continuous: bool
) -> tuple[AnalysisPhase, str]:
    """The metric's phase from its counters. Breakers (`continuous`) never complete."""
    if state.failed > template.failure_limit:
        return AnalysisPhase.FAILED, (
            f"failed ({state.failed}) > failureLimit ({template.failure_limit}); last: "
            f"{state.message}"
        )
    if state.consecutive_error > template.consecutive_error_limit:
        return AnalysisPhase.ERROR, (
            f"consecutiveErrors ({state.consecutive_error}) > consecutiveErrorLimit "
            f"({template.consecutive_error_limit}); last: {state.message}"
        )
    if state.inconclusive > template.inconclusive_limit:
        return AnalysisPhase.INCONCLUSIVE, (
            f"inconclusive ({state.inconclusive}) > inconclusiveLimit "
            f"({template.inconclusive_limit}); last: {state.message}"
        )
    if continuous:
        return AnalysisPhase.RUNNING, state.message
    taken = state.measured - state.error
    in_a_row = template.consecutive_success_limit
    if in_a_row is not None:
        if state.consecutive_success >= in_a_row:
            return AnalysisPhase.SUCCESSFUL, (
                f"{state.consecutive_success} successful in a row (consecutiveSuccessLimit "
                f"{in_a_row}); {state.successful} of {state.measured} successful"
            )
        if template.count is not None and taken >= template.count:
            return AnalysisPhase.INCONCLUSIVE, (
                f"count ({template.count}) reached without {in_a_row} successes in a row "
                f"(consecutiveSuccessLimit); last: {state.message}"
            )
        return AnalysisPhase.RUNNING, state.message
    if taken >= template.step_count:
        if state.successful == 0:  # the evidence rule: never passes on no success
            return AnalysisPhase.FAILED, (
                f"0 of {state.measured} measurements successful: no evidence; last: "
                f"{state.message}"
            )
        return AnalysisPhase.SUCCESSFUL, (
            f"{state.successful} of {state.measured} measurements successful"
        )
    return AnalysisPhase.RUNNING, state.message


def assess_run(run: AnalysisRunState, templates: dict[str, AnalysisTemplate]) -> AnalysisRunState:
    """Assess every metric; the run's phase is the worst of them by ANALYSIS_PHASE_ORDER."""
    out = run.model_copy(deep=True)
    continuous = run.kind == BREAKER
    for name, state in out.metrics.items():
        phase, message = assess_metric(templates[name], state, continuous)
        state.phase = phase
        if phase.completed:
            state.message = message
            # a breaker keeps measuring while a human looks at an inconclusive result: it
            # may still fail, and that must roll back; a dryRun breaker measures on
            keeps_measuring = continuous and (
                phase == AnalysisPhase.INCONCLUSIVE or templates[name].dry_run
            )
            if not keeps_measuring:
                state.next_due = None
    acting = [m for m in out.metrics.values() if not templates[m.name].dry_run]
    if acting:
        worst = min((m.phase for m in acting), key=ANALYSIS_PHASE_ORDER.index)
    else:  # only dryRun metrics: done once each has finished, whatever they say
        done = not continuous and all(m.phase.completed for m in out.metrics.values())
        worst = AnalysisPhase.SUCCESSFUL if done else AnalysisPhase.RUNNING
    out.phase = worst
    if worst == AnalysisPhase.SUCCESSFUL:  # every metric passed: say so for each
        shown = acting or list(out.metrics.values())
        out.message = "; ".join(f"{m.name}: {m.message}" for m in shown)
    else:  # the metric that decided it
        found = culprit(out, templates)
        out.message = f"{found.name}: {found.message}" if found else ""
    return out


def culprit(run: AnalysisRunState, templates: dict[str, AnalysisTemplate]) -> MetricState | None:
    """The (non-dryRun) metric whose phase is the run's."""
    return next(
        (
            m
            for m in run.metrics.values()
            if m.phase == run.phase and not templates[m.name].dry_run
        ),
        None,
    )


def due_metrics(run: AnalysisRunState, now: datetime) -> list[str]:
    return [name for name, m in run.metrics.items() if m.next_due is not None and m.next_due <= now]


def next_due(run: AnalysisRunState | None) -> datetime | None:
    if run is None:
        return None
    times = [m.next_due for m in run.metrics.values() if m.next_due is not None]
    return min(times, default=None)


def reset_inconclusive(run: AnalysisRunState, now: datetime) -> AnalysisRunState:
    """After a human accepted an inconclusive result: count afresh, keep measuring."""
    out = run.model_copy(deep=True)
    for m in out.metrics.values():
        if m.phase == AnalysisPhase.INCONCLUSIVE:
            m.inconclusive = 0
            m.phase = AnalysisPhase.RUNNING
            m.next_due = m.next_due or now
    out.phase = AnalysisPhase.RUNNING
    out.message = ""
    return out
