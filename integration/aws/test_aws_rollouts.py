"""Full `shipsafe deploy` rollouts against the moto server, each in its own process.

shipsafe is driven only through its command line and JSON lines; what it did to AWS is read
back with the AWS CLI pointed at the same endpoint, never with shipsafe's code. State is one
DynamoDB table on the moto server, shared by every shipsafe process of a test.
"""

from __future__ import annotations

import datetime as dt
import io
import signal
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from integration.aws.awscli import AwsCli
from integration.aws.rollouts import Shipsafe, render_plan
from integration.shipsafe_cli import Running
from tests.aws.worlds import put_alarm

pytestmark = pytest.mark.integration

TABLE = "shipsafe-state"


@pytest.fixture
def shipsafe(aws_env: dict[str, str], tmp_path: Path) -> Shipsafe:
    tool = Shipsafe(aws_env, TABLE, tmp_path / "audit.jsonl")
    created = tool.init_store()
    assert created.code == 0, created.transcript()
    return tool


def alarms(boto: Any, *names: str, state: str = "OK") -> None:
    for name in names:
        put_alarm(boto, name, state)


def metric(boto: Any, namespace: str, name: str, value: float, **dimensions: str) -> None:
    now = dt.datetime.now(dt.UTC)
    boto.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": now - dt.timedelta(seconds=s),
                "Value": value,
            }
            for s in (1, 5, 10)
        ],
    )


# ALB ----------------------------------------------------------------------------------------


def alb_world(boto: Any) -> dict[str, str]:
    ec2, elb = boto.client("ec2"), boto.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name="checkout", Subnets=subnets)["LoadBalancers"][0]
    groups = {
        color: elb.create_target_group(
            Name=f"checkout-{color}", Protocol="HTTP", Port=80, VpcId=vpc
        )["TargetGroups"][0]["TargetGroupArn"]
        for color in ("blue", "green")
    }
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )["Listeners"][0]["ListenerArn"]
    lb_dimension = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    alarms(boto, "checkout-canary-5xx", "checkout-canary-latency")
    for arn in groups.values():
        metric(
            boto,
            "AWS/ApplicationELB",
            "TargetResponseTime",
            0.12,
            LoadBalancer=lb_dimension,
            TargetGroup=arn.split(":", 5)[5],
        )
    return {
        "ALB_LISTENER_ARN": listener,
        "ALB_STABLE_TG_ARN": groups["blue"],
        "ALB_CANARY_TG_ARN": groups["green"],
        "ALB_LOAD_BALANCER": lb_dimension,
        "RELEASE": "2.4.0",
    }


def listener_actions(aws: AwsCli, arn: str) -> list[dict[str, Any]]:
    (listener,) = aws("elbv2", "describe-listeners", "--listener-arns", arn)["Listeners"]
    return list(listener["DefaultActions"])


def weights(actions: list[dict[str, Any]]) -> dict[str, int]:
    groups = actions[0]["ForwardConfig"]["TargetGroups"]
    return {g["TargetGroupArn"]: g["Weight"] for g in groups}


def test_alb_canary_is_promoted(boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path) -> None:
    world = alb_world(boto)
    plan = render_plan("aws-alb-canary", world, tmp_path)
    finished = shipsafe.run("deploy", str(plan))
    assert finished.code == 0, finished.transcript()
    assert weights(listener_actions(aws, world["ALB_LISTENER_ARN"])) == {
        world["ALB_STABLE_TG_ARN"]: 0,
        world["ALB_CANARY_TG_ARN"]: 100,
    }


def test_alb_alarm_in_alarm_rolls_back_to_the_exact_action(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path
) -> None:
    world = alb_world(boto)
    before = listener_actions(aws, world["ALB_LISTENER_ARN"])
    plan = render_plan("aws-alb-canary", world, tmp_path, pause="5m")
    running = shipsafe.start("deploy", str(plan))
    running.wait_for_type("weight_set", timeout=60, weight=25)
    assert (
        weights(listener_actions(aws, world["ALB_LISTENER_ARN"]))[world["ALB_CANARY_TG_ARN"]] == 25
    )
    aws(
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        "checkout-canary-5xx",
        "--state-value",
        "ALARM",
        "--state-reason",
        "5xx from the canary",
    )
    finished = running.wait(60)
    assert finished.code == 3, finished.transcript()
    assert finished.of_type("breaker_tripped")
    assert listener_actions(aws, world["ALB_LISTENER_ARN"]) == before


