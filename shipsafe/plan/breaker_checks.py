"""Can this breaker trip? Checks over the plan alone, shared by `validate` and preflight.

A breaker whose query does not depend on the canary watches nothing: `vector(0)` passes every
measurement, and `(5xx or vector(0)) / total` with a typo in the 5xx half reads 0 errors
forever (it promoted a canary serving 30 % errors). So a custom breaker query must name the
canary's selector (`{{canary}}`, or the canary's name as the router knows it) and must not put
a constant in place of missing data. (In a blue/green plan a breaker may watch the whole
service: all users are on one side at a time, and green has no traffic before the cutover.
CloudWatch alarms, `ALARMS(...)`, are judged by their own definitions, which the query does
not show: they add to the built-in breaker the production policy requires.)
Built-in checks (`builtin: errorRate`) read the router's
own counters and have no query to get wrong.
"""

from __future__ import annotations

import re
from typing import Any

from shipsafe.plan.analysis import AnalysisTemplate

# vector(0), vector(0.0), vector(1e-3): a constant standing in for a series
_CONSTANT = re.compile(r"\bvector\s*\(\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*\)")
_CANARY = re.compile(r"\{\{\s*canary\s*\}\}")
# CloudWatch alarms as breakers: what an alarm watches is in its own definition, not here
_ALARMS = re.compile(r"^\s*ALARMS\s*\(")


def _texts(template: AnalysisTemplate) -> list[str]:
    def strings(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    texts = [template.query or "", *strings(template.args)]
    if template.judge is not None:  # canary and baseline range queries of a judge check
        texts += [q for m in template.judge.metrics for q in m.queries().values()]
    return texts


def breaker_query_problems(
    name: str, template: AnalysisTemplate, canary: str, blue_green: bool = False
) -> list[str]:
    """Why a custom breaker query cannot be trusted to trip (empty: it depends on the canary)."""
    if template.builtin is not None:
        return []
    texts = _texts(template)
    problems = []
    constant = next((m.group(0) for t in texts if (m := _CONSTANT.search(t))), None)
    if constant is not None:
        problems.append(
            f"breaker {name}: its query uses `{constant}`, a constant standing in for missing "
            "data: a typo in a selector then reads as 0 and the breaker never trips; remove it "
            "(no data must fail), or use `builtin: errorRate`, read from the router's own "
            "counters"
        )
    alarms = bool(_ALARMS.match(template.query or ""))
    names_canary = any(_CANARY.search(t) or (canary and canary in t) for t in texts)
    if not blue_green and not alarms and not names_canary:
        problems.append(
            f"breaker {name}: its query does not name the canary ({{{{canary}}}} or "
            f"{canary!r}), so it cannot tell a bad canary from a good one; select the "
            "canary's series, or use `builtin: errorRate`"
        )
    return problems


def custom_breaker_problems(
    analysis: dict[str, AnalysisTemplate],
    breakers: list[str],
    canary: str,
    blue_green: bool = False,
) -> list[tuple[int, str]]:
    """(breaker index, problem) for every custom breaker query that may never trip."""
    out: list[tuple[int, str]] = []
    for i, name in enumerate(breakers):
        template = analysis.get(name)
        if template is not None:
            problems = breaker_query_problems(name, template, canary, blue_green)
            out += [(i, p) for p in problems]
    return out
