"""Analysis templates: Argo Rollouts' metric semantics, which its users already know."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from shipsafe import conditions
from shipsafe.plan.base import Duration, PlanModel
from shipsafe.plan.judge import JudgeSpec

# The source name of the built-in checks (not a valid plan name, so it never clashes)
ROUTER_COUNTERS = "@router"
# Built-in checks: computed from the router's own per-target counters, no query to get wrong
BUILTIN_CHECKS = ("errorRate", "latency")
# routers whose own counters the built-in checks read
BUILTIN_ROUTERS = ("haproxy", "aws-alb", "aws-lambda")


class AnalysisTemplate(PlanModel):
    """One metric: a query against a source, or a `builtin` check read from the router's own
    counters, judged by conditions over `result`.

    A measurement is taken every `interval` (after `initialDelay`), `count` times in an
    analysis step (default 1) and for as long as the rollout runs when used as a breaker.
    It fails when failed measurements exceed `failureLimit`, pauses for a human when
    inconclusive ones exceed `inconclusiveLimit`, and errors (counts as failure) when
    consecutive provider errors exceed `consecutiveErrorLimit`; after an error the next
    measurement comes after `errorInterval` (when shorter than `interval`). In an analysis
    step it succeeds only with at least one successful measurement (and, with
    `consecutiveSuccessLimit`, that many successes in a row). A `dryRun` template is measured
    and shown but never acts and never counts as evidence.
    """

    builtin: Literal["errorRate", "latency"] | None = Field(
        None,
        description="a check read from the router's own per-target counters instead of a "
        "query: errorRate (share of the canary's answers that were 5xx) or latency (its mean "
        "response time, s); conditions may also use canary.* and stable.* (requests, errors, "
        "errorRate, latency)",
    )
    source: str | None = Field(None, description="a key of metricSources")
    query: str | None = Field(
        None, min_length=1, description="the query; {{service}}, {{canary}}... allowed"
    )
    judge: JudgeSpec | None = Field(
        None,
        description="instead of query and conditions: canary against baseline over a time "
        "range (mode kayenta or sequential)",
    )
    success_condition: str | None = Field(None, description="CEL over `result`, e.g. result < 0.01")
    failure_condition: str | None = Field(None, description="CEL over `result`, e.g. result > 0.05")
    interval: Duration | None = Field(None, description="time between measurements")
    count: int | None = Field(None, ge=1, description="measurements in an analysis step")
    initial_delay: Duration = 0.0
    failure_limit: int = Field(0, ge=0)
    inconclusive_limit: int = Field(0, ge=0)
    consecutive_error_limit: int = Field(4, ge=0)
    consecutive_success_limit: int | None = Field(
        None, ge=1, description="successes in a row that end an analysis step successfully"
    )
    error_interval: Duration = Field(
        10.0, description="time to the next measurement after one that errored"
    )
    dry_run: bool = Field(
        False, description="measured and shown, never acts, never counts as evidence"
    )
    no_data: Literal["fail", "inconclusive"] = Field(
        "fail", description="what an empty result counts as; never success"
    )
    window: Duration | None = Field(
        None, description="look-back window for providers that need one (default: interval)"
    )
    args: dict[str, Any] = Field(
        default_factory=dict, description="provider-specific settings for this query"
    )

    @field_validator("success_condition", "failure_condition")
    @classmethod
    def _cel(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            # fields are validated in order: `builtin` (declared first) is known here
            conditions.check(value, readings=info.data.get("builtin") is not None)
        return value

    @model_validator(mode="after")
    def _needs_a_condition(self) -> AnalysisTemplate:
        if self.builtin is not None:
            if (
                self.source is not None
                or self.query is not None
                or self.judge is not None
                or self.args
            ):
                raise ValueError(
                    f"builtin: {self.builtin} reads the router's own counters: remove "
                    "source, query, judge and args"
                )
        elif self.source is None:
            raise ValueError(
                "give source and query (or a judge), or builtin: errorRate | latency (read "
                "from the router's own counters)"
            )
        if self.judge is not None:
            if self.query is not None or self.success_condition or self.failure_condition:
                raise ValueError(
                    "a judge check compares canary and baseline itself: remove query, "
                    "successCondition and failureCondition"
                )
            if self.count is not None and self.count > 1 and self.interval is None:
                raise ValueError("count above 1 needs an interval between measurements")
            return self
        if self.builtin is None and self.query is None:
            raise ValueError("give a query (or a judge)")
        if self.success_condition is None and self.failure_condition is None:
            raise ValueError("give successCondition, failureCondition or both")
        # a built-in check's interval defaults per router (Plan fills it in)
        if (
            self.builtin is None
            and self.count is not None
            and self.count > 1
            and self.interval is None
        ):
            raise ValueError("count above 1 needs an interval between measurements")
        if self.error_interval <= 0:
            raise ValueError("errorInterval must be above 0")
        return self

    def limit_problems(self) -> list[tuple[str, str]]:
        """(key, message) for limits that would let an analysis step pass without a single
        successful measurement: shipsafe validate refuses them (the evidence rule)."""
        count = self.step_count
        out: list[tuple[str, str]] = []
        limit = self.consecutive_success_limit
        if limit is not None:  # success then needs `limit` successes in a row
            if self.count is not None and limit > self.count:
                out.append((
                    "consecutiveSuccessLimit",
                    f"consecutiveSuccessLimit ({limit}) > count ({self.count}): it can never "
                    "be reached",
                ))
            return out
        if self.failure_limit >= count:
            out.append((
                "failureLimit",
                f"failureLimit ({self.failure_limit}) >= count ({count}): the analysis could "
                "pass with every measurement failed; lower failureLimit or raise count",
            ))
        if self.inconclusive_limit >= count:
            out.append((
                "inconclusiveLimit",
                f"inconclusiveLimit ({self.inconclusive_limit}) >= count ({count}): the "
                "analysis could pass with no successful measurement; lower "
                "inconclusiveLimit or raise count",
            ))
        elif (
            self.failure_limit < count
            and self.failure_limit + self.inconclusive_limit >= count
        ):
            out.append((
                "inconclusiveLimit",
                f"failureLimit ({self.failure_limit}) + inconclusiveLimit "
                f"({self.inconclusive_limit}) >= count ({count}): the analysis could pass "
                "with no successful measurement",
            ))
        return out

    @property
    def source_key(self) -> str:
        """The metric source to ask: the plan's, or the router's own counters."""
        return self.source if self.source is not None else ROUTER_COUNTERS

    @property
    def step_count(self) -> int:
        return self.count or 1

    @property
    def effective_interval(self) -> float:
        return self.interval if self.interval is not None else 10.0

    @property
    def next_after_error(self) -> float:
        """Argo's error retry: the error interval, or the interval when that is shorter."""
        return min(self.error_interval, self.effective_interval)

    @property
    def effective_window(self) -> float:
        return self.window if self.window is not None else self.effective_interval


class Breaker(PlanModel):
    """An analysis measured on its interval during every step; trips a rollback."""

    analysis: str = Field(description="a key of `analysis`")
