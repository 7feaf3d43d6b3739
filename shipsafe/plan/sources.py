"""Where measurements come from: one model per metric provider, chosen by `provider`."""

from __future__ import annotations

from typing import Annotated, Literal

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


class CloudWatchSource(PlanModel):
    """Amazon CloudWatch: GetMetricData (a metric, metric math or Metrics Insights) and
    alarm states (`query: ALARMS(name, ...)` -> how many of them are in ALARM).

    A template's `args` carries what a query needs besides its text; see
    shipsafe/providers/metrics/cloudwatch.py for the keys.
    """

    provider: Literal["cloudwatch"]
    region: str | None = Field(None, description="default: the AWS chain's region")


class HttpSource(PlanModel):
    """Any HTTP endpoint answering JSON: a template's `query` is the path (and query string)
    below `url`; `args.jsonPath` (e.g. `data.latency.p99` or `items[0].value`) picks the
    number, or the whole body is the number when it is omitted. null or missing is no data."""

    provider: Literal["http"]
    url: str = Field(pattern=r"^https?://", description="base URL; queries are paths below it")
    timeout: Duration = 5.0
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token_env: str | None = Field(
        None, description="name of an environment variable holding a bearer token"
    )
    verify_tls: bool = True


# Add a provider: a model with `provider: Literal[...]`, then add it to this union.
MetricSourceConfig = Annotated[
    PrometheusSource | CloudWatchSource | HttpSource, Field(discriminator="provider")
]
