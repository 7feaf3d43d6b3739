"""The S3 audit sink on moto: records mirrored by the file log verify from S3 alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipsafe.audit.chain import GENESIS, chain
from shipsafe.audit.file import FileAuditLog
from shipsafe.audit.s3 import S3AuditMirror, mirrors_from_env
from shipsafe.errors import AuditError, UsageError

BUCKET = "audit"


@pytest.fixture
def bucket(aws: Any) -> Any:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def write_log(tmp_path: Path, mirror: S3AuditMirror, count: int = 3) -> FileAuditLog:
    log = FileAuditLog(tmp_path / "audit.jsonl", mirrors=[mirror])
    for i in range(count):
        log.append({"rollout_id": "r-1", "type": "notice", "message": f"m{i}"})
    return log


def test_each_record_is_an_object_named_by_its_sequence(bucket: Any, tmp_path: Path) -> None:
    write_log(tmp_path, S3AuditMirror.from_url(f"s3://{BUCKET}/prod/checkout"))
    keys = [o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"prod/checkout/{i:012d}.json" for i in (1, 2, 3)]
    first = json.loads(bucket.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())
    assert first["seq"] == 1 and first["prev"] == GENESIS


def test_the_chain_verifies_from_s3_alone(bucket: Any, tmp_path: Path) -> None:
    log = write_log(tmp_path, S3AuditMirror.from_url(f"s3://{BUCKET}/p"))
    result = S3AuditMirror.from_url(f"s3://{BUCKET}/p").verify()
    assert result.ok, result.problems
    assert result.count == 3
    assert result.head_hash == log.verify().head_hash


def test_an_overwritten_record_is_found_by_hash_and_by_versions(
    bucket: Any, tmp_path: Path
) -> None:
    write_log(tmp_path, S3AuditMirror.from_url(f"s3://{BUCKET}/p"))
    key = "p/000000000002.json"
    record = json.loads(bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    record["message"] = "nothing to see"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(record).encode())
    result = S3AuditMirror.from_url(f"s3://{BUCKET}/p").verify()
    assert not result.ok
    assert any("record 2 was altered" in p for p in result.problems)
    assert any("overwritten (2 versions)" in p for p in result.problems)


def test_a_record_rewritten_with_a_valid_hash_is_still_caught_by_versions(
    bucket: Any, tmp_path: Path
) -> None:
    """Rewrite the last record consistently (new hash): only the version history shows it."""
    write_log(tmp_path, S3AuditMirror.from_url(f"s3://{BUCKET}/p"))
    key = "p/000000000003.json"
    old = json.loads(bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    forged = chain({"rollout_id": "r-1", "type": "notice", "message": "forged"}, 2, old["prev"])
    bucket.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(forged).encode())
    result = S3AuditMirror.from_url(f"s3://{BUCKET}/p").verify()
    assert result.problems == [
        f"s3://{BUCKET}/{key}: overwritten (2 versions); the first version is the original record"
    ]


def test_a_deleted_record_is_found(bucket: Any, tmp_path: Path) -> None:
    write_log(tmp_path, S3AuditMirror.from_url(f"s3://{BUCKET}/p"))
    bucket.delete_object(Bucket=BUCKET, Key="p/000000000002.json")
    result = S3AuditMirror.from_url(f"s3://{BUCKET}/p").verify()
    assert not result.ok
    assert any("sequence jumps from 1 to 3" in p for p in result.problems)
    assert any("deleted" in p for p in result.problems)


def test_a_second_chain_on_the_same_prefix_is_refused(bucket: Any, tmp_path: Path) -> None:
    mirror = S3AuditMirror.from_url(f"s3://{BUCKET}/p")
    write_log(tmp_path, mirror, count=1)
    other = chain({"rollout_id": "r-2", "type": "notice"}, 0, GENESIS)
    with pytest.raises(AuditError, match="holds another record 1"):
        mirror.put(other)


def test_the_same_record_again_is_accepted_and_not_written_twice(bucket: Any) -> None:
    mirror = S3AuditMirror.from_url(f"s3://{BUCKET}/p")
    record = chain({"rollout_id": "r-1", "type": "notice"}, 0, GENESIS)
    mirror.put(record)
    mirror.put(record)  # a retry after a lost answer: no error
    versions = bucket.list_object_versions(Bucket=BUCKET, Prefix="p/")["Versions"]
    assert [v["Key"] for v in versions] == ["p/000000000001.json"]  # kept, not overwritten
    result = mirror.verify()
    assert result.ok and result.count == 1, result.problems


def test_a_bucket_without_versioning_is_refused(aws: Any) -> None:
    aws.client("s3").create_bucket(Bucket="plain")
    mirror = S3AuditMirror.from_url("s3://plain/p")
    with pytest.raises(AuditError, match="does not keep versions"):
        mirror.put(chain({"type": "notice"}, 0, GENESIS))


def test_a_missing_bucket_is_an_audit_error(aws: Any) -> None:
    with pytest.raises(AuditError, match="NoSuchBucket"):
        S3AuditMirror.from_url("s3://nope/p").put(chain({"type": "notice"}, 0, GENESIS))


def test_an_empty_prefix_does_not_verify(bucket: Any) -> None:
    result = S3AuditMirror.from_url(f"s3://{BUCKET}/empty").verify()
    assert not result.ok and "no audit records" in result.problems[0]


def test_urls_and_environment() -> None:
    with pytest.raises(UsageError):
        S3AuditMirror.from_url("https://bucket/p")
    assert mirrors_from_env({}) == []
    (mirror,) = mirrors_from_env({"SHIPSAFE_AUDIT_S3": "s3://b/x/y"})
    assert (mirror.bucket, mirror.prefix) == ("b", "x/y/")
