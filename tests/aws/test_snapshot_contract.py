"""aws-rds (instance and cluster) and aws-ebs pass the data snapshot contract on moto; a
snapshot deleted behind their back fails verify, and botocore's errors never escape."""

from __future__ import annotations

from typing import Any

import pytest

from shipsafe.errors import ShipsafeError
from shipsafe.providers.snapshots.aws_ebs import AwsEbsSnapshotConfig, AwsEbsSnapshots
from shipsafe.providers.snapshots.aws_rds import AwsRdsSnapshotConfig, AwsRdsSnapshots
from tests.aws.broken import unreachable_client
from tests.aws.test_data_snapshots import make_db, make_volume
from tests.contract.data_snapshot_contract import DataSnapshotContract, Tamper


def rds(client: Any = None) -> AwsRdsSnapshots:
    config = AwsRdsSnapshotConfig.model_validate(
        {"provider": "aws-rds", "dbInstanceIdentifier": "orders"}
    )
    return AwsRdsSnapshots(config, "orders", client=client)


class TestRdsSnapshotContract(DataSnapshotContract):
    @pytest.fixture
    def provider(self, aws: Any) -> AwsRdsSnapshots:
        make_db(aws)
        return rds()

    @pytest.fixture
    def tamper(self, aws: Any) -> Tamper:
        return lambda record: aws.client("rds").delete_db_snapshot(
            DBSnapshotIdentifier=record["id"]
        )

    @pytest.fixture
    def broken_provider(self, aws: Any) -> AwsRdsSnapshots:
        make_db(aws)
        return rds(unreachable_client(aws, "rds"))


class TestEbsSnapshotContract(DataSnapshotContract):
    @pytest.fixture
    def volume(self, aws: Any) -> str:
        return make_volume(aws)

    @pytest.fixture
    def provider(self, volume: str) -> AwsEbsSnapshots:
        return AwsEbsSnapshots(AwsEbsSnapshotConfig(provider="aws-ebs", volumeId=volume), "disk")

    @pytest.fixture
    def tamper(self, aws: Any) -> Tamper:
        return lambda record: aws.client("ec2").delete_snapshot(SnapshotId=record["id"])

    @pytest.fixture
    def broken_provider(self, aws: Any, volume: str) -> AwsEbsSnapshots:
        return AwsEbsSnapshots(
            AwsEbsSnapshotConfig(provider="aws-ebs", volumeId=volume),
            "disk",
            client=unreachable_client(aws, "ec2"),
        )


def test_verify_through_an_unreachable_client_is_a_shipsafe_error(aws: Any) -> None:
    make_db(aws)
    record = rds().take("before")
    with pytest.raises(ShipsafeError):
        rds(unreachable_client(aws, "rds")).verify(record)
