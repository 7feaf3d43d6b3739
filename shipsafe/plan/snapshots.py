"""Data snapshot providers a plan may name under `dataSnapshots`, chosen by `provider`.

Models only (no I/O); the providers live in shipsafe/providers/snapshots/.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from shipsafe.plan.base import Duration, PlanModel


class FileSnapshot(PlanModel):
    """A local file (an SQLite database, a data directory's file): copied and checksummed.

    SQLite files are copied with SQLite's online backup, so a live database copies
    consistently.
    """

    provider: Literal["file"]
    path: str = Field(min_length=1, description="the file to snapshot")
    dir: str | None = Field(
        None, description="where copies go (default: <path>.snapshots beside the file)"
    )


class AwsRdsSnapshot(PlanModel):
    """An RDS DB instance or DB cluster snapshot: exactly one of dbInstanceIdentifier,
    dbClusterIdentifier. Waited on until `available`."""

    provider: Literal["aws-rds"]
    db_instance_identifier: str | None = None
    db_cluster_identifier: str | None = None
    region: str | None = None
    snapshot_prefix: str = Field("shipsafe", min_length=1, max_length=20)
    wait_timeout: Duration = Field(3600.0, description="how long to wait for `available`")
    poll_interval: Duration = 15.0

    @model_validator(mode="after")
    def _one_source(self) -> AwsRdsSnapshot:
        if (self.db_instance_identifier is None) == (self.db_cluster_identifier is None):
            raise ValueError("give exactly one of dbInstanceIdentifier or dbClusterIdentifier")
        return self

    @property
    def kind(self) -> str:
        return "instance" if self.db_instance_identifier else "cluster"

    @property
    def source(self) -> str:
        return str(self.db_instance_identifier or self.db_cluster_identifier)


class AwsEbsSnapshot(PlanModel):
    """An EBS snapshot of one volume. Waited on until `completed`."""

    provider: Literal["aws-ebs"]
    volume_id: str = Field(pattern=r"^vol-[0-9a-f]+$")
    region: str | None = None
    wait_timeout: Duration = Field(3600.0, description="how long to wait for `completed`")
    poll_interval: Duration = 15.0


# Add a provider: a model with `provider: Literal[...]`, then add it to this union.
DataSnapshotConfig = Annotated[
    FileSnapshot | AwsRdsSnapshot | AwsEbsSnapshot, Field(discriminator="provider")
]
