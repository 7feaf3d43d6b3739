"""Built-in checks (`builtin: errorRate | latency`) on AWS against the real moto server.

The data is what AWS documents that the services publish (checked against the AWS docs):

    AWS/ApplicationELB  RequestCount, HTTPCode_Target_5XX_Count (Sum) and TargetResponseTime
                        (Average, seconds), dimensions LoadBalancer (app/NAME/ID) +
                        TargetGroup (targetgroup/NAME/ID)
    AWS/Lambda          Invocations, Errors (Sum) and Duration (Average, milliseconds),
                        dimensions FunctionName + Resource (FUNCTION:ALIAS) + ExecutedVersion

put into moto's CloudWatch with PutMetricData beside decoys that carry other dimension sets
(the load balancer alone, an Availability Zone more, the alias without a version), which a
reader must not count. The readers are shipsafe's own (cloudwatch_counters.py through
RouterCounters, as the engine builds them); the deploys are `shipsafe deploy` processes with
a `builtin: errorRate` breaker against moto's ALB listener and Lambda alias, checked with the
AWS CLI.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from integration.aws.awscli import AwsCli
from integration.aws.rollouts import Shipsafe, render_plan
from integration.aws.test_aws_rollouts import (
    TABLE,
    alb_world,
    lambda_world,
    listener_actions,
    weights,
)
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.router_counters import build

pytestmark = pytest.mark.integration

ALB = "AWS/ApplicationELB"
LAMBDA = "AWS/Lambda"


@pytest.fixture
def shipsafe(aws_env: dict[str, str], tmp_path: Path) -> Shipsafe:
    tool = Shipsafe(aws_env, TABLE, tmp_path / "audit.jsonl")
    created = tool.init_store()
    assert created.code == 0, created.transcript()
    return tool


def put(boto: Any, namespace: str, name: str, values: list[float], **dimensions: str) -> None:
    """One datapoint per value, spread over the last 40 s (one CloudWatch minute or two)."""
    now = dt.datetime.now(dt.UTC)
    boto.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": now - dt.timedelta(seconds=2 + 38 * i / max(len(values), 1)),
                "Value": value,
            }
            for i, value in enumerate(values)
        ],
    )


def _group(arn: str) -> str:
    return arn.split(":", 5)[5]  # targetgroup/NAME/ID


def alb_traffic(
    boto: Any, world: dict[str, str], group: str, requests: list[float], errors: list[float],
    latency: list[float],
) -> None:
    dims = {"LoadBalancer": world["ALB_LOAD_BALANCER"], "TargetGroup": _group(group)}
    put(boto, ALB, "RequestCount", requests, **dims)
    put(boto, ALB, "HTTPCode_Target_5XX_Count", errors, **dims)
    put(boto, ALB, "TargetResponseTime", latency, **dims)


def lambda_traffic(
    boto: Any, world: dict[str, str], version: str, invocations: list[float],
    errors: list[float], duration_ms: list[float],
) -> None:
    function = world["LAMBDA_FUNCTION"]
    dims = {"FunctionName": function, "Resource": f"{function}:live", "ExecutedVersion": version}
    put(boto, LAMBDA, "Invocations", invocations, **dims)
    put(boto, LAMBDA, "Errors", errors, **dims)
    put(boto, LAMBDA, "Duration", duration_ms, **dims)


def alb_target(world: dict[str, str]) -> dict[str, Any]:
    return {
        "router": "aws-alb",
        "target": {
            "listenerArn": world["ALB_LISTENER_ARN"],
            "stableTargetGroupArn": world["ALB_STABLE_TG_ARN"],
            "canaryTargetGroupArn": world["ALB_CANARY_TG_ARN"],
        },
    }


def lambda_target(world: dict[str, str]) -> dict[str, Any]:
    return {
        "router": "aws-lambda",
        "target": {
            "functionName": world["LAMBDA_FUNCTION"],
            "alias": "live",
            "stable": world["STABLE_VERSION"],
            "canary": world["CANARY_VERSION"],
        },
    }


def read(config: dict[str, Any], check: str, subject: str) -> Any:
    source = build(config, "router")  # as the engine builds the built-in checks' source
    source.check()
    return source.query(MetricQuery(check, window_seconds=120, args={"subject": subject}))


# the readers ----------------------------------------------------------------------------------


def test_alb_reader_counts_each_target_group_from_its_documented_metrics(
    boto: Any, aws_env: dict[str, str]
) -> None:
    world = alb_world(boto)  # it also puts TargetResponseTime 0.12 (x3) for both groups
    stable, canary = world["ALB_STABLE_TG_ARN"], world["ALB_CANARY_TG_ARN"]
    alb_traffic(boto, world, stable, [400, 500], [1, 1], [0.12, 0.12, 0.12])
    alb_traffic(boto, world, canary, [30, 30, 40], [10, 10, 15], [0.6, 0.6, 0.6])
    # decoys: the balancer as a whole, and one Availability Zone of the canary group
    put(boto, ALB, "RequestCount", [5000], LoadBalancer=world["ALB_LOAD_BALANCER"])
    put(boto, ALB, "HTTPCode_Target_5XX_Count", [900], LoadBalancer=world["ALB_LOAD_BALANCER"])
    put(boto, ALB, "HTTPCode_Target_5XX_Count", [90], LoadBalancer=world["ALB_LOAD_BALANCER"],
        TargetGroup=_group(canary), AvailabilityZone="us-east-1a")  # fmt: skip

    errors = read(alb_target(world), "errorRate", _group(canary))
    assert errors.value == pytest.approx(35 / 100)
    assert errors.readings["canary"]["requests"] == 100
    assert errors.readings["canary"]["errors"] == 35
    assert errors.readings["stable"]["requests"] == 900
    assert errors.readings["stable"]["errorRate"] == pytest.approx(2 / 900)
    assert errors.readings["canary"]["errorRateLow"] > 0.25  # 35 of 100 shows it
    latency = read(alb_target(world), "latency", _group(canary))
    # the world's three 0.12 s and our three 0.6 s: CloudWatch's Average over six samples
    assert latency.value == pytest.approx(0.36)
    assert latency.readings["stable"]["latency"] == pytest.approx(0.12)
    # preflight asks the same of the stable group
    assert read(alb_target(world), "errorRate", _group(stable)).value == pytest.approx(2 / 900)


def test_lambda_reader_counts_each_version_behind_the_alias(
    boto: Any, aws_env: dict[str, str]
) -> None:
    world = lambda_world(boto)  # it also puts Errors 0 (x3) for both versions
    stable, canary = world["STABLE_VERSION"], world["CANARY_VERSION"]
    function = world["LAMBDA_FUNCTION"]
    lambda_traffic(boto, world, stable, [180, 200], [1, 0], [40, 60])
    lambda_traffic(boto, world, canary, [10, 10], [2, 3], [250, 350])
    # decoys: the alias over both versions, the function as a whole
    put(boto, LAMBDA, "Invocations", [9000], FunctionName=function, Resource=f"{function}:live")
    put(boto, LAMBDA, "Errors", [800], FunctionName=function, Resource=f"{function}:live")
    put(boto, LAMBDA, "Errors", [700], FunctionName=function)

    errors = read(lambda_target(world), "errorRate", canary)
    assert errors.value == pytest.approx(5 / 20)
    assert errors.readings["canary"]["requests"] == 20
    assert errors.readings["stable"] == pytest.approx(
        {"requests": 380, "errors": 1, "errorRate": 1 / 380,
         "errorRateLow": errors.readings["stable"]["errorRateLow"], "latency": 0.05}
    )  # fmt: skip
    latency = read(lambda_target(world), "latency", canary)
    assert latency.value == pytest.approx(0.3)  # Duration is in ms: (250 + 350) / 2 ms
    assert latency.readings["stable"]["latency"] == pytest.approx(0.05)


def test_a_canary_without_datapoints_is_no_data(boto: Any, aws_env: dict[str, str]) -> None:
    world = alb_world(boto)
    alb_traffic(boto, world, world["ALB_STABLE_TG_ARN"], [100], [0], [0.1])
    result = read(alb_target(world), "errorRate", _group(world["ALB_CANARY_TG_ARN"]))
    assert result.value is None
    assert "answered no request" in result.detail


# deploys with a built-in errorRate breaker -------------------------------------------------


def builtin_plan(name: str, world: dict[str, str], out: Path) -> Path:
    """plans/<name>.yaml as a test renders it, its checks replaced by one built-in errorRate
    breaker read every second over CloudWatch's last two minutes."""
    path = render_plan(name, world, out, pause="3s")
    plan = yaml.safe_load(path.read_text())
    plan["analysis"] = {
        "error-rate": {
            "builtin": "errorRate",
            "successCondition": "result < 0.05",
            "interval": "1s",
            "window": "120s",
            "noData": "fail",
        }
    }
    plan["breakerWarmup"] = "1s"
    plan["breakers"] = [{"analysis": "error-rate"}]
    plan["steps"] = [
        *[s for s in plan["steps"] if "snapshot" in s],
        {"setWeight": 10},
        {"pause": {"duration": "3s"}},
        {"setWeight": 100},
    ]
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def measurements(finished: Any) -> list[dict[str, Any]]:
    return [e for e in finished.of_type("measurement") if e["data"].get("run") == "breakers"]


