"""The organisation policy file: rules per environment (YAML, camelCase like the plan).

    apiVersion: shipsafe/v1
    kind: Policy
    approvals: {maxValidity: 24h}
    environments:
      production:                  # an exact name, or a glob such as "prod-*" or "*"
        requireApproval: {count: 2, group: release-managers, signed: true}
        maxFirstWeight: 10
        maxWeightIncrease: 25      # per step, unless an analysis runs in between
        requireCheckBetweenIncreases: true   # an analysis or a pause between increases
        requireBreakers: true
        requireDataSnapshot: true  # before cutover or migration
        maxConcurrentRollouts: 2
        freezeWindows:
          - {name: year-end, start: "2026-12-20T00:00", end: "2027-01-04T00:00",
             timezone: Europe/Berlin}
          - {name: weekend, days: [sat, sun], timezone: Europe/Berlin}
          - {name: friday-evening, days: [fri], startTime: "16:00", timezone: Europe/Berlin}
        freezeAfterRollback: 30m
        maxChainDepth: 0           # deploys started by deploys beyond this need a human
        deployers: [human, ci]     # who may deploy here (default: all; no key = agent)
        rollbackWindow: 1h
        maxDuration: 24h           # longest pause, interval, initial delay or timeout
        emergency: {allowed: true, maxPause: 1m, approvalAfter: true}

The environment's rules are those of its exact name, else of the first glob that matches
it (in file order), else none.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from shipsafe.plan.base import Duration, PlanModel, Weight

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Kind = Literal["human", "ci", "agent"]
DEFAULT_EMERGENCY_KINDS: list[Kind] = ["human", "ci"]
ALL_KINDS: list[Kind] = ["human", "ci", "agent"]
DAYS: list[str] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None


def _clock_time(text: str) -> time:
    if text == "24:00":
        return time.max
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day like 16:00") from None


class FreezeWindow(PlanModel):
    """No deploys: one-off (`start`..`end`) or weekly (`days`, optionally `startTime`..
    `endTime`, whole days by default), in `timezone`."""

    name: str = Field(min_length=1)
    timezone: str = "UTC"
    start: str | None = Field(
        default=None, description="one-off: ISO date-time, local to timezone"
    )
    end: str | None = None
    days: list[Day] | None = Field(default=None, description="weekly: the days it applies")
    start_time: str = "00:00"
    end_time: str = "24:00"
    reason: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> FreezeWindow:
        one_off = self.start is not None or self.end is not None
        if one_off == (self.days is not None):
            raise ValueError("a freeze window is one-off (start and end) or weekly (days)")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off freeze window needs both start and end")
            if self._at(self.start) >= self._at(self.end):
                raise ValueError("the freeze window ends before it starts")
        elif _clock_time(self.start_time) >= _clock_time(self.end_time):
            raise ValueError(
                "startTime must be before endTime; split a window over midnight in two"
            )
        return self

    def _at(self, text: str) -> datetime:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO date-time like 2026-12-20T00:00") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=_zone(self.timezone))
        return value

    def active(self, now: datetime) -> bool:
        if self.days is None:
            assert self.start is not None and self.end is not None
            return self._at(self.start) <= now < self._at(self.end)
        local = now.astimezone(_zone(self.timezone))
        if DAYS[local.weekday()] not in self.days:
            return False
        return _clock_time(self.start_time) <= local.time() < _clock_time(self.end_time) or (
            self.end_time == "24:00" and local.time() >= _clock_time(self.start_time)
        )

    def describe(self) -> str:
        if self.days is None:
            return f"{self.name} ({self.start} to {self.end} {self.timezone})"
        hours = "" if (self.start_time, self.end_time) == ("00:00", "24:00") else (
            f" {self.start_time}-{self.end_time}"
        )
        return f"{self.name} ({','.join(self.days)}{hours} {self.timezone})"


class ApprovalRule(PlanModel):
    count: int = Field(default=1, ge=1, description="approvals needed, from different people")
    group: str | None = Field(
        default=None, description="approvers must be in this trust-file group"
    )
    signed: bool = Field(default=True, description="only ed25519-signed approvals count")


class EmergencyRules(PlanModel):
    """What `deploy --emergency --reason TEXT` may do. Never: remove breakers, snapshots,
    preflight or the audit."""

    allowed: bool = True
    max_pause: Duration | None = Field(
        default=None, description="pauses are cut to at most this"
    )
    approval_after: bool = Field(
        default=False, description="approval gates wait for a review after the fact instead"
    )
    min_reason_length: int = Field(default=10, ge=1)
    allowed_kinds: list[Kind] = Field(default_factory=lambda: list(DEFAULT_EMERGENCY_KINDS))
    max_pending_reviews: int = Field(
        default=1, ge=0, description="emergencies awaiting review before new ones are refused"
    )


class EnvironmentRules(PlanModel):
    require_approval: ApprovalRule | None = None
    max_first_weight: Weight | None = None
    max_weight_increase: int | None = Field(default=None, ge=1, le=100)
    require_check_between_increases: bool = Field(
        default=False,
        description="an analysis step or a pause (a bake) between any two weight increases, "
        "promote included",
    )
    require_breakers: bool = False
    require_builtin_breaker: bool = Field(
        default=False,
        description="a `builtin: errorRate` breaker, read from the router's own counters, "
        "must watch the rollout; custom queries may add to it, never replace it",
    )
    require_data_snapshot: bool = False
    max_concurrent_rollouts: int | None = Field(default=None, ge=1)
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    freeze_after_rollback: Duration | None = None
    max_chain_depth: int | None = Field(default=None, ge=0)
    rollback_window: Duration = 3600.0
    max_duration: Duration | None = Field(
        default=None,
        description="longest pause, analysis interval, initial delay or timeout a plan may "
        "ask for (every duration is also capped at 30 days, whatever the policy)",
    )
    emergency: EmergencyRules = Field(default_factory=EmergencyRules)
    deployers: list[Kind] = Field(
        default_factory=lambda: list(ALL_KINDS),
        description="kinds that may deploy here (an actor without a key is an agent)",
    )

    @field_validator("require_approval", mode="before")
    @classmethod
    def _bool_form(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        return value


class ApprovalsConfig(PlanModel):
    trust_file: str | None = Field(
        default=None,
        description="ignored: approvers' keys come from the trust root only (kept so older "
        "policy files still load)",
    )
    max_validity: Duration = Field(
        default=86400.0, description="longest validity of one approval"
    )


class TargetClaim(PlanModel):
    """A target an environment owns, whatever a plan labels it: the router and the fields
    of its identity to match (haproxy: socket/address, backend; exec: id; aws-alb:
    listenerArn, ruleArn; aws-lambda: functionName, alias; aws-route53: hostedZoneId,
    recordName, recordType)."""

    environment: str = Field(min_length=1)
    router: Literal["haproxy", "exec", "aws-alb", "aws-lambda", "aws-route53"]
    match: dict[str, str] = Field(min_length=1)


class Policy(PlanModel):
    api_version: Literal["shipsafe/v1"]
    kind: Literal["Policy"]
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    environments: dict[str, EnvironmentRules] = Field(default_factory=dict)
    targets: list[TargetClaim] = Field(
        default_factory=list, description="targets and the environment that owns each"
    )

    def environment_of(self, identity: dict[str, str]) -> str | None:
        """The environment that claims this target identity (the first claim that matches)."""
        from shipsafe.plan.target_identity import matches

        for claim in self.targets:
            if matches(identity, claim.router, claim.match):
                return claim.environment
        return None

    def rules_for(self, environment: str) -> EnvironmentRules:
        if environment in self.environments:
            return self.environments[environment]
        for pattern, rules in self.environments.items():
            if fnmatch.fnmatchcase(environment, pattern):
                return rules
        return EnvironmentRules()
