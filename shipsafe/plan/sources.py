"""Where measurements come from: one model per metric provider, chosen by `provider`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shipsafe.plan.base import Duration, PlanModel


class PrometheusSource(PlanModel):
    provider: Literal["prometheus"]
    url: str = Field(pattern=r"^https?://", description="base URL of the Prometheus server")
    timeout: Duration = 5.0
    bearer_token_env: str | None = Field(
        None, description="name of an environment variable holding a bearer token"
    )
    verify_tls: bool = True


# Add a provider: a model with `provider: Literal[...]`, then make this a union with
# Field(discriminator="provider").
MetricSourceConfig = PrometheusSource
