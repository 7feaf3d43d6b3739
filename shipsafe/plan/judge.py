"""`judge:` in an analysis template: the canary judged against a baseline, statistically.

Instead of one number against a threshold, a judge check reads each metric twice over a
time range (Prometheus range queries): once for the canary and once for the baseline (the
stable target, or a baseline target running the stable version), and compares the two
series. Mode `kayenta`: Spinnaker Kayenta's NetflixACAJudge-v1.0, rule for rule: every
metric is classified Pass/High/Low by a Mann-Whitney interval, metrics are scored in groups,
and the score is compared with `scoreThresholds` (pass / marginal / fail).
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
    """

    name: str = Field(min_length=1, max_length=100)
    canary: str = Field(min_length=1, description="query: the canary's series")
    baseline: str = Field(min_length=1, description="query: the baseline's series")
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

    def queries(self) -> dict[str, str]:
        """The queries this metric sends, by role."""
        return {"canary": self.canary, "baseline": self.baseline}


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

    mode: Literal["kayenta"]
    metrics: list[JudgeMetric] = Field(min_length=1)
    step: Duration = Field(10.0, gt=0, description="resolution of the range queries")
    lookback: Duration | None = Field(
        None,
        gt=0,
        description="the range judged, ending at each measurement (default: since the "
        "analysis started)",
    )
    score_thresholds: ScoreThresholds = Field(
        default_factory=lambda: ScoreThresholds.model_validate({})
    )
    group_weights: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_the_mode(self) -> JudgeSpec:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names repeat: {', '.join(sorted(names))}")
        for group, weight in self.group_weights.items():
            if not 0 <= weight <= 100:
                raise ValueError(f"groupWeights.{group}: {weight:g} is not in 0..100")
        if sum(self.group_weights.values()) > 100:
            raise ValueError("groupWeights add up to more than 100")
        return self
