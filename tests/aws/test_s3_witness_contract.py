"""The S3 Object Lock witness passes the witness contract on moto (in process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipsafe.audit.s3_witness import S3Witness
from tests.contract.witness_contract import WitnessContract

BUCKET = "audit-witness"


def locked_bucket(s3: Any, name: str, mode: str | None = "COMPLIANCE") -> None:
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    if mode is not None:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": mode, "Days": 30}}})


class TestS3WitnessContract(WitnessContract):
    @pytest.fixture
    def witness(self, aws: Any) -> S3Witness:
        locked_bucket(aws.client("s3"), BUCKET)
        return S3Witness.from_url(f"s3://{BUCKET}/prod")

    @pytest.fixture
    def not_a_witness(self, aws: Any) -> S3Witness:
        locked_bucket(aws.client("s3"), "governance-only", "GOVERNANCE")
        return S3Witness.from_url("s3://governance-only/prod")

    @pytest.fixture
    def rewrite(self, aws: Any, witness: S3Witness) -> Callable[[], None]:
        s3 = aws.client("s3")

        def delete_every_version() -> None:
            page = s3.list_object_versions(Bucket=BUCKET, Prefix="prod/")
            for version in page.get("Versions", []):
                s3.delete_object(Bucket=BUCKET, Key=version["Key"],
                                 VersionId=version["VersionId"])

        return delete_every_version
