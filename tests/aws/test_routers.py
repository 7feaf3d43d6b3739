"""The three AWS routers against moto in-process: the shared contract, then what is theirs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.plan.targets import AwsAlbTarget, AwsLambdaTarget, AwsRoute53Target
from shipsafe.providers.registry import Registry
from shipsafe.providers.traffic.aws_alb import AwsAlbRouter
from shipsafe.providers.traffic.aws_lambda import AwsLambdaRouter
from shipsafe.providers.traffic.aws_route53 import AwsRoute53Router
from tests.aws.broken import unreachable_client
from tests.aws.worlds import REGION, FakeTime, make_alb, make_lambda, make_route53, stubbed_client
from tests.contract.router_contract import RouterContract

# contract ------------------------------------------------------------------------------------


class TestAlbListenerContract(RouterContract):
    @pytest.fixture
    def target(self, aws: Any) -> AwsAlbTarget:
        return AwsAlbTarget.model_validate(make_alb(aws).target())

    @pytest.fixture
    def router(self, target: AwsAlbTarget) -> AwsAlbRouter:
        return AwsAlbRouter(target)

    @pytest.fixture
    def broken_router(self, aws: Any, target: AwsAlbTarget) -> AwsAlbRouter:
        return AwsAlbRouter(target, client=unreachable_client(aws, "elbv2"))


class TestAlbRuleContract(RouterContract):
    @pytest.fixture
    def target(self, aws: Any) -> AwsAlbTarget:
        return AwsAlbTarget.model_validate(make_alb(aws).target(rule=True))

    @pytest.fixture
    def router(self, target: AwsAlbTarget) -> AwsAlbRouter:
        return AwsAlbRouter(target)

    @pytest.fixture
    def broken_router(self, aws: Any, target: AwsAlbTarget) -> AwsAlbRouter:
        return AwsAlbRouter(target, client=unreachable_client(aws, "elbv2"))


class TestLambdaContract(RouterContract):
    @pytest.fixture
    def target(self, aws: Any) -> AwsLambdaTarget:
        return AwsLambdaTarget.model_validate(make_lambda(aws).target())

    @pytest.fixture
    def router(self, target: AwsLambdaTarget) -> AwsLambdaRouter:
        return AwsLambdaRouter(target)

    @pytest.fixture
    def broken_router(self, aws: Any, target: AwsLambdaTarget) -> AwsLambdaRouter:
        return AwsLambdaRouter(target, client=unreachable_client(aws, "lambda"))


class TestRoute53Contract(RouterContract):
    @pytest.fixture
    def target(self, aws: Any) -> AwsRoute53Target:
        return AwsRoute53Target.model_validate(make_route53(aws).target())

    @pytest.fixture
    def router(self, target: AwsRoute53Target) -> AwsRoute53Router:
        return AwsRoute53Router(target)

    @pytest.fixture
    def broken_router(self, aws: Any, target: AwsRoute53Target) -> AwsRoute53Router:
        return AwsRoute53Router(target, client=unreachable_client(aws, "route53"))


# ALB ----------------------------------------------------------------------------------------


def _listener_actions(aws: Any, arn: str) -> list[dict[str, Any]]:
    elb = aws.client("elbv2")
    return list(elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"])


def test_alb_weights_are_forward_config_weights(aws: Any) -> None:
    world = make_alb(aws)
    router = AwsAlbRouter(AwsAlbTarget.model_validate(world.target()))
    router.set_weight(10)
    groups = _listener_actions(aws, world.listener_arn)[0]["ForwardConfig"]["TargetGroups"]
    assert {g["TargetGroupArn"]: g["Weight"] for g in groups} == {
        world.stable_tg: 90,
        world.canary_tg: 10,
    }


def test_alb_restore_puts_back_the_plain_forward_action(aws: Any) -> None:
    world = make_alb(aws)
    router = AwsAlbRouter(AwsAlbTarget.model_validate(world.target()))
    before = _listener_actions(aws, world.listener_arn)
    state = router.read_state()
    router.set_weight(50)
    router.restore(state)
    assert (
        _listener_actions(aws, world.listener_arn)
        == before
        == [{"Type": "forward", "TargetGroupArn": world.stable_tg}]
    )


def test_alb_rule_router_leaves_the_default_action_alone(aws: Any) -> None:
    world = make_alb(aws)
    before = _listener_actions(aws, world.listener_arn)
    router = AwsAlbRouter(AwsAlbTarget.model_validate(world.target(rule=True)))
    router.set_weight(25)
    assert router.get_weight() == 25
    assert _listener_actions(aws, world.listener_arn) == before


def test_alb_keeps_other_actions_and_stickiness(aws: Any) -> None:
    world = make_alb(aws)
    elb = aws.client("elbv2")
    sticky = {"Enabled": True, "DurationSeconds": 300}
    elb.modify_listener(
        ListenerArn=world.listener_arn,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": world.stable_tg, "Weight": 1}],
                    "TargetGroupStickinessConfig": sticky,
                },
            }
        ],
    )
    router = AwsAlbRouter(AwsAlbTarget.model_validate(world.target()))
    router.set_weight(5)
    action = _listener_actions(aws, world.listener_arn)[0]
    assert action["ForwardConfig"]["TargetGroupStickinessConfig"] == sticky


def test_alb_check_refuses_a_foreign_target_group(aws: Any) -> None:
    world = make_alb(aws)
    aws.client("elbv2").modify_listener(
        ListenerArn=world.listener_arn,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": world.other_tg}],
    )
    router = AwsAlbRouter(AwsAlbTarget.model_validate(world.target()))
    with pytest.raises(ConfigurationError, match="neither the stable nor the canary"):
        router.check()


def test_alb_check_names_a_missing_listener(aws: Any) -> None:
    world = make_alb(aws)
    target = world.target()
    target["listenerArn"] = world.listener_arn[:-4] + "dead"
    router = AwsAlbRouter(AwsAlbTarget.model_validate(target))
    with pytest.raises(ConfigurationError, match="ListenerNotFound"):
        router.check()


def test_alb_check_names_a_missing_target_group(aws: Any) -> None:
    world = make_alb(aws)
    target = world.target()
    target["canaryTargetGroupArn"] = world.canary_tg[:-4] + "dead"
    with pytest.raises(ConfigurationError, match=r"TargetGroupNotFound|not found"):
        AwsAlbRouter(AwsAlbTarget.model_validate(target)).check()


def test_alb_missing_listener_during_a_rollout_is_a_provider_error(aws: Any) -> None:
    """After traffic moved, a vanished listener must not look like 'nothing changed'."""
    world = make_alb(aws)
    target = world.target()
    target["listenerArn"] = world.listener_arn[:-4] + "dead"
    router = AwsAlbRouter(AwsAlbTarget.model_validate(target))
    with pytest.raises(ProviderError):
        router.set_weight(10)


def test_alb_check_refuses_a_rule_of_another_listener(aws: Any) -> None:
    world = make_alb(aws)
    target = world.target(rule=True)
    target["ruleArn"] = target["ruleArn"].replace("listener-rule/app/", "listener-rule/app/x")
    with pytest.raises(ConfigurationError, match="does not belong"):
        AwsAlbRouter(AwsAlbTarget.model_validate(target)).check()


def test_alb_config_rebuilds_the_router_through_the_registry(aws: Any) -> None:
    world = make_alb(aws)
    router = AwsAlbRouter(AwsAlbTarget.model_validate(world.target()))
    router.set_weight(20)
    again = Registry().router("aws-alb", router.config())
    assert again.get_weight() == 20
    assert router.config()["region"] == REGION


# Lambda -------------------------------------------------------------------------------------


def _alias(aws: Any, world: Any) -> dict[str, Any]:
    alias = aws.client("lambda").get_alias(FunctionName=world.function, Name=world.alias)
    return {"version": alias["FunctionVersion"], "routing": alias.get("RoutingConfig")}


def test_lambda_canary_share_is_an_additional_version_weight(aws: Any) -> None:
    world = make_lambda(aws)
    router = AwsLambdaRouter(AwsLambdaTarget.model_validate(world.target()))
    router.set_weight(10)
    assert _alias(aws, world) == {
        "version": world.stable,
        "routing": {"AdditionalVersionWeights": {world.canary: 0.1}},
    }


def test_lambda_weight_100_repoints_the_alias(aws: Any) -> None:
    world = make_lambda(aws)
    router = AwsLambdaRouter(AwsLambdaTarget.model_validate(world.target()))
    router.set_weight(50)
    router.set_weight(100)  # what promote sends
    alias = _alias(aws, world)
    assert alias["version"] == world.canary
    assert not (alias["routing"] or {}).get("AdditionalVersionWeights")


def test_lambda_restore_after_promote_puts_the_alias_back(aws: Any) -> None:
    world = make_lambda(aws)
    router = AwsLambdaRouter(AwsLambdaTarget.model_validate(world.target()))
    state = router.read_state()
    router.set_weight(100)
    router.restore(state)
    assert router.read_state() == state
    assert _alias(aws, world)["version"] == world.stable


def test_lambda_check_names_a_missing_version(aws: Any) -> None:
    world = make_lambda(aws)
    target = world.target()
    target["canary"] = "9"
    with pytest.raises(ConfigurationError, match="canary version 9"):
        AwsLambdaRouter(AwsLambdaTarget.model_validate(target)).check()


def test_lambda_check_names_a_missing_alias(aws: Any) -> None:
    world = make_lambda(aws)
    target = world.target()
    target["alias"] = "nope"
    with pytest.raises(ConfigurationError, match="ResourceNotFound"):
        AwsLambdaRouter(AwsLambdaTarget.model_validate(target)).check()


def test_lambda_refuses_an_alias_on_a_third_version(aws: Any) -> None:
    world = make_lambda(aws)
    target = world.target()
    target["stable"], target["canary"] = "3", world.canary
    router = AwsLambdaRouter(AwsLambdaTarget.model_validate(target))
    with pytest.raises(ProviderError, match="neither stable"):
        router.get_weight()


# Route 53 -----------------------------------------------------------------------------------


def _weights(aws: Any, world: Any) -> dict[str, int]:
    records = aws.client("route53").list_resource_record_sets(HostedZoneId=world.zone_id)
    return {
        r["SetIdentifier"]: r["Weight"]
        for r in records["ResourceRecordSets"]
        if r.get("SetIdentifier")
    }


def test_route53_weights_both_records_in_one_batch(aws: Any) -> None:
    world = make_route53(aws)
    router = AwsRoute53Router(AwsRoute53Target.model_validate(world.target()))
    router.set_weight(30)
    assert _weights(aws, world) == {"blue": 70, "green": 30}


def test_route53_check_names_a_missing_record(aws: Any) -> None:
    world = make_route53(aws)
    target = world.target()
    target["canary"] = "purple"
    with pytest.raises(ConfigurationError, match=r"'purple'.*found: blue, green"):
        AwsRoute53Router(AwsRoute53Target.model_validate(target)).check()


def test_route53_check_names_a_missing_zone(aws: Any) -> None:
    world = make_route53(aws)
    target = world.target()
    target["hostedZoneId"] = "ZNOSUCHZONE"
    with pytest.raises(ConfigurationError, match="NoSuchHostedZone"):
        AwsRoute53Router(AwsRoute53Target.model_validate(target)).check()


# Route 53 INSYNC (moto answers INSYNC at once: Stubber for PENDING) ------------------------


def _record(sid: str, weight: int) -> dict[str, Any]:
    return {
        "Name": "app.example.com.",
        "Type": "A",
        "SetIdentifier": sid,
        "Weight": weight,
        "TTL": 60,
        "ResourceRecords": [{"Value": "10.0.0.1" if sid == "blue" else "10.0.0.2"}],
    }


def _listing(blue: int, green: int) -> dict[str, Any]:
    return {
        "ResourceRecordSets": [_record("blue", blue), _record("green", green)],
        "IsTruncated": False,
        "MaxItems": "100",
    }




@pytest.fixture
def r53_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    with stubbed_client(monkeypatch, "route53", "us-east-1") as pair:
        yield pair


def _r53_router(client: Any, clock: FakeTime, timeout: str = "120s") -> AwsRoute53Router:
    target = AwsRoute53Target.model_validate(
        {
            "hostedZoneId": "Z1",
            "recordName": "app.example.com",
            "stable": "blue",
            "canary": "green",
            "syncTimeout": timeout,
        }
    )
    return AwsRoute53Router(target, client=client, sleep=clock.sleep, monotonic=clock.monotonic)


def _change(status: str) -> dict[str, Any]:
    return {
        "ChangeInfo": {
            "Id": "/change/C1",
            "Status": status,
            "SubmittedAt": datetime(2026, 3, 1, tzinfo=UTC),
        }
    }


def test_route53_waits_for_insync_then_reads_back(r53_stub: Any) -> None:
    client, stub = r53_stub
    stub.add_response("list_resource_record_sets", _listing(100, 0))
    stub.add_response(
        "change_resource_record_sets",
        _change("PENDING"),
        {
            "HostedZoneId": "Z1",
            "ChangeBatch": {
                "Comment": "shipsafe: canary 10%",
                "Changes": [
                    {"Action": "UPSERT", "ResourceRecordSet": _record("blue", 90)},
                    {"Action": "UPSERT", "ResourceRecordSet": _record("green", 10)},
                ],
            },
        },
    )
    stub.add_response("get_change", _change("PENDING"), {"Id": "/change/C1"})
    stub.add_response("get_change", _change("INSYNC"), {"Id": "/change/C1"})
    stub.add_response("list_resource_record_sets", _listing(90, 10))
    clock = FakeTime()
    _r53_router(client, clock).set_weight(10)
    assert clock.sleeps == [2.0, 2.0]


def test_route53_a_change_never_insync_is_an_error_after_the_timeout(r53_stub: Any) -> None:
    client, stub = r53_stub
    stub.add_response("list_resource_record_sets", _listing(100, 0))
    stub.add_response("change_resource_record_sets", _change("PENDING"))
    for _ in range(3):
        stub.add_response("get_change", _change("PENDING"))
    with pytest.raises(ProviderError, match="still PENDING after 6s"):
        _r53_router(client, FakeTime(), timeout="6s").set_weight(10)


def test_route53_same_weight_sends_no_change(r53_stub: Any) -> None:
    client, stub = r53_stub
    stub.add_response("list_resource_record_sets", _listing(75, 25))
    _r53_router(client, FakeTime()).set_weight(25)  # no change batch stubbed: none sent


def test_lambda_update_in_progress_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from botocore.stub import Stubber

    from shipsafe.errors import TransientProviderError

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    client = boto3.session.Session(region_name="us-east-1").client("lambda")
    target = AwsLambdaTarget(functionName="f", alias="live", stable="1", canary="2")
    with Stubber(client) as stub:
        stub.add_client_error(
            "update_alias", "ResourceConflictException", "An update is in progress", 409
        )
        with pytest.raises(TransientProviderError, match="update is in progress"):
            AwsLambdaRouter(target, client=client).set_weight(10)
