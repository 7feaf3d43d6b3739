"""The plan: what is released, where traffic goes, how it is judged, in which steps."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from shipsafe.plan.analysis import AnalysisTemplate, Breaker
from shipsafe.plan.base import Name, PlanModel
from shipsafe.plan.sources import MetricSourceConfig
from shipsafe.plan.steps import (
    AnalysisStepSpec,
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
    steps: list[Step] = Field(min_length=1)

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


_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_query(text: str, variables: dict[str, str]) -> str:
    """Replace {{name}} with plan variables. Unknown names are left for cross_check to report."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def cross_check(plan: Plan) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks that span several parts of the plan. Returns (path, message) pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    variables = plan.variables()
    for name, template in plan.analysis.items():
        if template.source not in plan.metric_sources:
            problems.append(
                (
                    ("analysis", name, "source"),
                    f"unknown metric source {template.source!r}; defined: "
                    + _listing(plan.metric_sources),
                )
            )
        for unknown in sorted({m for m in _VARIABLE.findall(template.query)} - set(variables)):
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
    for i, step in enumerate(plan.steps):
        spec = step_spec(step)
        kind = step_kind(step)
        if isinstance(spec, AnalysisStepSpec):
            for j, wanted in enumerate(spec.templates):
                if wanted not in plan.analysis:
                    problems.append(
                        (
                            ("steps", i, kind, "templates", j),
                            f"unknown analysis template {wanted!r}; defined: "
                            + _listing(plan.analysis),
                        )
                    )
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
    return problems


def _listing(names: dict[str, Any]) -> str:
    return ", ".join(sorted(names)) if names else "(none)"
