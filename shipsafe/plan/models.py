"""The plan: what is released, where traffic goes, how it is judged, in which steps."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from shipsafe.errors import PlanError
from shipsafe.plan.analysis import BUILTIN_ROUTERS, AnalysisTemplate, Breaker
from shipsafe.plan.base import Duration, Name, PlanModel
from shipsafe.plan.notifications import Notification
from shipsafe.plan.snapshots import DataSnapshotConfig
from shipsafe.plan.sources import MetricSourceConfig
from shipsafe.plan.steps import (
    AnalysisStepSpec,
    CutoverSpec,
    DataSnapshotSpec,
    MigrateSpec,
    PromoteStep,
    SetWeight,
    Step,
    step_kind,
    step_spec,
)
from shipsafe.plan.targets import Target
from shipsafe.records import sha256_hex


class Metadata(PlanModel):
    name: Name
    service: Name
    environment: Name
    labels: dict[str, str] = Field(default_factory=dict)


class Release(PlanModel):
    version: str = Field(min_length=1, max_length=128)
    artifact: str | None = Field(None, description="image, package or commit of the release")


class BlueGreen(PlanModel):
    """Green (the canary target) runs beside blue (the stable one) with no traffic; a
    `cutover` step moves all traffic at once after the snapshot and blue are checked."""

    blue_identity: list[str] | None = Field(
        None,
        min_length=1,
        description="a command (argument list) printing what blue runs, e.g. its version; "
        "recorded in the snapshot and compared before a rollback cuts back to blue",
    )
    identity_timeout: Duration = 10.0


class Strategy(PlanModel):
    """canary (the default: weighted steps) or blueGreen."""

    blue_green: BlueGreen | None = None


class Plan(PlanModel):
    """A declarative rollout. See README.md, "The plan", for every key."""

    api_version: Literal["shipsafe/v1"]
    kind: Literal["Plan"]
    metadata: Metadata
    release: Release
    target: Target
    metric_sources: dict[str, MetricSourceConfig] = Field(default_factory=dict)
    analysis: dict[str, AnalysisTemplate] = Field(default_factory=dict)
    breakers: list[Breaker] = Field(default_factory=list)
    strategy: Strategy = Field(default_factory=Strategy)
    data_snapshots: dict[str, DataSnapshotConfig] = Field(default_factory=dict)
    rollback_window: Duration | None = Field(
        None,
        description="how long after promotion the release may be rolled back "
        "(at least the policy's)",
    )
    notifications: list[Notification] = Field(
        default_factory=list, description="webhooks told about the rollout as it goes"
    )
    breaker_warmup: Duration = Field(
        10.0,
        description="breakers start this long after the first weight is read back (each "
        "template's initialDelay, when longer, wins)",
    )
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _builtin_timing(self) -> Plan:
        """Built-in checks read as often as the router allows: HAProxy's counters every
        250 ms over a 2 s window, CloudWatch's one-minute datapoints every minute over 2 min."""
        timing = BUILTIN_TIMING.get(self.target.router)
        for name, template in list(self.analysis.items()):
            if template.builtin is None or timing is None:
                continue
            update = {}
            if template.interval is None:
                update["interval"] = timing[0]
            if template.window is None:
                update["window"] = timing[1]
            if update:
                self.analysis[name] = template.model_copy(update=update)
        return self

    @property
    def blue_green(self) -> bool:
        return self.strategy.blue_green is not None

    def digest(self) -> str:
        """sha256 of the canonical form: same meaning, same digest (30s == 0.5m)."""
        return sha256_hex(self.canonical())

    def canonical(self) -> dict[str, Any]:
        return dict(self.model_dump(mode="json", by_alias=True))

    def effective_steps(self) -> list[Any]:
        """The steps, with the implicit promote at the end made explicit."""
        steps = list(self.steps)
        if not steps or not isinstance(steps[-1], PromoteStep):
            steps.append(PromoteStep.model_validate({"promote": {}}))
        return steps

    def variables(self) -> dict[str, str]:
        return {
            "name": self.metadata.name,
            "service": self.metadata.service,
            "environment": self.metadata.environment,
            "version": self.release.version,
            "stable": self.target.stable_name,
            "canary": self.target.canary_name,
        }


# router -> (interval, window) of its built-in checks when the template gives none
BUILTIN_TIMING: dict[str, tuple[float, float]] = {
    "haproxy": (0.25, 2.0),
    "aws-alb": (60.0, 120.0),
    "aws-lambda": (60.0, 120.0),
}


def plan_from_record(data: dict[str, Any]) -> Plan:
    """Rebuild a plan stored with a rollout (already validated when it was deployed): no
    YAML here, so the engine needs models only, never the loader."""
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(f"the stored plan no longer validates: {exc.errors()[0]['msg']}") from None


