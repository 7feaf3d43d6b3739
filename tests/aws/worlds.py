"""AWS resources for tests, built with plain boto3 (moto in-process or the moto server).

Each builder returns the identifiers a plan needs. Used by tests/aws and integration/aws.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"


@dataclass
class AlbWorld:
    listener_arn: str
    rule_arn: str
    stable_tg: str
    canary_tg: str
    other_tg: str

    def target(self, rule: bool = False) -> dict[str, Any]:
        body = {
            "listenerArn": self.listener_arn,
            "stableTargetGroupArn": self.stable_tg,
            "canaryTargetGroupArn": self.canary_tg,
        }
        if rule:
            body["ruleArn"] = self.rule_arn
        return body


def make_alb(session: Any, name: str = "checkout") -> AlbWorld:
    ec2 = session.client("ec2", region_name=REGION)
    elb = session.client("elbv2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name=f"{name}-lb", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]

    def tg(suffix: str) -> str:
        return str(
            elb.create_target_group(Name=f"{name}-{suffix}", Protocol="HTTP", Port=80, VpcId=vpc)[
                "TargetGroups"
            ][0]["TargetGroupArn"]
        )

    stable, canary, other = tg("blue"), tg("green"), tg("other")
    listener = elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": stable}],
    )["Listeners"][0]["ListenerArn"]
    rule = elb.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": stable}],
    )["Rules"][0]["RuleArn"]
    return AlbWorld(listener, rule, stable, canary, other)


@dataclass
class LambdaWorld:
    function: str
    alias: str
    stable: str
    canary: str

    def target(self) -> dict[str, Any]:
        return {
            "functionName": self.function,
            "alias": self.alias,
            "stable": self.stable,
            "canary": self.canary,
        }


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", text)
    return buf.getvalue()


def make_lambda(session: Any, name: str = "checkout", alias: str = "live") -> LambdaWorld:
    iam = session.client("iam", region_name=REGION)
    lam = session.client("lambda", region_name=REGION)
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": _zip("def handle(e, c):\n    return 1\n")},
    )
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_code(FunctionName=name, ZipFile=_zip("def handle(e, c):\n    return 2\n"))
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=v1)
    return LambdaWorld(name, alias, str(v1), str(v2))


@dataclass
class Route53World:
    zone_id: str
    name: str

    def target(self) -> dict[str, Any]:
        return {
            "hostedZoneId": self.zone_id,
            "recordName": self.name,
            "recordType": "A",
            "stable": "blue",
            "canary": "green",
        }


def make_route53(session: Any, domain: str = "example.com") -> Route53World:
    r53 = session.client("route53", region_name=REGION)
    zone = r53.create_hosted_zone(Name=domain, CallerReference=f"shipsafe-{domain}")["HostedZone"][
        "Id"
    ]
    name = f"app.{domain}"

    def record(sid: str, weight: int, ip: str) -> dict[str, Any]:
        return {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": name,
                "Type": "A",
                "SetIdentifier": sid,
                "Weight": weight,
                "TTL": 60,
                "ResourceRecords": [{"Value": ip}],
            },
        }

    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Changes": [record("blue", 100, "10.0.0.1"), record("green", 0, "10.0.0.2")]},
    )
    return Route53World(zone.rsplit("/", 1)[-1], name)


class FakeTime:
    """sleep/monotonic for providers that wait on AWS: time passes only when they sleep."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def monotonic(self) -> float:
        return self.t


@contextmanager
def stubbed_client(monkeypatch: Any, service: str, region: str) -> Iterator[tuple[Any, Any]]:
    """A real boto3 client behind botocore's Stubber: for what moto never shows. Every
    queued response must be used by the end."""
    import boto3
    from botocore.stub import Stubber

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.session.Session(region_name=region).client(service)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def put_alarm(session: Any, name: str, state: str) -> None:
    """A CloudWatch alarm in a given state (moto never evaluates alarms: the state is set)."""
    cw = session.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="Shop",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
