"""Amazon EBS: a snapshot of one volume, taken before an irreversible step.

`take` creates the snapshot (tagged shipsafe:label) and waits until EC2 says `completed`;
`error` is an error. The record names the snapshot, volume, availability zone and region;
`verify` checks that it still exists and is completed; `restore_hint` is the AWS CLI
command that makes a new volume from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shipsafe.errors import ProviderError
from shipsafe.plan.snapshots import AwsEbsSnapshot as AwsEbsSnapshotConfig
from shipsafe.providers import aws_common
from shipsafe.providers.snapshots.waiting import wait_until_ready


class AwsEbsSnapshots:
    def __init__(
        self,
        config: AwsEbsSnapshotConfig,
        name: str = "aws-ebs",
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.name = name
        self._client = client
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def ec2(self) -> Any:
        if self._client is None:
            self._client = aws_common.client("ec2", self.config.region)
        return self._client

    def _describe(self, snapshot_id: str) -> dict[str, Any]:
        with aws_common.aws_errors(f"aws-ebs snapshot {snapshot_id}"):
            snaps = self.ec2.describe_snapshots(SnapshotIds=[snapshot_id]).get("Snapshots", [])
        if not snaps:
            raise ProviderError(f"aws-ebs snapshot {snapshot_id} does not exist")
        return dict(snaps[0])

    def take(self, label: str) -> dict[str, Any]:
        volume = self.config.volume_id
        with aws_common.aws_errors(f"aws-ebs volume {volume}", checking=True):
            zone = self.ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["AvailabilityZone"]
            snap = self.ec2.create_snapshot(
                VolumeId=volume,
                Description=f"shipsafe: {label}"[:255],
                TagSpecifications=[
                    {
                        "ResourceType": "snapshot",
                        "Tags": [{"Key": "shipsafe:label", "Value": label[:256]}],
                    }
                ],
            )
        snapshot_id = str(snap["SnapshotId"])
        done = self._wait(snapshot_id, str(snap.get("State", "pending")))
        record: dict[str, Any] = {
            "provider": "aws-ebs",
            "id": snapshot_id,
            "status": done["State"],
            "volumeId": volume,
            "availabilityZone": zone,
            "region": aws_common.client_region(self.ec2),
            "label": label,
        }
        record["restoreHint"] = self.restore_hint(record)
        return record

    def _wait(self, snapshot_id: str, state: str) -> dict[str, Any]:
        return wait_until_ready(
            lambda: self._describe(snapshot_id),
            lambda snap: str(snap.get("State", "")),
            "completed",
            lambda snap, state: (
                f"failed: {snap.get('StateMessage', 'error')}" if state == "error" else None
            ),
            what=f"aws-ebs snapshot {snapshot_id}",
            timeout=self.config.wait_timeout,
            interval=self.config.poll_interval,
            sleep=self._sleep,
            monotonic=self._monotonic,
            progress=lambda snap: f" ({snap.get('Progress', '?')})",
        )

    def verify(self, record: dict[str, Any]) -> None:
        state = str(self._describe(str(record["id"])).get("State", ""))
        if state != "completed":
            raise ProviderError(f"aws-ebs snapshot {record['id']} is {state}, not completed")

    def restore_hint(self, record: dict[str, Any]) -> str:
        return (
            f"aws ec2 create-volume --region {record.get('region', '')} --snapshot-id "
            f"{record['id']} --availability-zone {record.get('availabilityZone', 'ZONE')} "
            f"(then attach it in place of {record.get('volumeId', 'the volume')})"
        )


def build(config: dict[str, Any], name: str) -> AwsEbsSnapshots:
    return AwsEbsSnapshots(aws_common.validated(AwsEbsSnapshotConfig, config, name), name)
