"""The trust root: the organisation's admin keys and, signed by them, the policy and every
actor's key and kind (human, ci, agent).

    apiVersion: shipsafe/v1
    kind: TrustRoot
    admins: [{identity: ops, publicKey: "ed25519:..."}]
    threshold: 1                     # admin signatures needed
    document:                        # what the admins sign
      serial: 3                      # grows with every change: an older copy never wins
      issuedAt: "2026-03-04T12:00:00+00:00"
      policy: {apiVersion: shipsafe/v1, kind: Policy, environments: {...}}
      actors: [{identity: alice, kind: human, groups: [release], publicKey: "ed25519:..."}]
    signatures: [{keyId: "ed25519:...", signature: "..."}]

It lives in a file the deploying user cannot write (default /etc/shipsafe/trust.yaml, or
SHIPSAFE_TRUST_ROOT, which may name only the default itself once that exists), checked as
ssh's StrictModes does (shipsafe.trust.paths). The admins list is trusted because of where
the file lives; everything else because they signed it, so a copy of the document (pinned
into a state store) verifies anywhere the root does.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from shipsafe.errors import PolicyViolation
from shipsafe.plan.base import PlanModel, first_error
from shipsafe.records import ActorKind, TrustedKey, sha256_hex
from shipsafe.trust import keys

ROOT_ENV = "SHIPSAFE_TRUST_ROOT"
DEFAULT_ROOT = "/etc/shipsafe/trust.yaml"
PURPOSE = "shipsafe-trust-root/v1"


class AdminKey(PlanModel):
    identity: str = Field(min_length=1)
    public_key: str


class ActorKey(PlanModel):
    identity: str = Field(min_length=1)
    kind: Literal["human", "ci", "agent"]
    groups: list[str] = Field(default_factory=list)
    public_key: str


class RootSignature(PlanModel):
    key_id: str
    signature: str


class TrustDocument(PlanModel):
    serial: int = Field(ge=1)
    issued_at: str
    policy: dict[str, Any]
    actors: list[ActorKey] = Field(default_factory=list)
    # where every audit record is witnessed: an append-only file, or s3://BUCKET/PREFIX of a
    # bucket with Object Lock in COMPLIANCE mode (shipsafe.audit.witness, .s3_witness)
    audit_witness: str | None = None
    # where an s3:// witness is reached, whatever the deploying process's environment says
    # (AWS_ENDPOINT_URL*, proxies, CA bundle): recorded by `trust set-witness`; a root
    # without them reaches AWS's regional endpoint (shipsafe.providers.aws_common)
    audit_witness_endpoint: str | None = None
    audit_witness_region: str | None = None
    # the proxy every deploy reaches an s3:// witness through (http://HOST:PORT), for sites
    # whose machines reach S3 only through one; none: direct, whatever HTTPS_PROXY says
    audit_witness_proxy: str | None = Field(default=None, pattern=r"^https?://[^/?#@\s]+/?$")


# added after roots were signed: signed only when set, so an older root still verifies
_SIGNED_WHEN_SET = ("auditWitnessEndpoint", "auditWitnessRegion", "auditWitnessProxy")


class TrustRootFile(PlanModel):
    api_version: Literal["shipsafe/v1"] = "shipsafe/v1"
    kind: Literal["TrustRoot"] = "TrustRoot"
    admins: list[AdminKey] = Field(min_length=1)
    threshold: int = Field(default=1, ge=1)
    document: TrustDocument
    signatures: list[RootSignature] = Field(default_factory=list)


def signed_payload(admins: list[AdminKey], threshold: int, document: Any) -> dict[str, Any]:
    """What the admins sign: the document, bound to the admin set that vouches for it."""
    doc = document.model_dump(mode="json", by_alias=True) if isinstance(
        document, TrustDocument) else document
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if not (k in _SIGNED_WHEN_SET and v is None)}
    return {
        "purpose": PURPOSE,
        "admins": sorted(a.public_key for a in admins),
        "threshold": threshold,
        "document": doc,
    }


@dataclass
class TrustRoot:
    """A trust root that was found safe and verified."""

    source: str
    admins: list[AdminKey]
    threshold: int
    document: TrustDocument
    digest: str  # sha256 of the signed payload
    actors: list[TrustedKey]
    signatures: list[dict[str, Any]]

    @property
    def serial(self) -> int:
        return self.document.serial

    def key(self, kid: str | None) -> TrustedKey | None:
        return next((k for k in self.actors if k.key_id == kid), None)

    def signers_of(self, payload: dict[str, Any], signatures: Any) -> set[str]:
        """The admin key ids whose signature over payload verifies."""
        good: set[str] = set()
        if not isinstance(signatures, list):
            return good
        for admin in self.admins:
            raw = keys.decode_public(admin.public_key)
            kid = keys.key_id(raw)
            for entry in signatures:
                if (
                    isinstance(entry, dict)
                    and entry.get("keyId") == kid
                    and keys.verifies(base64.b64encode(raw).decode(), payload,
                                      entry.get("signature"))
                ):
                    good.add(kid)
        return good

    def with_document(
        self, document: TrustDocument, signatures: list[dict[str, Any]], source: str
    ) -> TrustRoot:
        """This root's admins vouching for another (verified) document of theirs."""
        payload = signed_payload(self.admins, self.threshold, document)
        return TrustRoot(source, self.admins, self.threshold, document, sha256_hex(payload),
                         actor_keys(document, source), signatures)

    def verify_copy(self, document: Any, signatures: Any) -> TrustDocument | None:
        """A copy of a document (e.g. pinned in a store) if this root's admins signed it."""
        try:
            doc = TrustDocument.model_validate(document)
        except ValidationError:
            return None
        payload = signed_payload(self.admins, self.threshold, doc)
        if len(self.signers_of(payload, signatures)) < self.threshold:
            return None
        return doc


