"""Who hears about a rollout: webhooks (Slack-compatible or plain JSON), per plan."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from shipsafe.plan.base import PlanModel
from shipsafe.records import EventType

# what a person on call wants pushed to them; everything else is in `status` and the audit
DEFAULT_EVENTS = [
    EventType.ROLLOUT_CREATED.value,
    EventType.BREAKER_TRIPPED.value,
    EventType.APPROVAL_REFUSED.value,
    EventType.ROLLBACK_FAILED.value,
    EventType.ROLLOUT_FINISHED.value,
    "awaiting_approval",
    "paused",
]
# phases that can be named like events: a phase_changed event into that phase
PHASE_EVENTS = {"awaiting_approval", "paused", "rolling_back"}


class Webhook(PlanModel):
    """POST each chosen event to a URL. Keep the URL out of the plan with `urlEnv` when the
    URL is itself the secret (Slack, Teams, Discord incoming webhooks)."""

    url: str | None = Field(None, pattern=r"^https?://")
    url_env: str | None = Field(None, description="environment variable holding the URL")
    format: Literal["json", "slack"] = Field(
        "json", description="json: the event as shipsafe emits it; slack: {text: ...}"
    )
    events: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS),
        description="event types (see the JSON output), or awaiting_approval/paused/"
        "rolling_back for phase changes",
    )

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        known = {t.value for t in EventType} | PHASE_EVENTS
        unknown = sorted(set(events) - known)
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return events

    @model_validator(mode="after")
    def _one_url(self) -> Webhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or urlEnv")
        return self


class Notification(PlanModel):
    webhook: Webhook
