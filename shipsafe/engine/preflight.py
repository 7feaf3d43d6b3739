"""Before anything changes: the router and metric sources answer, every analysis query
returns data against the stable target, every custom breaker query depends on the canary,
the router's own counters answer for the built-in checks, and the router's state is
snapshotted and the stored snapshot verified against a fresh read."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING

from shipsafe.engine import analysis, bluegreen, judging
from shipsafe.errors import ConfigurationError, PreflightError, PreflightNoData, ProviderError
from shipsafe.plan.analysis import ROUTER_COUNTERS
from shipsafe.plan.breaker_checks import custom_breaker_problems
from shipsafe.plan.models import render_query
from shipsafe.records import EventType, Snapshot

if TYPE_CHECKING:
    from shipsafe.engine.effects import Effects
    from shipsafe.plan.analysis import AnalysisTemplate


def preflight(fx: Effects) -> None:
    """Before anything changes: the router and every metric source must answer."""
    try:
        fx.router.check()
        weight = fx.router.get_weight()
    except ConfigurationError:
        raise
    except ProviderError as exc:
        raise PreflightError(f"preflight: router {fx.plan.target.router}: {exc}") from None
    if weight != 0:
        raise PreflightError(
            f"preflight: the canary ({fx.plan.target.canary_name}) already receives "
            f"{weight}% of traffic; a rollout starts from 0% (are stable and canary the "
            "right way round in the plan?)"
        )
    for name in fx.plan.metric_sources:
        try:
            fx.source(name).check()
        except ProviderError as exc:
            raise PreflightError(f"preflight: metric source {name!r}: {exc}") from None
    problems = custom_breaker_problems(
        fx.plan.analysis,
        [b.analysis for b in fx.plan.breakers],
        fx.plan.target.canary_name,
        fx.plan.blue_green,
    )
    if problems:
        raise PreflightError(f"preflight: {problems[0][1]}")
    if any(t.builtin is not None for t in fx.plan.analysis.values()):
        try:  # also the baseline the first reading's deltas start from
            fx.source(ROUTER_COUNTERS).check()
        except ProviderError as exc:
            raise PreflightError(
                f"preflight: the router's own counters (built-in checks): {exc}"
            ) from None
    values = _queries(fx)
    fx.emit(
        EventType.PREFLIGHT_PASSED,
        message=f"router and metric sources answer; {_count(len(values), 'analysis query')} "
        f"{'returns' if len(values) == 1 else 'return'} data against the stable target",
        data={"queries": values},
    )


def _count(n: int, noun: str) -> str:
    """'1 analysis query', '3 analysis queries'."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") else f"{n} {noun}s"


def _queries(fx: Effects) -> dict[str, float]:
    """Every analysis query, once, against the stable target: a query that returns no
    data or an error now would judge the canary on nothing later (fail closed)."""
    variables = {**fx.plan.variables(), "canary": fx.plan.target.stable_name}
    values: dict[str, float] = {}
    for name, template in fx.plan.analysis.items():
        if template.builtin is not None:
            continue  # its counters answered above; a reading needs a window of them
        if template.judge is not None:
            values[name] = _judge_queries(fx, name, template, variables)
            continue
        query = analysis.query_for(template, variables)
        text = query.text
        try:
            value = fx.source(template.source_key).query(query).value
        except ProviderError as exc:
            raise PreflightError(
                f"preflight: analysis {name!r} query {text!r} failed against the stable "
                f"target: {exc}"
            ) from None
        if value is None or not math.isfinite(value):  # no data, NaN or +-Inf
            raise PreflightNoData(
                f"preflight: analysis {name!r} query {text!r} returned "
                f"{'no data' if value is None else f'{value} (not a finite number)'} against the "
                f"stable target ({fx.plan.target.stable_name}); a rollout judged on no "
                "data is not watched at all"
            )
        values[name] = value
    return values


def _judge_queries(
    fx: Effects, name: str, template: AnalysisTemplate, variables: dict[str, str]
) -> float:
    """A judge's range queries, canary ones pointed at the stable target: each must return
    points over the judge's window (or one step when it has none). Returns how many."""
    spec = template.judge
    assert spec is not None
    now = fx.now()
    start, end = judging.window(spec, now - timedelta(seconds=spec.lookback or spec.step), now)
    source = fx.source(template.source_key)
    points = 0
    for metric in spec.metrics:
        for role, text in metric.queries().items():
            rendered = render_query(text, variables)
            try:
                result = judging.read(source, rendered, start, end, spec.step)
            except ProviderError as exc:
                raise PreflightError(
                    f"preflight: judge {name!r} metric {metric.name!r} {role} query "
                    f"{rendered!r} failed against the stable target: {exc}"
                ) from None
            # an error counter may have no series until the first error: only totals and
            # samples must have data
            if not role.endswith("Events") and not any(v == v for _, v in result.points):
                raise PreflightNoData(
                    f"preflight: judge {name!r} metric {metric.name!r} {role} query "
                    f"{rendered!r} returned no data against the stable target "
                    f"({fx.plan.target.stable_name}); a rollout judged on no data is not "
                    "watched at all"
                )
            points += len(result.points)
    return float(points)


def take_snapshot(fx: Effects) -> Snapshot:
    """Snapshot the router before the first change, store it, then verify the stored copy
    against a fresh read: rollback needs nothing but this."""
    try:
        state = fx.router.read_state()
        config = fx.router.config()
    except ProviderError as exc:
        raise PreflightError(f"snapshot: cannot read the router: {exc}") from None
    name = fx.plan.target.router
    snapshot = Snapshot(
        rollout_id=fx.record.id,
        router=name,
        config=config,
        state=state,
        checksum=Snapshot.checksum_of(name, config, state),
        taken_at=fx.now(),
        blue=bluegreen.blue_record(fx),
    )
    fx.save_snapshot(snapshot)
    fx.emit(
        EventType.SNAPSHOT_TAKEN,
        message=f"router state saved ({snapshot.checksum[:12]})",
        data={"router": name, "state": state, "checksum": snapshot.checksum},
    )
    stored = fx.stored_snapshot()
    try:
        again = fx.router.read_state()
    except ProviderError as exc:
        raise PreflightError(f"snapshot: cannot re-read the router: {exc}") from None
    if (
        stored is None
        or stored.checksum != Snapshot.checksum_of(stored.router, stored.config, stored.state)
        or stored.checksum != Snapshot.checksum_of(name, config, again)
    ):
        raise PreflightError("snapshot: the stored snapshot does not match the router")
    verified = stored.model_copy(update={"verified_at": fx.now()})
    fx.save_snapshot(verified)
    fx.emit(EventType.SNAPSHOT_VERIFIED, message="stored snapshot equals the router")
    return verified