def test_two_processes_one_table_then_kill_and_roll_back_from_the_other(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path
) -> None:
    world = alb_world(boto)
    before = listener_actions(aws, world["ALB_LISTENER_ARN"])
    plan = render_plan("aws-alb-canary", world, tmp_path, pause="5m")
    first = shipsafe.start("deploy", str(plan), actor="ci-runner-1")
    started = first.wait_for_type("weight_set", timeout=60, weight=25)
    rollout_id = started["rollout_id"]

    second = shipsafe.run("deploy", str(plan), actor="ci-runner-2", timeout=60)
    assert second.code == 6, second.transcript()
    assert "locked by rollout" in second.transcript()
    assert first.popen.poll() is None  # the first one still drives its rollout

    first.kill(signal.SIGKILL)  # a CI runner dies mid-rollout, traffic at 25%
    assert (
        weights(listener_actions(aws, world["ALB_LISTENER_ARN"]))[world["ALB_CANARY_TG_ARN"]] == 25
    )
    # Wait out the dead driver's lease: a command sent while the lease still looks live waits
    # for that driver and does not take over when the lease lapses (engine/control.py
    # _wait_for_driver; reported to the lead).
    time.sleep(float(shipsafe.env["SHIPSAFE_LEASE_SECONDS"]) + 1.5)

    rolled = shipsafe.run(
        "rollback", rollout_id, "--reason", "runner died", actor="oncall", timeout=90
    )
    assert rolled.code == 0, rolled.transcript()
    assert listener_actions(aws, world["ALB_LISTENER_ARN"]) == before


# Lambda -------------------------------------------------------------------------------------


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", text)
    return buf.getvalue()


def lambda_world(boto: Any) -> dict[str, str]:
    iam, lam, rds = boto.client("iam"), boto.client("lambda"), boto.client("rds")
    role = iam.create_role(RoleName="checkout-fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName="checkout-fn",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": _zip("def handle(e, c): 1")},
    )
    stable = lam.publish_version(FunctionName="checkout-fn")["Version"]
    lam.update_function_code(FunctionName="checkout-fn", ZipFile=_zip("def handle(e, c): 2"))
    canary = lam.publish_version(FunctionName="checkout-fn")["Version"]
    lam.create_alias(FunctionName="checkout-fn", Name="live", FunctionVersion=stable)
    rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="secret-password",
        AllocatedStorage=20,
    )
    alarms(boto, "checkout-fn-errors", "checkout-fn-throttles")
    for version in (stable, canary):
        metric(
            boto,
            "AWS/Lambda",
            "Errors",
            0,
            FunctionName="checkout-fn",
            Resource="checkout-fn:live",
            ExecutedVersion=version,
        )
    return {
        "LAMBDA_FUNCTION": "checkout-fn",
        "STABLE_VERSION": stable,
        "CANARY_VERSION": canary,
        "DB_INSTANCE": "orders",
        "RELEASE": "2.4.0",
    }


def test_lambda_canary_is_promoted_after_an_rds_snapshot(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path
) -> None:
    world = lambda_world(boto)
    plan = render_plan("aws-lambda-canary", world, tmp_path)
    finished = shipsafe.run("deploy", str(plan))
    assert finished.code == 0, finished.transcript()
    alias = aws("lambda", "get-alias", "--function-name", "checkout-fn", "--name", "live")
    assert alias["FunctionVersion"] == world["CANARY_VERSION"]
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    snapshots = aws("rds", "describe-db-snapshots", "--db-instance-identifier", "orders")
    (snapshot,) = [s for s in snapshots["DBSnapshots"] if s["SnapshotType"] == "manual"]
    assert snapshot["Status"] == "available"
    (taken,) = finished.of_type("data_snapshot_taken")
    assert taken["data"]["snapshot"]["id"] == snapshot["DBSnapshotIdentifier"]


