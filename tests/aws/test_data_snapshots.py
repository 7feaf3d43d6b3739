"""aws-rds and aws-ebs data snapshots: moto for the happy paths (its snapshots are available
at once), botocore's Stubber for `creating`/`pending`, failures and timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.providers.registry import Registry
from shipsafe.providers.snapshots.aws_ebs import AwsEbsSnapshotConfig, AwsEbsSnapshots
from shipsafe.providers.snapshots.aws_rds import AwsRdsSnapshotConfig, AwsRdsSnapshots
from tests.aws.worlds import FakeTime, stubbed_client

NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def make_db(aws: Any, name: str = "orders") -> None:
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="secret-password",
        AllocatedStorage=20,
    )


# RDS on moto --------------------------------------------------------------------------------


def test_rds_instance_snapshot_is_taken_and_recorded(aws: Any) -> None:
    make_db(aws)
    snaps = Registry().data_snapshot(
        "db", {"provider": "aws-rds", "dbInstanceIdentifier": "orders"}
    )
    record = snaps.take("r-0001 migrate-orders")
    assert record["provider"] == "aws-rds" and record["status"] == "available"
    assert record["id"].startswith("shipsafe-r-0001-migrate-orders-")
    described = aws.client("rds").describe_db_snapshots(DBSnapshotIdentifier=record["id"])
    (snap,) = described["DBSnapshots"]
    assert snap["DBInstanceIdentifier"] == "orders"
    snaps.verify(record)
    hint = snaps.restore_hint(record)
    assert f"--db-snapshot-identifier {record['id']}" in hint
    assert hint.startswith("aws rds restore-db-instance-from-db-snapshot --region us-east-1")


def test_rds_verify_fails_once_the_snapshot_is_gone(aws: Any) -> None:
    make_db(aws)
    snaps = AwsRdsSnapshots(AwsRdsSnapshotConfig(provider="aws-rds", dbInstanceIdentifier="orders"))
    record = snaps.take("before")
    aws.client("rds").delete_db_snapshot(DBSnapshotIdentifier=record["id"])
    with pytest.raises(ProviderError, match=record["id"]):
        snaps.verify(record)


def test_rds_snapshot_of_a_missing_database_is_a_configuration_error(aws: Any) -> None:
    snaps = AwsRdsSnapshots(AwsRdsSnapshotConfig(provider="aws-rds", dbInstanceIdentifier="nope"))
    with pytest.raises(ConfigurationError, match="DBInstanceNotFound"):
        snaps.take("before")


def test_rds_cluster_snapshot(aws: Any) -> None:
    aws.client("rds").create_db_cluster(
        DBClusterIdentifier="orders-cluster",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="secret-password",
    )
    snaps = AwsRdsSnapshots(
        AwsRdsSnapshotConfig(provider="aws-rds", dbClusterIdentifier="orders-cluster")
    )
    record = snaps.take("before")
    assert record["kind"] == "cluster" and record["status"] == "available"
    snaps.verify(record)
    assert "restore-db-cluster-from-snapshot" in snaps.restore_hint(record)
    assert "--engine aurora-postgresql" in snaps.restore_hint(record)


def test_rds_config_wants_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        AwsRdsSnapshotConfig(provider="aws-rds")
    with pytest.raises(ValueError, match="exactly one"):
        AwsRdsSnapshotConfig(provider="aws-rds", dbInstanceIdentifier="a", dbClusterIdentifier="b")


# EBS on moto --------------------------------------------------------------------------------


def make_volume(aws: Any) -> str:
    volume = aws.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=8)
    return str(volume["VolumeId"])


def test_ebs_snapshot_is_taken_verified_and_named(aws: Any) -> None:
    volume = make_volume(aws)
    snaps = Registry().data_snapshot("disk", {"provider": "aws-ebs", "volumeId": volume})
    record = snaps.take("r-0001 before")
    assert record["status"] == "completed" and record["volumeId"] == volume
    assert record["restoreHint"] == snaps.restore_hint(record)
    snaps.verify(record)
    assert f"--snapshot-id {record['id']} --availability-zone us-east-1a" in snaps.restore_hint(
        record
    )
    aws.client("ec2").delete_snapshot(SnapshotId=record["id"])
    with pytest.raises(ProviderError):
        snaps.verify(record)


def test_ebs_snapshot_of_a_missing_volume_is_a_configuration_error(aws: Any) -> None:
    snaps = AwsEbsSnapshots(
        AwsEbsSnapshotConfig(provider="aws-ebs", volumeId="vol-0123456789abcdef0")
    )
    with pytest.raises(ConfigurationError, match="NotFound"):
        snaps.take("before")


# Stubber: what moto never shows ------------------------------------------------------------




@pytest.fixture
def rds_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    with stubbed_client(monkeypatch, "rds", "eu-west-1") as pair:
        yield pair


def _rds(client: Any, clock: FakeTime, timeout: float = 3600) -> AwsRdsSnapshots:
    config = AwsRdsSnapshotConfig(
        provider="aws-rds", dbInstanceIdentifier="orders", waitTimeout=timeout, pollInterval=15
    )
    return AwsRdsSnapshots(
        config, client=client, sleep=clock.sleep, monotonic=clock.monotonic, now=lambda: NOW
    )


def _snapshot(status: str) -> dict[str, Any]:
    return {
        "DBSnapshots": [
            {
                "DBSnapshotIdentifier": "shipsafe-before-20260301120005",
                "DBInstanceIdentifier": "orders",
                "Status": status,
                "Engine": "postgres",
                "DBSnapshotArn": "arn:aws:rds:eu-west-1:1:snapshot:shipsafe-before-20260301120005",
            }
        ]
    }


def test_rds_waits_through_creating_until_available(rds_stub: Any) -> None:
    client, stub = rds_stub
    sid = "shipsafe-before-20260301120005"
    stub.add_response(
        "create_db_snapshot",
        {"DBSnapshot": {"DBSnapshotIdentifier": sid, "Status": "creating"}},
        {
            "DBSnapshotIdentifier": sid,
            "DBInstanceIdentifier": "orders",
            "Tags": [{"Key": "shipsafe:label", "Value": "before"}],
        },
    )
    for status in ("creating", "creating", "backing-up", "available"):
        stub.add_response("describe_db_snapshots", _snapshot(status), {"DBSnapshotIdentifier": sid})
    clock = FakeTime()
    record = _rds(client, clock).take("before")
    assert record["status"] == "available" and record["region"] == "eu-west-1"
    assert clock.sleeps == [15, 15, 15]


def test_rds_failed_snapshot_is_an_error(rds_stub: Any) -> None:
    client, stub = rds_stub
    stub.add_response("create_db_snapshot", {"DBSnapshot": {"Status": "creating"}})
    stub.add_response("describe_db_snapshots", _snapshot("creating"))
    stub.add_response("describe_db_snapshots", _snapshot("failed"))
    with pytest.raises(ProviderError, match="is failed"):
        _rds(client, FakeTime()).take("before")


def test_rds_wait_is_bounded(rds_stub: Any) -> None:
    client, stub = rds_stub
    stub.add_response("create_db_snapshot", {"DBSnapshot": {"Status": "creating"}})
    for _ in range(3):
        stub.add_response("describe_db_snapshots", _snapshot("creating"))
    with pytest.raises(ProviderError, match="still creating after 30s"):
        _rds(client, FakeTime(), timeout=30).take("before")


def test_rds_verify_refuses_a_snapshot_not_available(rds_stub: Any) -> None:
    client, stub = rds_stub
    stub.add_response("describe_db_snapshots", _snapshot("deleting"))
    with pytest.raises(ProviderError, match="deleting, not available"):
        _rds(client, FakeTime()).verify({"id": "shipsafe-before-20260301120005"})


def test_rds_access_denied_is_a_configuration_error(rds_stub: Any) -> None:
    client, stub = rds_stub
    stub.add_client_error("create_db_snapshot", "AccessDenied", "not allowed", 403)
    with pytest.raises(ConfigurationError, match="access denied"):
        _rds(client, FakeTime()).take("before")


def test_ebs_waits_through_pending_and_reports_an_error_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    from botocore.stub import Stubber

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    client = boto3.session.Session(region_name="us-east-1").client("ec2")
    clock = FakeTime()
    snaps = AwsEbsSnapshots(
        AwsEbsSnapshotConfig(provider="aws-ebs", volumeId="vol-0abc", pollInterval=5),
        client=client,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    volumes = {"Volumes": [{"VolumeId": "vol-0abc", "AvailabilityZone": "us-east-1b"}]}
    with Stubber(client) as stub:
        stub.add_response("describe_volumes", volumes)
        stub.add_response("create_snapshot", {"SnapshotId": "snap-1", "State": "pending"})
        for state in ("pending", "completed"):
            stub.add_response(
                "describe_snapshots",
                {"Snapshots": [{"SnapshotId": "snap-1", "State": state, "Progress": "50%"}]},
                {"SnapshotIds": ["snap-1"]},
            )
        record = snaps.take("before")
        assert record["status"] == "completed" and record["availabilityZone"] == "us-east-1b"
        stub.add_response("describe_volumes", volumes)
        stub.add_response("create_snapshot", {"SnapshotId": "snap-2", "State": "pending"})
        stub.add_response(
            "describe_snapshots",
            {"Snapshots": [{"SnapshotId": "snap-2", "State": "error", "StateMessage": "KMS"}]},
        )
        with pytest.raises(ProviderError, match="snap-2 failed: KMS"):
            snaps.take("again")
    assert clock.sleeps == [5]


def test_a_bad_config_is_one_configuration_line() -> None:
    with pytest.raises(ConfigurationError, match=r"db: .*exactly one"):
        Registry().data_snapshot("db", {"provider": "aws-rds"})


def test_plans_name_aws_data_snapshots() -> None:
    from shipsafe.plan.models import Plan

    fields = Plan.model_fields["data_snapshots"]
    assert fields.alias == "dataSnapshots"
    from pydantic import TypeAdapter

    from shipsafe.plan.snapshots import AwsEbsSnapshot, AwsRdsSnapshot, DataSnapshotConfig

    adapter: TypeAdapter[Any] = TypeAdapter(DataSnapshotConfig)
    assert isinstance(
        adapter.validate_python({"provider": "aws-rds", "dbClusterIdentifier": "c"}),
        AwsRdsSnapshot,
    )
    assert isinstance(
        adapter.validate_python({"provider": "aws-ebs", "volumeId": "vol-0a"}), AwsEbsSnapshot
    )