def root_path(environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """The trust root's path and whether it was named explicitly (SHIPSAFE_TRUST_ROOT).
    Where the machine has its default root (DEFAULT_ROOT exists), the environment may name
    only that same file: otherwise the deploying agent, which sets its own environment,
    could pick any other valid root-owned root on the machine (PolicyViolation, exit 2)."""
    env = os.environ if environ is None else environ
    named = env.get(ROOT_ENV) or ""
    if not named:
        return Path(DEFAULT_ROOT), False
    refuse_other_than_default(Path(named))
    return Path(named), True


def refuse_other_than_default(named: Path) -> None:
    """PolicyViolation if the machine's default root exists and NAMED is not that file."""
    default = Path(DEFAULT_ROOT)  # read at call time: tests point it into tmp_path
    if not os.path.lexists(default) or _same_file(named, default):
        return
    raise PolicyViolation(
        f"{ROOT_ENV}={named} refused: this machine's trust root is {default}, and while it "
        f"exists {ROOT_ENV} may name only that file (README, Trust model)"
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def refuse_unsafe(path: Path) -> None:
    """PolicyViolation unless PATH is out of the invoking user's reach (StrictModes)."""
    from shipsafe.trust.paths import unsafe_reason

    why = unsafe_reason(path)
    if why is not None:
        raise PolicyViolation(
            f"trust root refused: {why}; it must be a root-owned file the deploying user "
            "cannot write (see README, Trust model)"
        )


def read_root(path: Path, check_modes: bool = True) -> TrustRoot:
    if check_modes:
        refuse_unsafe(path)
    parsed = parse_root_file(path)
    return verify_root(parsed, str(path))


def parse_root_file(path: Path) -> TrustRootFile:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyViolation(f"{path}: no such trust root") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PolicyViolation(f"{path}: cannot read the trust root: {exc}") from None
    try:
        return TrustRootFile.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        raise PolicyViolation(f"{path}: {first_error(exc)}") from None


def verify_root(parsed: TrustRootFile, source: str) -> TrustRoot:
    for i, admin in enumerate(parsed.admins):
        try:
            keys.decode_public(admin.public_key)
        except ValueError as exc:
            raise PolicyViolation(f"{source}: admins[{i}].publicKey: {exc}") from None
    actors = actor_keys(parsed.document, source)
    payload = signed_payload(parsed.admins, parsed.threshold, parsed.document)
    signatures = [s.model_dump(by_alias=True) for s in parsed.signatures]
    root = TrustRoot(source, parsed.admins, parsed.threshold, parsed.document,
                     sha256_hex(payload), actors, signatures)
    if len(root.signers_of(payload, signatures)) < parsed.threshold:
        raise PolicyViolation(
            f"{source}: the trust root's document is not signed by {parsed.threshold} of its "
            "admin keys: edited or unsigned (shipsafe trust sign)"
        )
    return root


def actor_keys(document: TrustDocument, source: str) -> list[TrustedKey]:
    actors: list[TrustedKey] = []
    for i, actor in enumerate(document.actors):
        try:
            raw = keys.decode_public(actor.public_key)
        except ValueError as exc:
            raise PolicyViolation(f"{source}: document.actors[{i}].publicKey: {exc}") from None
        actors.append(
            TrustedKey(
                key_id=keys.key_id(raw),
                identity=actor.identity,
                kind=ActorKind(actor.kind),
                groups=list(actor.groups),
                public_key=base64.b64encode(raw).decode(),
            )
        )
    return actors


def sign_root(parsed: TrustRootFile, admin_keys: list[Any]) -> TrustRootFile:
    """Replace the signatures with those of the given admin private keys (which must be
    listed among the admins)."""
    from shipsafe.errors import UsageError

    admin_ids = {keys.key_id(keys.decode_public(a.public_key)) for a in parsed.admins}
    payload = signed_payload(parsed.admins, parsed.threshold, parsed.document)
    signatures = []
    for private in admin_keys:
        kid = keys.key_id(keys.raw_public_of(private))
        if kid not in admin_ids:
            raise UsageError(f"key {kid} is not one of the trust root's admin keys")
        signatures.append(RootSignature(key_id=kid, signature=keys.sign(private, payload)))
    return parsed.model_copy(update={"signatures": signatures})


def write_root(path: Path, parsed: TrustRootFile) -> None:
    """Write atomically, mode 644 (readable by every deploying user, writable by its owner)."""
    import yaml

    text = yaml.safe_dump(parsed.model_dump(mode="json", by_alias=True), sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