def test_lambda_rollback_restores_the_alias_exactly(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path
) -> None:
    world = lambda_world(boto)
    before = aws("lambda", "get-alias", "--function-name", "checkout-fn", "--name", "live")
    plan = render_plan("aws-lambda-canary", world, tmp_path, pause="5m")
    running = shipsafe.start("deploy", str(plan))
    event = running.wait_for_type("weight_set", timeout=60, weight=10)
    during = aws("lambda", "get-alias", "--function-name", "checkout-fn", "--name", "live")
    assert during["RoutingConfig"]["AdditionalVersionWeights"] == {world["CANARY_VERSION"]: 0.1}
    rolled = shipsafe.run("rollback", event["rollout_id"], actor="oncall")
    assert rolled.code == 0, rolled.transcript()
    finished = running.wait(60)
    assert finished.code in (0, 3), finished.transcript()
    after = aws("lambda", "get-alias", "--function-name", "checkout-fn", "--name", "live")
    assert after["FunctionVersion"] == before["FunctionVersion"] == world["STABLE_VERSION"]
    assert not (after.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


# Route 53 -----------------------------------------------------------------------------------


def route53_world(boto: Any) -> dict[str, str]:
    r53 = boto.client("route53")
    zone = r53.create_hosted_zone(Name="example.com", CallerReference="it")["HostedZone"]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "app.example.com",
                "Type": "A",
                "SetIdentifier": sid,
                "Weight": weight,
                "TTL": 30,
                "ResourceRecords": [{"Value": ip}],
            },
        }
        for sid, weight, ip in (("blue", 100, "10.0.0.1"), ("green", 0, "10.0.0.2"))
    ]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    alarms(boto, "app-green-health", "app-green-errors")
    return {
        "HOSTED_ZONE_ID": zone.rsplit("/", 1)[-1],
        "RECORD_NAME": "app.example.com",
        "RELEASE": "2.4.0",
    }


def record_weights(aws: AwsCli, zone: str) -> dict[str, int]:
    records = aws("route53", "list-resource-record-sets", "--hosted-zone-id", zone)
    return {
        r["SetIdentifier"]: r["Weight"]
        for r in records["ResourceRecordSets"]
        if r["Name"] == "app.example.com." and "SetIdentifier" in r
    }


def test_route53_weights_move_to_green(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path
) -> None:
    world = route53_world(boto)
    plan = render_plan("aws-route53-weighted", world, tmp_path)
    running = shipsafe.start("deploy", str(plan))
    running.wait_for_type("weight_set", timeout=60, weight=50)
    finished = running.wait(90)
    assert finished.code == 0, finished.transcript()
    assert record_weights(aws, world["HOSTED_ZONE_ID"]) == {"blue": 0, "green": 100}


def test_route53_breaker_puts_the_records_back(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path
) -> None:
    world = route53_world(boto)
    plan = render_plan("aws-route53-weighted", world, tmp_path, pause="5m")
    running = shipsafe.start("deploy", str(plan))
    running.wait_for_type("weight_set", timeout=60, weight=10)
    assert record_weights(aws, world["HOSTED_ZONE_ID"]) == {"blue": 90, "green": 10}
    aws(
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        "app-green-health",
        "--state-value",
        "ALARM",
        "--state-reason",
        "health check failing",
    )
    finished = running.wait(60)
    assert finished.code == 3, finished.transcript()
    assert record_weights(aws, world["HOSTED_ZONE_ID"]) == {"blue": 100, "green": 0}


# the S3 audit sink --------------------------------------------------------------------------


def test_audit_records_mirrored_to_s3_verify_from_s3_alone(
    boto: Any, aws: AwsCli, shipsafe: Shipsafe, tmp_path: Path
) -> None:
    aws("s3api", "create-bucket", "--bucket", "audit")
    aws(
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        "audit",
        "--versioning-configuration",
        "Status=Enabled",
    )
    world = route53_world(boto)
    plan = render_plan("aws-route53-weighted", world, tmp_path)
    shipsafe.env["SHIPSAFE_AUDIT_S3"] = "s3://audit/staging/app"
    finished = shipsafe.run("deploy", str(plan))
    assert finished.code == 0, finished.transcript()
    listed = aws("s3api", "list-objects-v2", "--bucket", "audit", "--prefix", "staging/app/")
    assert listed and listed.get("Contents"), "nothing was mirrored to S3"
    keys = [o["Key"] for o in listed["Contents"]]
    local = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert keys == [f"staging/app/{i:012d}.json" for i in range(1, len(local) + 1)]

    verify = [
        sys.executable,
        "-m",
        "shipsafe",
        "audit",
        "verify",
        "--source",
        "s3://audit/staging/app",
    ]
    good = Running(verify, shipsafe.env).wait(60)
    assert good.code == 0, good.transcript()

    forged = tmp_path / "forged.json"
    forged.write_text('{"seq": 2, "type": "notice", "message": "nothing happened"}')
    aws("s3api", "put-object", "--bucket", "audit", "--key", keys[1], "--body", str(forged))
    bad = Running(verify, shipsafe.env).wait(60)
    assert bad.code == 5, bad.transcript()
