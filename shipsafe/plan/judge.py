"""`judge:` in an analysis template: the canary judged against a baseline, statistically.

Instead of one number against a threshold, a judge check reads each metric twice over a
time range (Prometheus range queries): once for the canary and once for the baseline (the
stable target, or a baseline target running the stable version), and compares the two
series. Two modes:

* `kayenta` - Spinnaker Kayenta's NetflixACAJudge-v1.0, rule for rule: every metric is
  classified Pass/High/Low by a Mann-Whitney interval, metrics are scored in groups, and
  the score is compared with `scoreThresholds` (pass / marginal / fail).
* `sequential` - an anytime-valid sequential test (shipsafe.judge.sequential): fails as
  soon as the canary is shown worse than the baseline by more than `tolerance`, with the
  false-rollback probability bounded by `alpha` however often it looks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shipsafe.plan.base import Duration, PlanModel


class Outliers(PlanModel):
    strategy: Literal["keep", "remove"] = "keep"
    outlier_factor: float = Field(3.0, gt=0, description="IQR fence factor (Kayenta: 3.0)")


class EffectSize(PlanModel):
    """How large a significant change must be to count (Kayenta's `effectSize`)."""

    measure: Literal["meanRatio", "cles"] = "meanRatio"
    allowed_increase: float | None = Field(None, description="default 1.0 (cles: 0.5)")
    allowed_decrease: float | None = Field(None, description="default 1.0 (cles: 0.5)")
    critical_increase: float | None = Field(None, description="default 1.0 (cles: 0.5)")
    critical_decrease: float | None = Field(None, description="default 1.0 (cles: 0.5)")


class JudgeMetric(PlanModel):
    """One metric of a judge: a query for the canary and one for the baseline.

    Queries return one series each over the range; {{canary}}, {{stable}}... are filled in.
    A sequential judge on event counts gives the four count queries instead: events and
    totals per step, e.g. `sum(increase(http_requests_total{...,code=~"5.."}[10s]))`.
    """

    name: str = Field(min_length=1, max_length=100)
    canary: str | None = Field(None, min_length=1, description="query: the canary's series")
    baseline: str | None = Field(None, min_length=1, description="query: the baseline's series")
    canary_events: str | None = Field(None, min_length=1, description="sequential: events")
    canary_total: str | None = Field(None, min_length=1, description="sequential: trials")
    baseline_events: str | None = Field(None, min_length=1)
    baseline_total: str | None = Field(None, min_length=1)
    # Kayenta's per-metric settings (analysisConfigurations.canary.*)
    groups: list[str] = Field(
        default_factory=list, description="score groups; default: a group of its own"
    )
    direction: Literal["increase", "decrease", "either"] = "either"
    nan_strategy: Literal["remove", "replace"] = Field(
        "remove", description="missing points: removed, or counted as 0"
    )
    outliers: Outliers = Field(default_factory=lambda: Outliers.model_validate({}))
    critical: bool = False
    must_have_data: bool = False
    muted: bool = False
    effect_size: EffectSize = Field(default_factory=lambda: EffectSize.model_validate({}))

    @property
    def counts(self) -> bool:
        return self.canary_events is not None

    def queries(self) -> dict[str, str]:
        """The queries this metric sends, by role."""
        roles = {
            "canary": self.canary,
            "baseline": self.baseline,
            "canaryEvents": self.canary_events,
            "canaryTotal": self.canary_total,
            "baselineEvents": self.baseline_events,
            "baselineTotal": self.baseline_total,
        }
        return {role: text for role, text in roles.items() if text is not None}

    @model_validator(mode="after")
    def _samples_or_counts(self) -> JudgeMetric:
        samples = [self.canary, self.baseline]
        counts = [self.canary_events, self.canary_total, self.baseline_events, self.baseline_total]
        if all(q is not None for q in samples) and all(q is None for q in counts):
            return self
        if all(q is not None for q in counts) and all(q is None for q in samples):
            return self
        raise ValueError(
            "give canary and baseline queries, or (sequential) all four of canaryEvents, "
            "canaryTotal, baselineEvents and baselineTotal"
        )


class ScoreThresholds(PlanModel):
    pass_: float = Field(95.0, alias="pass", ge=0, le=100, description="score to pass")
    marginal: float = Field(75.0, ge=0, le=100, description="score below which it fails")

    @model_validator(mode="after")
    def _ordered(self) -> ScoreThresholds:
        if self.marginal > self.pass_:
            raise ValueError(f"marginal ({self.marginal:g}) is above pass ({self.pass_:g})")
        return self


class JudgeSpec(PlanModel):
    """A statistical judge: canary against baseline over a time range."""

    mode: Literal["kayenta", "sequential"]
    metrics: list[JudgeMetric] = Field(min_length=1)
    step: Duration = Field(10.0, gt=0, description="resolution of the range queries")
    lookback: Duration | None = Field(
        None,
        gt=0,
        description="kayenta: the range judged, ending at each measurement (default: since "
        "the analysis started); a sequential judge always reads from the start",
    )
    score_thresholds: ScoreThresholds = Field(
        default_factory=lambda: ScoreThresholds.model_validate({})
    )
    group_weights: dict[str, float] = Field(default_factory=dict)
    alpha: float = Field(
        0.01, gt=0, lt=1, description="sequential: bound on the false-rollback probability"
    )
    tolerance: float = Field(
        0.0, ge=0, description="sequential: how much worse is acceptable (0.2: 20 % worse)"
    )
    quantile: float = Field(0.5, gt=0, lt=1, description="sequential on samples: the quantile")

    @model_validator(mode="after")
    def _fits_the_mode(self) -> JudgeSpec:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names repeat: {', '.join(sorted(names))}")
        if self.mode == "sequential":
            if len(self.metrics) != 1:
                raise ValueError("a sequential judge tests one metric; write one check each")
            if self.lookback is not None:
                raise ValueError("a sequential judge reads from the start: remove lookback")
            return self
        if any(m.counts for m in self.metrics):
            raise ValueError("kayenta compares two series: give canary and baseline queries")
        for group, weight in self.group_weights.items():
            if not 0 <= weight <= 100:
                raise ValueError(f"groupWeights.{group}: {weight:g} is not in 0..100")
        if sum(self.group_weights.values()) > 100:
            raise ValueError("groupWeights add up to more than 100")
        return self
