"""The S3 audit sink: each chained audit record also written to a versioned bucket.

    s3://BUCKET/PREFIX/000000000001.json   one object per record, named by its sequence
                                           number (zero-padded: listing order = chain order),
                                           body = the record's canonical JSON

The chain verifies from S3 alone (`shipsafe audit verify --source s3://BUCKET/PREFIX`): the
records are listed in key order and checked with the same verify_records as the file log.
Objects are written with `If-None-Match: *`, so a record is never overwritten: a second
writer with another chain on the same prefix is refused. The bucket must have versioning on
(checked before the first write); verify also reads the object versions, so a record that was
overwritten or deleted is reported even when the current objects look like a good chain.
Cutting records off the end is visible only with the state store's anchor (the file log's
verify); use Object Lock on the bucket to make deleting versions impossible too.

A put that fails after botocore's bounded retries raises AuditError: the local log has the
record, the S3 copy would have a gap, and that is said at once rather than found later.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from shipsafe.audit.chain import Verification, verify_records
from shipsafe.errors import AuditError, ConfigurationError, ShipsafeError, UsageError
from shipsafe.providers import aws_common
from shipsafe.records import canonical_json

SEQ_DIGITS = 12


def parse_url(url: str) -> tuple[str, str]:
    """s3://BUCKET[/PREFIX] -> (bucket, prefix ending in / or empty)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise UsageError(f"{url}: an S3 audit location is s3://BUCKET/PREFIX")
    prefix = parsed.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return parsed.netloc, prefix


class S3Location:
    """A bucket and key prefix, with the S3 client made on first use (boto3 is heavy)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def s3(self) -> Any:
        if self._client is None:
            self._client = aws_common.client("s3")
        return self._client


class S3AuditMirror(S3Location):
    """An AuditMirror (shipsafe.audit.file) writing each record to s3://bucket/prefix."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        super().__init__(bucket, prefix, client)
        self._checked = False

    @classmethod
    def from_url(cls, url: str, client: Any = None) -> S3AuditMirror:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix, client)

    def key(self, seq: int) -> str:
        return f"{self.prefix}{seq:0{SEQ_DIGITS}d}.json"

    # writing ------------------------------------------------------------------------------
    def check(self) -> None:
        """The bucket exists and keeps versions; ConfigurationError otherwise."""
        with aws_common.aws_errors(f"audit bucket {self.bucket}", checking=True):
            status = self.s3.get_bucket_versioning(Bucket=self.bucket).get("Status")
        if status != "Enabled":
            raise ConfigurationError(
                f"audit bucket {self.bucket} does not keep versions (versioning "
                f"{status or 'never enabled'}): aws s3api put-bucket-versioning --bucket "
                f"{self.bucket} --versioning-configuration Status=Enabled"
            )
        self._checked = True

    def put(self, record: dict[str, Any]) -> None:
        seq = record.get("seq")
        if not isinstance(seq, int) or seq < 1:
            raise AuditError(f"not a chained audit record (seq {seq!r})")
        body = canonical_json(record).encode()
        key = self.key(seq)
        try:
            if not self._checked:
                self.check()
            with aws_common.aws_errors(f"audit mirror s3://{self.bucket}/{key}"):
                try:
                    self.s3.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=body,
                        ContentType="application/json",
                        IfNoneMatch="*",
                        Metadata={"sha256": str(record.get("hash", ""))},
                    )
                except Exception as exc:
                    if aws_common.error_code(exc) not in ("PreconditionFailed", "412"):
                        raise
                    existing = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                    if existing != body:  # the same record again (a retry) is fine
                        raise AuditError(
                            f"s3://{self.bucket}/{key} holds another record {seq}: two audit "
                            "logs mirror to one prefix? give each its own prefix"
                        ) from None
        except AuditError:
            raise
        except ShipsafeError as exc:
            raise AuditError(f"cannot mirror audit record {seq} to {self.url}: {exc}") from exc

    # reading ------------------------------------------------------------------------------
    def records(self) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(location, record) in key order; record None when an object is not JSON."""
        for key in self._keys():
            where = f"s3://{self.bucket}/{key}"
            with aws_common.aws_errors(f"read {where}", checking=True):
                raw = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            try:
                rec = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                rec = None
            yield where, rec if isinstance(rec, dict) else None

    def _keys(self) -> list[str]:
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix}
        with aws_common.aws_errors(f"list {self.url}", checking=True):
            while True:
                page = self.s3.list_objects_v2(**kwargs)
                keys.extend(str(o["Key"]) for o in page.get("Contents", []))
                if not page.get("IsTruncated"):
                    break
                kwargs["ContinuationToken"] = page["NextContinuationToken"]
        return sorted(k for k in keys if _is_record_key(k, self.prefix))

    def history_problems(self) -> list[str]:
        """Records overwritten or deleted, as the bucket's versions show."""
        versions: dict[str, int] = {}
        deleted: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix}
        with aws_common.aws_errors(f"list versions of {self.url}", checking=True):
            while True:
                page = self.s3.list_object_versions(**kwargs)
                for v in page.get("Versions", []):
                    versions[v["Key"]] = versions.get(v["Key"], 0) + 1
                deleted.extend(m["Key"] for m in page.get("DeleteMarkers", []) if m.get("IsLatest"))
                if not page.get("IsTruncated"):
                    break
                kwargs["KeyMarker"] = page.get("NextKeyMarker")
                kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")
        problems = [
            f"s3://{self.bucket}/{key}: overwritten ({count} versions); the first version is "
            "the original record"
            for key, count in sorted(versions.items())
            if count > 1 and _is_record_key(key, self.prefix)
        ]
        problems += [
            f"s3://{self.bucket}/{key}: deleted (a delete marker hides it; its versions remain)"
            for key in sorted(deleted)
            if _is_record_key(key, self.prefix)
        ]
        return problems

    def verify(self) -> Verification:
        """Verify the chain from S3 alone: contents in key order, then the version history."""
        result = verify_records(self.records())
        history = self.history_problems()
        if history:
            result.problems.extend(history)
            result.ok = False
        if result.count == 0 and not history:
            result.problems.append(f"no audit records under {self.url}")
            result.ok = False
        return result


def _is_record_key(key: str, prefix: str) -> bool:
    name = key[len(prefix) :]
    return name.endswith(".json") and name[:-5].isdigit() and "/" not in name


def mirrors_from_env(environ: dict[str, str] | None = None) -> list[S3AuditMirror]:
    """The S3 mirror named by SHIPSAFE_AUDIT_S3 (s3://BUCKET/PREFIX), if any."""
    url = (environ if environ is not None else os.environ).get("SHIPSAFE_AUDIT_S3", "").strip()
    return [S3AuditMirror.from_url(url)] if url else []
