"""The cloudwatch metric source: metrics and alarms on moto; metric math and the answers moto
never gives (partial data, errors, several series) with botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipsafe.errors import ConfigurationError, ProviderError, TransientProviderError
from shipsafe.plan.sources import CloudWatchSource
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.cloudwatch import CloudWatchMetrics
from shipsafe.providers.registry import Registry
from tests.aws.worlds import put_alarm, stubbed_client

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def source(client: Any = None, now: Any = None) -> CloudWatchMetrics:
    config = CloudWatchSource(provider="cloudwatch")
    if now is None:
        return CloudWatchMetrics(config, "cw", client=client)
    return CloudWatchMetrics(config, "cw", client=client, now=now)


def put(aws: Any, value: float, ago: float, name: str = "Errors") -> None:
    aws.client("cloudwatch").put_metric_data(
        Namespace="Shop",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "Service", "Value": "checkout"}],
                "Timestamp": datetime.now(UTC) - timedelta(seconds=ago),
                "Value": value,
            }
        ],
    )


ERRORS = "METRIC(Shop, Errors, Sum, Service=checkout)"


# metrics on moto ------------------------------------------------------------------------------


def test_inline_metric_returns_the_sum_in_the_window(aws: Any) -> None:
    put(aws, 3, ago=5)
    put(aws, 4, ago=10)
    result = source().query(MetricQuery(ERRORS, window_seconds=60))
    assert result.value == 7.0
    assert '"MetricName":"Errors"' in result.sent


def test_no_datapoints_is_no_data_not_zero(aws: Any) -> None:
    result = source().query(MetricQuery(ERRORS, window_seconds=60))
    assert result.value is None


def test_datapoints_outside_the_window_do_not_count(aws: Any) -> None:
    put(aws, 9, ago=3600)
    assert source().query(MetricQuery(ERRORS, window_seconds=60)).value is None


def test_metric_by_id_from_args(aws: Any) -> None:
    put(aws, 2, ago=5)
    args = {
        "metrics": {
            "errors": {
                "namespace": "Shop",
                "metricName": "Errors",
                "dimensions": {"Service": "checkout"},
                "stat": "Maximum",
            }
        }
    }
    assert source().query(MetricQuery("errors", 60, args)).value == 2.0


def test_source_is_built_through_the_registry(aws: Any) -> None:
    put(aws, 1, ago=5)
    built = Registry().metric_source("cw", {"provider": "cloudwatch", "region": "us-east-1"})
    built.check()
    assert built.query(MetricQuery(ERRORS, 60)).value == 1.0


@pytest.mark.parametrize(
    "text",
    ["METRIC(Shop, Errors)", "METRIC(Shop, Errors, Sum, Service)"],
)
def test_a_malformed_inline_metric_is_an_error(aws: Any, text: str) -> None:
    with pytest.raises(ProviderError, match="METRIC"):
        source().query(MetricQuery(text, 60))


def test_a_bad_period_is_an_error(aws: Any) -> None:
    with pytest.raises(ProviderError, match="multiple of 60"):
        source().query(MetricQuery(ERRORS, 60, {"period": 90}))


# alarms on moto (moto never evaluates alarms: their state is set with set_alarm_state) -----


def test_alarms_count_those_in_alarm(aws: Any) -> None:
    put_alarm(aws, "checkout-5xx", "ALARM")
    put_alarm(aws, "checkout-latency", "OK")
    result = source().query(MetricQuery("ALARMS(checkout-5xx, checkout-latency)"))
    assert result.value == 1.0
    assert result.detail == "in ALARM: checkout-5xx"  # the one that fired, by name


def test_alarms_all_ok_is_zero(aws: Any) -> None:
    put_alarm(aws, "a", "OK")
    put_alarm(aws, "b", "OK")
    assert source().query(MetricQuery("ALARMS(a, b)")).value == 0.0


def test_a_missing_alarm_is_an_error(aws: Any) -> None:
    put_alarm(aws, "a", "OK")
    with pytest.raises(ProviderError, match="alarm typo not found"):
        source().query(MetricQuery("ALARMS(a, typo)"))


def test_insufficient_data_is_no_data_unless_told_otherwise(aws: Any) -> None:
    put_alarm(aws, "a", "INSUFFICIENT_DATA")
    put_alarm(aws, "b", "OK")
    assert source().query(MetricQuery("ALARMS(a, b)")).value is None
    assert source().query(MetricQuery("ALARMS(a, b)", args={"insufficientData": "ok"})).value == 0


def test_an_alarm_in_alarm_wins_over_insufficient_data(aws: Any) -> None:
    put_alarm(aws, "a", "INSUFFICIENT_DATA")
    put_alarm(aws, "b", "ALARM")
    assert source().query(MetricQuery("ALARMS(a, b)")).value == 1.0


# Stubber: what moto does not do ------------------------------------------------------------


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    with stubbed_client(monkeypatch, "cloudwatch", "us-east-1") as pair:
        yield pair


def _result(rid: str, values: list[float], status: str = "Complete", label: str = "") -> dict:
    return {
        "Id": rid,
        "Label": label or rid,
        "Timestamps": [NOW - timedelta(minutes=i) for i in range(len(values))],
        "Values": values,
        "StatusCode": status,
    }


def test_metric_math_sends_the_expression_and_hides_its_inputs(stubbed: Any) -> None:
    client, stub = stubbed
    args = {
        "stat": "Sum",
        "metrics": {
            "errors": {
                "namespace": "AWS/ApplicationELB",
                "metricName": "HTTPCode_Target_5XX_Count",
            },
            "requests": {"namespace": "AWS/ApplicationELB", "metricName": "RequestCount"},
        },
    }
    expected = {
        "MetricDataQueries": [
            {
                "Id": "errors",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": "HTTPCode_Target_5XX_Count",
                        "Dimensions": [],
                    },
                    "Period": 120,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {
                "Id": "requests",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": "RequestCount",
                        "Dimensions": [],
                    },
                    "Period": 120,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "result", "Expression": "errors / requests", "Period": 120, "ReturnData": True},
        ],
        "StartTime": NOW - timedelta(seconds=120),
        "EndTime": NOW,
        "ScanBy": "TimestampDescending",
    }
    stub.add_response(
        "get_metric_data", {"MetricDataResults": [_result("result", [0.02, 0.5])]}, expected
    )
    result = source(client, now=lambda: NOW).query(MetricQuery("errors / requests", 90, args))
    assert result.value == 0.02  # the newest datapoint (reduce: last)


def test_partial_data_pages_are_followed_and_reduced(stubbed: Any) -> None:
    client, stub = stubbed
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [_result("result", [1.0, 5.0], "PartialData")], "NextToken": "t"},
    )
    stub.add_response("get_metric_data", {"MetricDataResults": [_result("result", [3.0])]})
    result = source(client, now=lambda: NOW).query(MetricQuery(ERRORS, 300, {"reduce": "max"}))
    assert result.value == 5.0


def test_an_expression_returning_several_series_is_an_error(stubbed: Any) -> None:
    client, stub = stubbed
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                _result("result", [1.0], label="tg-a"),
                _result("result", [2.0], label="tg-b"),
            ]
        },
    )
    with pytest.raises(ProviderError, match="2 series"):
        source(client, now=lambda: NOW).query(MetricQuery("SEARCH('x', 'Sum')", 60))


def test_an_internal_error_result_is_an_error(stubbed: Any) -> None:
    client, stub = stubbed
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {
                    **_result("result", []),
                    "StatusCode": "InternalError",
                    "Messages": [{"Code": "X", "Value": "math failed"}],
                }
            ]
        },
    )
    with pytest.raises(ProviderError, match="InternalError math failed"):
        source(client, now=lambda: NOW).query(MetricQuery("a / b", 60))


def test_throttling_is_transient_and_access_denied_is_configuration(stubbed: Any) -> None:
    client, stub = stubbed
    stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)
    with pytest.raises(TransientProviderError, match="Throttling"):
        source(client, now=lambda: NOW).query(MetricQuery(ERRORS, 60))
    stub.add_client_error("describe_alarms", "AccessDenied", "no", 403)
    with pytest.raises(ConfigurationError, match="access denied"):
        source(client).check()


def test_composite_alarms_count_too(stubbed: Any) -> None:
    client, stub = stubbed
    stub.add_response(
        "describe_alarms",
        {
            "MetricAlarms": [{"AlarmName": "a", "StateValue": "OK"}],
            "CompositeAlarms": [{"AlarmName": "all", "StateValue": "ALARM"}],
        },
        {"AlarmNames": ["a", "all"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]},
    )
    assert source(client).query(MetricQuery("ALARMS(a, all)")).value == 1.0


def test_inline_metrics_inside_math_become_hidden_inputs(stubbed: Any) -> None:
    """FILL(..., 0): ALB publishes no 5xx datapoint when there were none."""
    client, stub = stubbed

    def metric(name: str) -> dict[str, Any]:
        return {
            "Metric": {
                "Namespace": "AWS/ApplicationELB",
                "MetricName": name,
                "Dimensions": [{"Name": "TargetGroup", "Value": "targetgroup/green/2"}],
            },
            "Period": 60,
            "Stat": "Sum",
        }

    expected = {
        "MetricDataQueries": [
            {
                "Id": "inline0",
                "MetricStat": metric("HTTPCode_Target_5XX_Count"),
                "ReturnData": False,
            },
            {"Id": "inline1", "MetricStat": metric("RequestCount"), "ReturnData": False},
            {
                "Id": "result",
                "Expression": "FILL(inline0, 0) / inline1",
                "Period": 60,
                "ReturnData": True,
            },
        ],
        "StartTime": NOW - timedelta(seconds=60),
        "EndTime": NOW,
        "ScanBy": "TimestampDescending",
    }
    stub.add_response(
        "get_metric_data", {"MetricDataResults": [_result("result", [0.0])]}, expected
    )
    text = (
        "FILL(METRIC(AWS/ApplicationELB, HTTPCode_Target_5XX_Count, Sum, "
        "TargetGroup=targetgroup/green/2), 0) / METRIC(AWS/ApplicationELB, RequestCount, Sum, "
        "TargetGroup=targetgroup/green/2)"
    )
    assert source(client, now=lambda: NOW).query(MetricQuery(text, 30)).value == 0.0


# ranges (judge checks) --------------------------------------------------------------------


def test_a_range_is_one_datapoint_per_period_oldest_first(aws: Any) -> None:
    put(aws, 3, ago=150)
    put(aws, 4, ago=90)
    put(aws, 5, ago=30)
    end = datetime.now(UTC).timestamp()
    result = source().query_range(ERRORS, end - 240, end, 60)
    values = [v for _, v in result.points]
    stamps = [t for t, _ in result.points]
    assert sorted(values) == [3.0, 4.0, 5.0] and stamps == sorted(stamps)
    assert '"Period":60' in result.sent


def test_a_range_with_no_datapoints_is_no_data(aws: Any) -> None:
    end = datetime.now(UTC).timestamp()
    assert source().query_range(ERRORS, end - 600, end, 60).points == ()


def test_alarms_have_no_range(aws: Any) -> None:
    with pytest.raises(ProviderError, match="not a series"):
        source().query_range("ALARMS(checkout-5xx)", 0.0, 600.0, 60)


def test_a_range_step_must_be_a_cloudwatch_period(aws: Any) -> None:
    with pytest.raises(ProviderError, match="multiple of 60"):
        source().query_range(ERRORS, 0.0, 600.0, 45)
