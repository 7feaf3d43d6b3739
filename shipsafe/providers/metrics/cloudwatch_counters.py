"""Built-in checks on AWS: the documented CloudWatch metrics of the two targets.

    aws-alb     AWS/ApplicationELB, dimensions LoadBalancer (app/NAME/ID, from the listener
                ARN) and TargetGroup (targetgroup/NAME/ID) of each target group:
                RequestCount (Sum), HTTPCode_Target_5XX_Count (Sum), TargetResponseTime
                (Average, s).
    aws-lambda  AWS/Lambda, dimensions FunctionName, Resource (FUNCTION:ALIAS) and
                ExecutedVersion (each version behind the alias): Invocations (Sum), Errors
                (Sum), Duration (Average, ms -> s).

CloudWatch keeps one datapoint a minute: a reading sums the datapoints of the window (at
least one period), both targets in one GetMetricData call. No datapoint is no request.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.providers import aws_common
from shipsafe.providers.metrics.counters import Counters

PERIOD = 60  # seconds: the resolution of both services' standard metrics


@dataclass(frozen=True)
class Metrics:
    """How one router's targets are counted in CloudWatch."""

    namespace: str
    requests: str
    errors: str
    latency: str
    latency_scale: float  # to seconds


ALB = Metrics(
    "AWS/ApplicationELB", "RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime", 1.0
)
LAMBDA = Metrics("AWS/Lambda", "Invocations", "Errors", "Duration", 0.001)


def _now() -> datetime:
    return datetime.now(UTC)


class CloudWatchCounters:
    cumulative = False  # CloudWatch sums over the window itself

    def __init__(
        self,
        metrics: Metrics,
        dimensions: dict[str, list[dict[str, str]]],
        region: str | None,
        client: Any = None,
        now: Callable[[], datetime] = _now,
    ) -> None:
        """`dimensions`: for (stable, canary) in that order, the dimensions of its metrics."""
        self.metrics = metrics
        self.dimensions = dimensions
        self.servers: tuple[str, str] = tuple(dimensions)  # type: ignore[assignment]
        self.region = region
        self._client = client
        self._now = now

    @property
    def cw(self) -> Any:
        if self._client is None:
            self._client = aws_common.client("cloudwatch", self.region)
        return self._client

    def _queries(self) -> list[dict[str, Any]]:
        m = self.metrics
        queries = []
        for i, server in enumerate(self.servers):
            for key, metric, stat in (
                ("requests", m.requests, "Sum"),
                ("errors", m.errors, "Sum"),
                ("latency", m.latency, "Average"),
            ):
                queries.append(
                    {
                        "Id": f"{key}{i}",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": m.namespace,
                                "MetricName": metric,
                                "Dimensions": self.dimensions[server],
                            },
                            "Period": PERIOD,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
        return queries

    def read(self, window_seconds: float) -> dict[str, Counters]:
        span = max(PERIOD, math.ceil(window_seconds / PERIOD) * PERIOD)
        end = self._now().replace(microsecond=0)
        kwargs: dict[str, Any] = {
            "MetricDataQueries": self._queries(),
            "StartTime": end - timedelta(seconds=span),
            "EndTime": end,
            "ScanBy": "TimestampDescending",
        }
        values: dict[str, list[float]] = {}
        with aws_common.aws_errors(f"cloudwatch {self.metrics.namespace}: GetMetricData"):
            while True:
                page = self.cw.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    status = result.get("StatusCode", "Complete")
                    if status in ("InternalError", "Forbidden"):
                        raise ProviderError(
                            f"cloudwatch {self.metrics.namespace}: {result.get('Id')}: {status}"
                        )
                    finite = [float(v) for v in result.get("Values", []) if _finite(v)]
                    values.setdefault(str(result.get("Id")), []).extend(finite)
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        out = {}
        for i, server in enumerate(self.servers):
            latency = values.get(f"latency{i}") or []
            out[server] = Counters(
                requests=sum(values.get(f"requests{i}") or []),
                errors=sum(values.get(f"errors{i}") or []),
                latency=(sum(latency) / len(latency)) * self.metrics.latency_scale
                if latency
                else None,
            )
        return out


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _arn_parts(arn: str) -> list[str]:
    return arn.split(":", 5)


def alb_reader(target: dict[str, Any], client: Any = None, **kw: Any) -> CloudWatchCounters:
    listener = str(target["listenerArn"])
    resource = _arn_parts(listener)[-1]  # listener/app/NAME/ID/LISTENER
    parts = resource.split("/")
    if len(parts) < 4 or parts[0] != "listener":
        raise ConfigurationError(f"aws-alb: cannot read the load balancer from {listener!r}")
    balancer = "/".join(parts[1:4])
    groups = [str(target["stableTargetGroupArn"]), str(target["canaryTargetGroupArn"])]
    dimensions = {
        _arn_parts(arn)[-1]: [
            {"Name": "LoadBalancer", "Value": balancer},
            {"Name": "TargetGroup", "Value": _arn_parts(arn)[-1]},
        ]
        for arn in groups
    }
    region = target.get("region") or (_arn_parts(listener)[3] if listener.count(":") >= 5 else None)
    return CloudWatchCounters(ALB, dimensions, region or None, client, **kw)


def lambda_reader(target: dict[str, Any], client: Any = None, **kw: Any) -> CloudWatchCounters:
    function = str(target["functionName"])
    region = target.get("region")
    if function.startswith("arn:"):
        parts = function.split(":")
        if len(parts) < 7:
            raise ConfigurationError(f"aws-lambda: {function!r} is not a function ARN")
        region = region or parts[3]
        function = parts[6]
    resource = f"{function}:{target['alias']}"
    dimensions = {
        str(target[key]): [
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": resource},
            {"Name": "ExecutedVersion", "Value": str(target[key])},
        ]
        for key in ("stable", "canary")
    }
    return CloudWatchCounters(LAMBDA, dimensions, region or None, client, **kw)


def build_reader(router: str, target: dict[str, Any]) -> CloudWatchCounters:
    if router == "aws-alb":
        return alb_reader(target)
    return lambda_reader(target)
