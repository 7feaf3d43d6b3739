"""The audit witness in S3: every chained audit record checkpointed as a new object in a bucket
with Object Lock in COMPLIANCE mode, so the deploying user (who may put objects there) can
neither overwrite nor delete a checkpoint until its retention date - nor can anyone else,
the bucket's owner included.

    s3://BUCKET/PREFIX/<log, percent-encoded>/<seq, 12 digits>/<entry fields, urlencoded>

The object's *name* holds the witnessed entry (log, seq, hash, rollout, type, time, and the
environment or rollback reason where the freeze after a rollback needs them), so one
ListObjectVersions page reads a thousand checkpoints, and what a checkpoint says cannot be
changed by writing another body under its name. The body repeats the entry as JSON for
people. Each object is written with `If-None-Match: *` and an explicit COMPLIANCE retention
(now + the bucket's default retention period).

Reading goes through the versions, not the current objects: a delete leaves a delete
marker over a version Object Lock keeps, and a second PUT of a name adds a version; both
are reported as problems (someone tried to rewrite the witness), and the entry still counts.

The trust root names the witness and where it is reached (`trust set-witness s3://BUCKET/PREFIX
--endpoint URL --region R`; default AWS's https://s3.REGION.amazonaws.com): the client is
built for that endpoint only, whatever the deploying process's environment names (endpoint
variables, CA bundle, proxies; credentials still come from it), through the proxy the root
pins if any (`--proxy http://HOST:PORT`, for sites that reach S3 only through one).
shipsafe refuses a bucket whose Object Lock configuration is missing or whose default
retention is not COMPLIANCE (GOVERNANCE retention can be bypassed by anyone granted
s3:BypassGovernanceRetention): a deploy stops with exit 2 before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from shipsafe.audit.s3 import S3Location, parse_url
from shipsafe.audit.witness import log_id, witness_entry
from shipsafe.errors import AuditError, ConfigurationError, ShipsafeError
from shipsafe.providers import aws_common
from shipsafe.records import canonical_json

SEQ_DIGITS = 12
MAX_KEY = 1024  # bytes: S3's limit for an object name
FIELDS = ("hash", "rollout_id", "type", "time", "environment", "reason", "snapshot",
          "snapshot_sha256")


def checkpoint_key(prefix: str, entry: dict[str, Any]) -> str:
    fields = [(name, str(entry[name])) for name in FIELDS if entry.get(name) is not None]
    return (f"{prefix}{quote(str(entry['log']), safe='')}/{int(entry['seq']):0{SEQ_DIGITS}d}/"
            f"{urlencode(fields)}")


def parse_key(prefix: str, key: str) -> dict[str, Any] | None:
    """The entry a checkpoint's name holds; None for any other object under the prefix."""
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix):].split("/")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) != SEQ_DIGITS:
        return None
    fields = dict(parse_qsl(parts[2], keep_blank_values=True))
    if not fields.get("hash"):
        return None
    entry: dict[str, Any] = {"log": unquote(parts[0]), "seq": int(parts[1])}
    entry.update({name: fields.get(name) for name in FIELDS if name in fields})
    entry.setdefault("rollout_id", None)
    return entry