_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_query(text: str, variables: dict[str, str]) -> str:
    """Replace {{name}} with plan variables. Unknown names are left for cross_check to report."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def render_args(value: Any, variables: dict[str, str]) -> Any:
    """render_query over every string inside a template's provider-specific `args`."""
    if isinstance(value, str):
        return render_query(value, variables)
    if isinstance(value, dict):
        return {k: render_args(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render_args(v, variables) for v in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _check_judge_source(
    plan: Plan, name: str, source: str
) -> list[tuple[tuple[str | int, ...], str]]:
    """A judge reads ranges: Prometheus and CloudWatch sources answer them."""
    config = plan.metric_sources.get(source)
    if config is None or config.provider in ("prometheus", "cloudwatch"):
        return []
    return [
        (
            ("analysis", name, "judge"),
            f"a judge reads time ranges, which metric source {source!r} "
            f"({config.provider}) does not answer; use a prometheus or cloudwatch source",
        )
    ]


def cross_check(plan: Plan) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks that span several parts of the plan. Returns (path, message) pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    variables = plan.variables()
    for name, template in plan.analysis.items():
        if template.builtin is not None:
            if plan.target.router not in BUILTIN_ROUTERS:
                problems.append(
                    (
                        ("analysis", name, "builtin"),
                        f"builtin checks read the router's own counters; router "
                        f"{plan.target.router!r} has none (use {', '.join(BUILTIN_ROUTERS)}, "
                        "or a query)",
                    )
                )
            continue
        if template.source not in plan.metric_sources:
            problems.append(
                (
                    ("analysis", name, "source"),
                    f"unknown metric source {template.source!r}; defined: "
                    + _listing(plan.metric_sources),
                )
            )
        texts = [template.query or "", *_strings(template.args)]
        if template.judge is not None:
            texts += [q for m in template.judge.metrics for q in m.queries().values()]
            problems += _check_judge_source(plan, name, template.source_key)
        used = {m for text in texts for m in _VARIABLE.findall(text)}
        for unknown in sorted(used - set(variables)):
            problems.append(
                (
                    ("analysis", name, "query"),
                    f"unknown variable {{{{{unknown}}}}}; known: " + ", ".join(sorted(variables)),
                )
            )
    for i, breaker in enumerate(plan.breakers):
        if breaker.analysis not in plan.analysis:
            problems.append(
                (
                    ("breakers", i, "analysis"),
                    f"unknown analysis template {breaker.analysis!r}; defined: "
                    + _listing(plan.analysis),
                )
            )
    weight = 0
    judged: set[str] = set()
    for i, step in enumerate(plan.steps):
        spec = step_spec(step)
        kind = step_kind(step)
        if isinstance(spec, AnalysisStepSpec):
            problems += _unknown(
                ("steps", i, kind, "templates"), spec.templates, plan.analysis, "analysis template"
            )
            judged.update(spec.templates)
        if isinstance(spec, SetWeight):
            if spec.weight < weight and not spec.reason:
                problems.append(
                    (
                        ("steps", i, kind),
                        f"weight goes down from {weight} to {spec.weight}; "
                        "say why with setWeight: {weight: N, reason: ...}",
                    )
                )
            weight = spec.weight
        if isinstance(step, PromoteStep) and i != len(plan.steps) - 1:
            problems.append((("steps", i, kind), "promote must be the last step"))
        problems.extend(_check_guardrail_steps(plan, i, kind, spec))
    problems.extend(_check_strategy(plan))
    for name in sorted(judged & set(plan.analysis)):
        for key, message in plan.analysis[name].limit_problems():
            problems.append((("analysis", name, key), f"analysis {name}: {message}"))
    return problems


def _check_guardrail_steps(
    plan: Plan, i: int, kind: str, spec: Any
) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(spec, DataSnapshotSpec):
        problems += _unknown(
            ("steps", i, kind, "data"), spec.data, plan.data_snapshots, "data snapshot"
        )
    if isinstance(spec, CutoverSpec):
        if not plan.blue_green:
            problems.append(
                (("steps", i, kind), "cutover belongs to a blue/green plan: strategy.blueGreen")
            )
        problems += _unknown(
            ("steps", i, kind, "blueHealth"), spec.blue_health, plan.analysis, "analysis template"
        )
        problems += [
            (
                ("steps", i, kind, "blueHealth"),
                f"{name!r} is a judge (canary against baseline); blue's health is a plain check",
            )
            for name in spec.blue_health
            if name in plan.analysis and plan.analysis[name].judge is not None
        ]
    if isinstance(spec, MigrateSpec):
        earlier = [
            step_spec(s).name for s in plan.steps[:i] if isinstance(step_spec(s), MigrateSpec)
        ]
        if spec.name in earlier:
            problems.append((("steps", i, kind, "name"), f"migration {spec.name!r} appears twice"))
    return problems


def _check_strategy(plan: Plan) -> list[tuple[tuple[str | int, ...], str]]:
    if not plan.blue_green:
        return []
    problems: list[tuple[tuple[str | int, ...], str]] = []
    cutovers = [i for i, s in enumerate(plan.steps) if isinstance(step_spec(s), CutoverSpec)]
    if len(cutovers) != 1:
        problems.append(
            (("steps",), f"a blue/green plan has exactly one cutover step (found {len(cutovers)})")
        )
    for i, step in enumerate(plan.steps):
        if isinstance(step_spec(step), SetWeight):
            problems.append(
                (
                    ("steps", i, step_kind(step)),
                    "a blue/green plan moves traffic only at its cutover step; remove setWeight "
                    "(or use the canary strategy)",
                )
            )
    return problems


def _unknown(
    path: tuple[str | int, ...], names: list[str], defined: dict[str, Any], what: str
) -> list[tuple[tuple[str | int, ...], str]]:
    """References to names the plan does not define, each with its path and the known ones."""
    return [
        ((*path, j), f"unknown {what} {name!r}; defined: " + _listing(defined))
        for j, name in enumerate(names)
        if name not in defined
    ]


def _listing(names: dict[str, Any]) -> str:
    return ", ".join(sorted(names)) if names else "(none)"
