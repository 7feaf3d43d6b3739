"""AWS Route 53: two weighted record sets of one name and type (different SetIdentifier).

Weights are written as stable 100-p, canary p (Route 53 takes 0-255 per record) by UPSERTing
both record sets, as they are apart from Weight, in one change batch — so they change
together. With `waitForSync` each change is polled with GetChange until INSYNC (bounded by
`syncTimeout`), then the records are read back. The snapshot is both record sets as Route 53
returns them; restore UPSERTs them back exactly. Both records must exist before the rollout:
shipsafe shifts weight between them, it does not invent a record's value.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.plan.targets import AwsRoute53Target
from shipsafe.providers import aws_common

POLL_SECONDS = 2.0


def _dns_name(name: str) -> str:
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


class AwsRoute53Router:
    name = "aws-route53"

    def __init__(
        self,
        target: AwsRoute53Target,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self._client = client
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def r53(self) -> Any:
        if self._client is None:
            self._client = aws_common.client("route53")
        return self._client

    @property
    def _where(self) -> str:
        t = self.target
        return f"aws-route53 {t.record_type} {t.record_name} in {t.hosted_zone_id}"

    # reading ------------------------------------------------------------------------------
    def _records(self, checking: bool = False) -> dict[str, dict[str, Any]]:
        """Every record set of our name and type, by SetIdentifier."""
        t = self.target
        name = _dns_name(t.record_name)
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "HostedZoneId": t.hosted_zone_id,
            "StartRecordName": name,
            "StartRecordType": t.record_type,
        }
        with aws_common.aws_errors(self._where, checking):
            while True:
                page = self.r53.list_resource_record_sets(**kwargs)
                for record in page.get("ResourceRecordSets", []):
                    if _dns_name(record["Name"]) != name or record["Type"] != t.record_type:
                        return found
                    found[str(record.get("SetIdentifier", ""))] = dict(record)
                if not page.get("IsTruncated"):
                    return found
                kwargs["StartRecordName"] = page["NextRecordName"]
                kwargs["StartRecordType"] = page["NextRecordType"]
                if page.get("NextRecordIdentifier"):
                    kwargs["StartRecordIdentifier"] = page["NextRecordIdentifier"]

    def _pair(self, checking: bool = False) -> dict[str, dict[str, Any]]:
        records = self._records(checking)
        t = self.target
        missing = [sid for sid in (t.stable, t.canary) if sid not in records]
        if missing:
            have = ", ".join(sorted(s or "(no SetIdentifier)" for s in records)) or "none"
            message = (
                f"{self._where}: no record with SetIdentifier {missing[0]!r} (found: {have}); "
                "create both weighted records before the rollout"
            )
            raise ConfigurationError(message) if checking else ProviderError(message)
        pair = {t.stable: records[t.stable], t.canary: records[t.canary]}
        for sid, record in pair.items():
            if "Weight" not in record:
                message = f"{self._where}: record {sid!r} is not a weighted record"
                raise ConfigurationError(message) if checking else ProviderError(message)
        return pair

    def read_state(self) -> dict[str, Any]:
        return {
            "hostedZoneId": self.target.hosted_zone_id,
            "records": self._pair(),
        }

    def get_weight(self) -> int:
        return self._weight_of(self._pair())

    def _weight_of(self, pair: dict[str, dict[str, Any]]) -> int:
        stable = int(pair[self.target.stable]["Weight"])
        canary = int(pair[self.target.canary]["Weight"])
        if stable + canary == 0:
            # Route 53 then splits evenly: not a state shipsafe ever writes
            raise ProviderError(f"{self._where}: both records have weight 0")
        return round(100 * canary / (stable + canary))

    def config(self) -> dict[str, Any]:
        return dict(self.target.model_dump(mode="json", by_alias=True))

    # checks -------------------------------------------------------------------------------
    def check(self) -> None:
        with aws_common.aws_errors(f"aws-route53 hosted zone {self.target.hosted_zone_id}", True):
            self.r53.get_hosted_zone(Id=self.target.hosted_zone_id)
        self._pair(checking=True)

    # writing ------------------------------------------------------------------------------
    def _upsert(self, records: list[dict[str, Any]], what: str) -> None:
        batch = {
            "Comment": f"shipsafe: {what}",
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": r} for r in records],
        }
        with aws_common.aws_errors(f"{self._where}: {what}"):
            answer = self.r53.change_resource_record_sets(
                HostedZoneId=self.target.hosted_zone_id, ChangeBatch=batch
            )
        if self.target.wait_for_sync:
            self._wait_insync(str(answer["ChangeInfo"]["Id"]), str(answer["ChangeInfo"]["Status"]))

    def _wait_insync(self, change_id: str, status: str) -> None:
        deadline = self._monotonic() + self.target.sync_timeout
        while status != "INSYNC":
            if self._monotonic() >= deadline:
                raise ProviderError(
                    f"{self._where}: change {change_id} still {status} after "
                    f"{self.target.sync_timeout:g}s"
                )
            self._sleep(POLL_SECONDS)
            with aws_common.aws_errors(f"{self._where}: change {change_id}"):
                status = str(self.r53.get_change(Id=change_id)["ChangeInfo"]["Status"])

    def set_weight(self, canary_percent: int) -> None:
        if isinstance(canary_percent, bool) or not 0 <= int(canary_percent) <= 100:
            raise ProviderError(f"aws-route53: canary weight {canary_percent}% is outside 0-100")
        p, t = int(canary_percent), self.target
        pair = copy.deepcopy(self._pair())
        if self._weight_of(pair) == p and int(pair[t.canary]["Weight"]) == p:
            return  # already there: no change batch, nothing to wait for
        pair[t.stable]["Weight"] = 100 - p
        pair[t.canary]["Weight"] = p
        self._upsert([pair[t.stable], pair[t.canary]], f"canary {p}%")
        actual = self.get_weight()
        if actual != p:
            raise ProviderError(f"{self._where}: set canary {p}% but it reads {actual}%")

    def restore(self, state: dict[str, Any]) -> None:
        records = state.get("records")
        t = self.target
        if (
            state.get("hostedZoneId") != t.hosted_zone_id
            or not isinstance(records, dict)
            or set(records) != {t.stable, t.canary}
        ):
            raise ProviderError(f"{self._where}: the snapshot does not describe these records")
        self._upsert(
            [copy.deepcopy(records[t.stable]), copy.deepcopy(records[t.canary])], "restore"
        )


def build(config: dict[str, Any], name: str) -> AwsRoute53Router:
    return AwsRoute53Router(aws_common.validated(AwsRoute53Target, config, name))