@pytest.mark.parametrize("canary_5xx, code", [(0, 0), (40, 3)], ids=["healthy", "failing"])
def test_alb_deploy_with_builtin_error_rate_promotes_or_rolls_back_on_cloudwatch(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path, canary_5xx: int, code: int
) -> None:
    world = alb_world(boto)
    before = listener_actions(aws, world["ALB_LISTENER_ARN"])
    alb_traffic(boto, world, world["ALB_STABLE_TG_ARN"], [900], [2], [0.1])
    alb_traffic(boto, world, world["ALB_CANARY_TG_ARN"], [100], [canary_5xx], [0.1])
    finished = shipsafe.run("deploy", str(builtin_plan("aws-alb-canary", world, tmp_path)))
    assert finished.code == code, finished.transcript()
    readings = measurements(finished)
    assert readings, finished.transcript()
    assert readings[0]["data"]["value"] == pytest.approx(canary_5xx / 100)
    actions = listener_actions(aws, world["ALB_LISTENER_ARN"])
    if code == 0:
        assert weights(actions) == {world["ALB_STABLE_TG_ARN"]: 0, world["ALB_CANARY_TG_ARN"]: 100}
    else:
        assert finished.of_type("breaker_tripped"), finished.transcript()
        assert actions == before


@pytest.mark.parametrize("canary_errors, code", [(0, 0), (8, 3)], ids=["healthy", "failing"])
def test_lambda_deploy_with_builtin_error_rate_promotes_or_rolls_back_on_cloudwatch(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path, canary_errors: int, code: int
) -> None:
    world = lambda_world(boto)
    lambda_traffic(boto, world, world["STABLE_VERSION"], [400], [1], [40])
    lambda_traffic(boto, world, world["CANARY_VERSION"], [20], [canary_errors], [40])
    finished = shipsafe.run("deploy", str(builtin_plan("aws-lambda-canary", world, tmp_path)))
    assert finished.code == code, finished.transcript()
    readings = measurements(finished)
    assert readings, finished.transcript()
    assert readings[0]["data"]["value"] == pytest.approx(canary_errors / 20)
    alias = aws("lambda", "get-alias", "--function-name", "checkout-fn", "--name", "live")
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    if code == 0:
        assert alias["FunctionVersion"] == world["CANARY_VERSION"]
    else:
        assert finished.of_type("breaker_tripped"), finished.transcript()
        assert alias["FunctionVersion"] == world["STABLE_VERSION"]
