"""The cloudwatch source passes the metric source contract on moto. The one answer moto
never gives, an expression returning several series, comes from a `before-call` hook on the
same client that answers for that query only (everything else goes to moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipsafe.plan.sources import CloudWatchSource
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.cloudwatch import CloudWatchMetrics
from tests.aws.broken import unreachable_client
from tests.aws.worlds import REGION
from tests.contract.metric_source_contract import VALUE, MetricSourceContract, Queries

SEVERAL = "SEARCH('{Shop,Service} MetricName=\"Errors\"', 'Sum', 60)"


def several_series_for_search(params: dict[str, Any], **_: Any) -> Any:
    """Answer GetMetricData for the SEARCH expression with two series, as CloudWatch does
    for a search matching two services; None lets every other call through to moto."""
    # `params` is the request as serialized for the wire (a dict of form fields, or bytes)
    if "SEARCH(" not in str(params.get("body", "")):
        return None
    now = datetime.now(UTC)
    results = [
        {"Id": "result", "Label": label, "Timestamps": [now - timedelta(seconds=30)],
         "Values": [1.0], "StatusCode": "Complete"}
        for label in ("checkout", "payments")
    ]
    from botocore.awsrequest import AWSResponse

    http = AWSResponse("https://monitoring.test/", 200, {}, None)
    return http, {"MetricDataResults": results, "Messages": []}


def cloudwatch(client: Any) -> CloudWatchMetrics:
    return CloudWatchMetrics(CloudWatchSource(provider="cloudwatch"), "cw", client=client)


class TestCloudWatchContract(MetricSourceContract):
    @pytest.fixture
    def source(self, aws: Any) -> CloudWatchMetrics:
        aws.client("cloudwatch").put_metric_data(
            Namespace="Shop",
            MetricData=[{
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Service", "Value": "checkout"}],
                "Timestamp": datetime.now(UTC) - timedelta(seconds=5),
                "Value": VALUE,
            }],
        )
        client = aws.client("cloudwatch", region_name=REGION)
        client.meta.events.register(
            "before-call.cloudwatch.GetMetricData", several_series_for_search
        )
        return cloudwatch(client)

    @pytest.fixture
    def queries(self) -> Queries:
        return Queries(
            value=MetricQuery("METRIC(Shop, Latency, Sum, Service=checkout)", 60),
            no_data=MetricQuery("METRIC(Shop, Nothing, Sum, Service=checkout)", 60),
            several=MetricQuery(SEVERAL, 60),
            error=MetricQuery("ALARMS(no-such-alarm)", 60),
        )

    @pytest.fixture
    def broken_source(self, aws: Any) -> CloudWatchMetrics:
        return cloudwatch(unreachable_client(aws, "cloudwatch"))
