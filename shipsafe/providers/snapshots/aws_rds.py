"""Amazon RDS: a DB instance or DB cluster snapshot, taken before an irreversible step.

`take` creates the snapshot (tagged shipsafe:label) and waits until RDS says `available`,
polling every `pollInterval` up to `waitTimeout`; `failed` (or any state that will not become
available) is an error. The record names the snapshot, its kind, source, region and status;
`verify` checks that it still exists and is available; `restore_hint` is the AWS CLI
command that restores it into a new instance or cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shipsafe.errors import ProviderError
from shipsafe.plan.snapshots import AwsRdsSnapshot as AwsRdsSnapshotConfig
from shipsafe.providers import aws_common
from shipsafe.providers.snapshots.waiting import wait_until_ready

_GIVE_UP = {"failed", "deleted", "deleting", "incompatible-restore", "incompatible-parameters"}


class AwsRdsSnapshots:
    def __init__(
        self,
        config: AwsRdsSnapshotConfig,
        name: str = "aws-rds",
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.name = name
        self._client = client
        self._sleep = sleep
        self._monotonic = monotonic
        self._now = now

    @property
    def rds(self) -> Any:
        if self._client is None:
            self._client = aws_common.client("rds", self.config.region)
        return self._client

    def _describe(self, kind: str, snapshot_id: str, checking: bool = False) -> dict[str, Any]:
        with aws_common.aws_errors(f"aws-rds snapshot {snapshot_id}", checking):
            if kind == "instance":
                found = self.rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)
                snaps = found.get("DBSnapshots", [])
            else:
                found = self.rds.describe_db_cluster_snapshots(
                    DBClusterSnapshotIdentifier=snapshot_id
                )
                snaps = found.get("DBClusterSnapshots", [])
        if not snaps:
            raise ProviderError(f"aws-rds snapshot {snapshot_id} does not exist")
        return dict(snaps[0])

    def take(self, label: str) -> dict[str, Any]:
        c = self.config
        stamp = self._now().strftime("%Y%m%d%H%M%S")
        snapshot_id = aws_common.snapshot_name(c.snapshot_prefix, label, stamp)
        tags = [{"Key": "shipsafe:label", "Value": label[:256]}]
        # before the irreversible step: a missing database is a configuration error (exit 2)
        with aws_common.aws_errors(f"aws-rds snapshot of {c.kind} {c.source}", checking=True):
            if c.kind == "instance":
                self.rds.create_db_snapshot(
                    DBSnapshotIdentifier=snapshot_id, DBInstanceIdentifier=c.source, Tags=tags
                )
            else:
                self.rds.create_db_cluster_snapshot(
                    DBClusterSnapshotIdentifier=snapshot_id, DBClusterIdentifier=c.source, Tags=tags
                )
        snap = self._wait(c.kind, snapshot_id)
        record: dict[str, Any] = {
            "provider": "aws-rds",
            "id": snapshot_id,
            "status": snap["Status"],
            "kind": c.kind,
            "source": c.source,
            "region": aws_common.client_region(self.rds),
            "arn": snap.get("DBSnapshotArn") or snap.get("DBClusterSnapshotArn"),
            "engine": snap.get("Engine"),
            "label": label,
        }
        record["restoreHint"] = self.restore_hint(record)
        return record

    def _wait(self, kind: str, snapshot_id: str) -> dict[str, Any]:
        return wait_until_ready(
            lambda: self._describe(kind, snapshot_id),
            lambda snap: str(snap.get("Status", "")).lower(),
            "available",
            lambda snap, status: f"is {status}" if status in _GIVE_UP else None,
            what=f"aws-rds snapshot {snapshot_id}",
            timeout=self.config.wait_timeout,
            interval=self.config.poll_interval,
            sleep=self._sleep,
            monotonic=self._monotonic,
        )

    def verify(self, record: dict[str, Any]) -> None:
        snap = self._describe(str(record.get("kind", "instance")), str(record["id"]))
        status = str(snap.get("Status", "")).lower()
        if status != "available":
            raise ProviderError(f"aws-rds snapshot {record['id']} is {status}, not available")

    def restore_hint(self, record: dict[str, Any]) -> str:
        sid, region, source = record["id"], record.get("region", ""), record.get("source", "db")
        if record.get("kind") == "cluster":
            return (
                f"aws rds restore-db-cluster-from-snapshot --region {region} "
                f"--snapshot-identifier {sid} --db-cluster-identifier {source}-restored "
                f"--engine {record.get('engine') or 'ENGINE'}"
            )
        return (
            f"aws rds restore-db-instance-from-db-snapshot --region {region} "
            f"--db-snapshot-identifier {sid} --db-instance-identifier {source}-restored"
        )


def build(config: dict[str, Any], name: str) -> AwsRdsSnapshots:
    return AwsRdsSnapshots(aws_common.validated(AwsRdsSnapshotConfig, config, name), name)
