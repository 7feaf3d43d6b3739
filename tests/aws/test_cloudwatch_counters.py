"""Built-in checks on AWS: the ALB target groups' and the Lambda versions' documented
CloudWatch metrics, canary and stable in one GetMetricData call (botocore's Stubber checks
the exact request)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipsafe.errors import TransientProviderError
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.cloudwatch_counters import alb_reader, lambda_reader
from shipsafe.providers.metrics.router_counters import RouterCounters
from tests.aws.worlds import stubbed_client

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LISTENER = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/"
    "f2f7dc8efc522ab2"
)
STABLE_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067"
CANARY_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/943f017f100becff"


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    with stubbed_client(monkeypatch, "cloudwatch", "us-east-1") as pair:
        yield pair


def _queries(namespace: str, names: tuple[str, str, str], dims: list[list[dict]]) -> list:
    out = []
    for i, dimensions in enumerate(dims):
        keys, stats = ("requests", "errors", "latency"), ("Sum", "Sum", "Average")
        for key, metric, stat in zip(keys, names, stats, strict=True):
            out.append(
                {
                    "Id": f"{key}{i}",
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": metric,
                                   "Dimensions": dimensions},
                        "Period": 60,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }
            )  # fmt: skip
    return out


def _answer(values: dict[str, list[float]]) -> dict:
    return {
        "MetricDataResults": [
            {"Id": rid, "Label": rid, "Values": v, "StatusCode": "Complete"}
            for rid, v in values.items()
        ]
    }


def test_alb_error_rate_is_the_canary_groups_5xx_over_its_requests(stubbed: Any) -> None:
    client, stub = stubbed
    lb = {"Name": "LoadBalancer", "Value": "app/shop/50dc6c495c0c9188"}
    expected = {
        "MetricDataQueries": _queries(
            "AWS/ApplicationELB",
            ("RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime"),
            [
                [lb, {"Name": "TargetGroup", "Value": "targetgroup/blue/73e2d6bc24d8a067"}],
                [lb, {"Name": "TargetGroup", "Value": "targetgroup/green/943f017f100becff"}],
            ],
        ),
        "StartTime": NOW - timedelta(seconds=120),
        "EndTime": NOW,
        "ScanBy": "TimestampDescending",
    }
    stub.add_response(
        "get_metric_data",
        _answer({
            "requests0": [900.0, 880.0], "errors0": [2.0], "latency0": [0.1, 0.2],
            "requests1": [60.0, 40.0], "errors1": [5.0, 5.0], "latency1": [0.4],
        }),
        expected,
    )  # fmt: skip
    reader = alb_reader(
        {"listenerArn": LISTENER, "stableTargetGroupArn": STABLE_TG,
         "canaryTargetGroupArn": CANARY_TG},
        client=client, now=lambda: NOW,
    )  # fmt: skip
    result = RouterCounters(reader, "cloudwatch aws-alb").query(
        MetricQuery("errorRate", 120, {"subject": "targetgroup/green/943f017f100becff"})
    )
    assert result.value == 0.1
    assert result.readings["stable"]["requests"] == 1780.0
    assert result.readings["canary"]["latency"] == 0.4
    assert result.readings["stable"]["latency"] == pytest.approx(0.15)


def test_lambda_readings_are_per_version_behind_the_alias(stubbed: Any) -> None:
    client, stub = stubbed

    def dims(version: str) -> list[dict[str, str]]:
        return [
            {"Name": "FunctionName", "Value": "checkout"},
            {"Name": "Resource", "Value": "checkout:live"},
            {"Name": "ExecutedVersion", "Value": version},
        ]

    expected = {
        "MetricDataQueries": _queries(
            "AWS/Lambda", ("Invocations", "Errors", "Duration"), [dims("7"), dims("8")]
        ),
        "StartTime": NOW - timedelta(seconds=60),
        "EndTime": NOW,
        "ScanBy": "TimestampDescending",
    }
    stub.add_response(
        "get_metric_data",
        _answer({"requests0": [100.0], "latency0": [120.0], "requests1": [], "errors1": []}),
        expected,
    )
    reader = lambda_reader(
        {"functionName": "arn:aws:lambda:us-east-1:123456789012:function:checkout",
         "alias": "live", "stable": "7", "canary": "8"},
        client=client, now=lambda: NOW,
    )  # fmt: skip
    result = RouterCounters(reader, "cloudwatch aws-lambda").query(
        MetricQuery("latency", 30, {"subject": "8"})
    )
    # no invocation of the canary version in the window: no data, never success
    assert result.value is None
    assert result.readings["stable"]["latency"] == 0.12  # Duration is in ms


def test_throttling_is_a_transient_error_the_engine_counts(stubbed: Any) -> None:
    client, stub = stubbed
    stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)
    reader = lambda_reader(
        {"functionName": "checkout", "alias": "live", "stable": "7", "canary": "8"},
        client=client, now=lambda: NOW,
    )  # fmt: skip
    with pytest.raises(TransientProviderError):
        RouterCounters(reader, "cw").query(MetricQuery("errorRate", 60, {"subject": "8"}))