class S3Witness(S3Location):
    """An AuditWitness (shipsafe.audit.witness) in an Object Lock (COMPLIANCE) bucket."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        now: Callable[[], datetime] | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        proxy: str | None = None,
    ) -> None:
        super().__init__(bucket, prefix, client)
        self._now = now or (lambda: datetime.now(UTC))
        self._retention: timedelta | None = None
        self.endpoint = endpoint
        self.region = region
        self.proxy = proxy

    @classmethod
    def from_url(cls, url: str, client: Any = None, endpoint: str | None = None,
                 region: str | None = None, proxy: str | None = None) -> S3Witness:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix, client, endpoint=endpoint, region=region, proxy=proxy)

    @classmethod
    def of_root(cls, document: Any) -> S3Witness:
        """The witness a trust document names, reached at the endpoint it pins."""
        return cls.from_url(document.audit_witness, endpoint=document.audit_witness_endpoint,
                            region=document.audit_witness_region,
                            proxy=document.audit_witness_proxy)

    @property
    def s3(self) -> Any:
        """The client, made for the pinned endpoint and region only: the deploying process's
        AWS_ENDPOINT_URL*, CA bundle and proxies do not apply (aws_common.pinned_client);
        the proxy the trust root pins does, where it pins one."""
        if self._client is None:
            self._client = aws_common.pinned_client("s3", self.endpoint, self.region,
                                                    self.proxy)
        return self._client

    # is it a witness? ----------------------------------------------------------------------
    def retention(self) -> timedelta:
        """The bucket's default COMPLIANCE retention; ConfigurationError (exit 2) unless the
        bucket has Object Lock with a COMPLIANCE default (checked with
        GetObjectLockConfiguration, once per process)."""
        if self._retention is not None:
            return self._retention
        where = f"audit witness bucket {self.bucket}"
        try:
            with aws_common.aws_errors(where, checking=True):
                try:
                    answer = self.s3.get_object_lock_configuration(Bucket=self.bucket)
                except Exception as exc:
                    if aws_common.error_code(exc) != "ObjectLockConfigurationNotFoundError":
                        raise
                    answer = {}
        except ShipsafeError as exc:
            raise ConfigurationError(f"{exc.message}") from None
        config = answer.get("ObjectLockConfiguration") or {}
        fix = (f"create it with --object-lock-enabled-for-bucket and aws s3api "
               f"put-object-lock-configuration --bucket {self.bucket} --object-lock-configuration "
               "'{\"ObjectLockEnabled\":\"Enabled\",\"Rule\":{\"DefaultRetention\":"
               "{\"Mode\":\"COMPLIANCE\",\"Days\":365}}}'")
        if config.get("ObjectLockEnabled") != "Enabled":
            raise ConfigurationError(
                f"{where} has no Object Lock: the deploying user could delete its "
                f"checkpoints; {fix}")
        default = (config.get("Rule") or {}).get("DefaultRetention") or {}
        mode = default.get("Mode")
        if mode != "COMPLIANCE":
            raise ConfigurationError(
                f"{where}: Object Lock default retention is {mode or 'not set'}, not "
                f"COMPLIANCE (GOVERNANCE can be bypassed): {fix}")
        days = int(default.get("Days") or 0) + 365 * int(default.get("Years") or 0)
        if days < 1:
            raise ConfigurationError(f"{where}: Object Lock default retention has no period")
        self._retention = timedelta(days=days)
        return self._retention

    def check(self) -> None:
        self.retention()

    def problems(self) -> list[str]:
        out: list[str] = []
        try:
            self.retention()
        except ConfigurationError as exc:
            out.append(exc.message)
        try:
            out += self.tampering()
        except AuditError as exc:
            out.append(exc.message)
        return out

    # writing -------------------------------------------------------------------------------
    def put(self, log: str | Any, record: dict[str, Any]) -> None:
        entry = witness_entry(log_id(log), record)
        if not isinstance(entry.get("seq"), int) or not entry.get("hash"):
            raise AuditError(f"not a chained audit record (seq {entry.get('seq')!r})")
        key = checkpoint_key(self.prefix, entry)
        if len(key.encode()) > MAX_KEY:
            raise AuditError(f"audit witness: the checkpoint name for {entry['log']} is longer "
                             f"than S3's {MAX_KEY} bytes (a shorter log path or prefix)")
        try:
            until = self._now() + self.retention()
            with aws_common.aws_errors(f"audit witness {self.url}"):
                try:
                    self.s3.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=canonical_json(entry).encode(),
                        ContentType="application/json",
                        IfNoneMatch="*",
                        ObjectLockMode="COMPLIANCE",
                        ObjectLockRetainUntilDate=until,
                    )
                except Exception as exc:
                    # the same name is the same entry (its hash is in the name): a retry
                    if aws_common.error_code(exc) not in ("PreconditionFailed", "412"):
                        raise
        except AuditError:
            raise
        except ShipsafeError as exc:
            raise AuditError(
                f"cannot checkpoint audit record {entry['seq']} to the witness {self.url}: "
                f"{exc.message}") from exc

    # reading -------------------------------------------------------------------------------
    def _versions(self) -> tuple[dict[str, int], list[str]]:
        """(name -> number of versions, names whose latest version is a delete marker)."""
        versions: dict[str, int] = {}
        deleted: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix}
        try:
            with aws_common.aws_errors(f"list the audit witness {self.url}", checking=True):
                while True:
                    page = self.s3.list_object_versions(**kwargs)
                    for v in page.get("Versions", []):
                        versions[v["Key"]] = versions.get(v["Key"], 0) + 1
                    deleted += [m["Key"] for m in page.get("DeleteMarkers", [])
                                if m.get("IsLatest")]
                    if not page.get("IsTruncated"):
                        break
                    kwargs["KeyMarker"] = page.get("NextKeyMarker")
                    kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")
        except ShipsafeError as exc:
            raise AuditError(f"cannot read the audit witness: {exc.message}") from None
        return versions, deleted

    def entries(self) -> list[dict[str, Any]]:
        versions, _ = self._versions()
        parsed = [e for e in (parse_key(self.prefix, k) for k in versions) if e is not None]
        return sorted(parsed, key=lambda e: (str(e["log"]), int(e["seq"])))

    def tampering(self) -> list[str]:
        """Checkpoints someone tried to overwrite or delete (Object Lock kept them)."""
        versions, deleted = self._versions()
        out = [f"{self.url}: checkpoint {_short(self.prefix, key)} was written {count} times "
               "(someone tried to overwrite it; the witness reads every version)"
               for key, count in sorted(versions.items())
               if count > 1 and parse_key(self.prefix, key) is not None]
        out += [f"{self.url}: checkpoint {_short(self.prefix, key)} was deleted (a delete "
                "marker hides it; Object Lock kept its version, which still counts)"
                for key in sorted(deleted) if parse_key(self.prefix, key) is not None]
        return out


def _short(prefix: str, key: str) -> str:
    entry = parse_key(prefix, key) or {}
    return f"{entry.get('log')} #{entry.get('seq')} (rollout {entry.get('rollout_id')})"

