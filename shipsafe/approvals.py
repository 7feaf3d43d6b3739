"""Approvals that cannot be forged or self-granted: ed25519 signatures over the rollout id,
the plan digest, the gate and an expiry, checked against a trust file.

    shipsafe keys generate --identity alice --out keys/alice   -> alice.key, alice.pub
    trust file (YAML):  approvers: [{identity, kind: human|ci|agent, groups, publicKey}]
    shipsafe approve ID --key keys/alice.key                   -> a signed approval

Why ed25519 from `cryptography`: small keys and signatures, deterministic signing (no nonce
to get wrong), and a maintained, audited implementation already among our dependencies.
The trust file is read when the deploy starts and its public keys are stored with the
rollout, so an approval is judged the same way on any machine, and swapping the trust file
afterwards changes nothing for that rollout.

GuardedApprovals is the engine's ApprovalVerifier: it enforces what the rollout's
guardrails say, and every refusal names its reason (the engine audits it).
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from shipsafe.errors import ApprovalRefused, UsageError
from shipsafe.plan.base import PlanModel
from shipsafe.records import (
    Actor,
    ActorKind,
    Approval,
    Command,
    RolloutRecord,
    TrustedKey,
    canonical_json,
    sha256_hex,
)

PURPOSE = "shipsafe-approval/v1"
KEY_PREFIX = "ed25519:"


# keys -------------------------------------------------------------------------------------
def key_id(raw_public: bytes) -> str:
    return KEY_PREFIX + hashlib.sha256(raw_public).hexdigest()[:16]


def encode_public(raw_public: bytes) -> str:
    return KEY_PREFIX + base64.b64encode(raw_public).decode()


def decode_public(text: str) -> bytes:
    if not text.startswith(KEY_PREFIX):
        raise ValueError(f"a public key starts with {KEY_PREFIX}")
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX):], validate=True)
    except ValueError as exc:
        raise ValueError("the public key is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError("an ed25519 public key is 32 bytes")
    return raw


def generate_keys(out: Path) -> tuple[Path, Path, str]:
    """Write OUT.key (private, mode 600, never leaves this machine) and OUT.pub."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_path, public_path = Path(f"{out}.key"), Path(f"{out}.pub")
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{path} exists already; choose another --out")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path.write_text(encode_public(raw) + "\n")
    return private_path, public_path, encode_public(raw)


def _load_private(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such key file") from None
    except (ValueError, TypeError, OSError):
        # never echo the file's content: it is a private key
        raise UsageError(f"{path}: not an unencrypted ed25519 private key (PEM)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an ed25519 key")
    return key


# the trust file ---------------------------------------------------------------------------
class Approver(PlanModel):
    identity: str = Field(min_length=1)
    kind: Literal["human", "ci", "agent"]
    groups: list[str] = Field(default_factory=list)
    public_key: str


class TrustFile(PlanModel):
    api_version: Literal["shipsafe/v1"] = "shipsafe/v1"
    kind: Literal["Trust"] = "Trust"
    approvers: list[Approver] = Field(default_factory=list)


def load_trust(path: str | Path) -> tuple[list[TrustedKey], str]:
    """The trusted keys and the digest of the trust file. UsageError (exit 2) if invalid."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{p}: no such trust file") from None
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{p}: cannot read the trust file: {exc}") from None
    try:
        trust = TrustFile.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise UsageError(f"{p}: {where}: {first['msg']}") from None
    keys: list[TrustedKey] = []
    for i, approver in enumerate(trust.approvers):
        try:
            raw = decode_public(approver.public_key)
        except ValueError as exc:
            raise UsageError(f"{p}: approvers[{i}].publicKey: {exc}") from None
        keys.append(
            TrustedKey(
                key_id=key_id(raw),
                identity=approver.identity,
                kind=ActorKind(approver.kind),
                groups=list(approver.groups),
                public_key=base64.b64encode(raw).decode(),
            )
        )
    return keys, sha256_hex(trust.model_dump(mode="json", by_alias=True))


# signing ------------------------------------------------------------------------------------
def sign_approval(
    key_path: str | Path,
    record: RolloutRecord,
    gate: str,
    now: datetime,
    valid_for: timedelta,
) -> dict[str, Any]:
    """A signed approval of one gate of one rollout running one plan, valid until expiry."""
    from cryptography.hazmat.primitives import serialization

    key = _load_private(Path(key_path))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    payload = {
        "purpose": PURPOSE,
        "rollout_id": record.id,
        "plan_digest": record.plan_digest,
        "gate": gate,
        "issued_at": now.isoformat(),
        "expires_at": (now + valid_for).isoformat(),
        "key_id": key_id(raw),
    }
    signature = key.sign(canonical_json(payload).encode())
    return {"payload": payload, "signature": base64.b64encode(signature).decode()}


# verifying ----------------------------------------------------------------------------------
def person(identity: str) -> str:
    """Identities compare by the part before '@', case-insensitive: alice@laptop is alice."""
    return identity.split("@", 1)[0].strip().lower()


def gate_groups(record: RolloutRecord, gate: str) -> list[str]:
    """Groups an approver of this gate must belong to: the policy's and the plan gate's."""
    groups = [record.guardrails.approval_group] if record.guardrails.approval_group else []
    for step in record.plan.get("steps", []):
        spec = step.get("approval") if isinstance(step, dict) else None
        if isinstance(spec, dict) and spec.get("group") and _plan_gate(record, step, spec) == gate:
            groups.append(str(spec["group"]))
    return groups


def _plan_gate(record: RolloutRecord, step: dict[str, Any], spec: dict[str, Any]) -> str:
    if spec.get("name"):
        return str(spec["name"])
    return f"gate-{record.plan['steps'].index(step) + 1}"


class GuardedApprovals:
    """The ApprovalVerifier that enforces a rollout's guardrails."""

    def verify(
        self, record: RolloutRecord, gate: str, command: Command, now: datetime
    ) -> Approval:
        signed = command.args.get("signed")
        rails = record.guardrails
        if signed is None:
            if rails.signed_approvals:
                raise ApprovalRefused(
                    "this rollout accepts only signed approvals: shipsafe approve "
                    f"{record.id} --key YOUR.key"
                )
            return self._unsigned(record, gate, command, now)
        return self._signed(record, gate, command, signed, now)

    def _unsigned(
        self, record: RolloutRecord, gate: str, command: Command, now: datetime
    ) -> Approval:
        actor = command.actor
        if actor.kind != ActorKind.HUMAN:
            raise ApprovalRefused(f"{actor.id} is a {actor.kind.value}: only humans approve")
        if person(actor.id) == person(record.actor.id):
            raise ApprovalRefused(
                f"{actor.id} started this rollout: nobody approves their own rollout"
            )
        groups = gate_groups(record, gate)
        if groups:
            raise ApprovalRefused(
                f"gate {gate} needs an approver from group {', '.join(groups)}: only a signed "
                "approval proves group membership"
            )
        return Approval(rollout_id=record.id, gate=gate, actor=actor, approved_at=now)

    def _signed(
        self,
        record: RolloutRecord,
        gate: str,
        command: Command,
        signed: Any,
        now: datetime,
    ) -> Approval:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if not isinstance(signed, dict):
            raise ApprovalRefused("the signed approval is malformed")
        payload, signature = signed.get("payload"), signed.get("signature")
        if not isinstance(payload, dict) or not isinstance(signature, str):
            raise ApprovalRefused("the signed approval is malformed")
        kid = str(payload.get("key_id", ""))
        key = next((k for k in record.guardrails.trusted_keys if k.key_id == kid), None)
        if key is None:
            raise ApprovalRefused(f"key {kid or '(none)'} is not in this rollout's trust file")
        try:
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_key))
            public.verify(base64.b64decode(signature), canonical_json(payload).encode())
        except (InvalidSignature, ValueError):
            raise ApprovalRefused(
                f"the signature does not verify with {key.identity}'s key {kid}: forged or "
                "altered"
            ) from None
        if payload.get("purpose") != PURPOSE:
            raise ApprovalRefused("the signature is not for a shipsafe approval")
        if payload.get("rollout_id") != record.id:
            raise ApprovalRefused(
                f"signed for rollout {payload.get('rollout_id')}, not {record.id}: an approval "
                "is not transferable"
            )
        if sha256_hex(record.plan) != record.plan_digest:
            raise ApprovalRefused(
                "the rollout's stored plan does not match its digest: the record was edited"
            )
        if payload.get("plan_digest") != record.plan_digest:
            raise ApprovalRefused(
                f"signed for plan sha256:{str(payload.get('plan_digest'))[:16]}, but this "
                f"rollout runs sha256:{record.plan_digest[:16]}: the plan changed"
            )
        if payload.get("gate") != gate:
            raise ApprovalRefused(f"signed for gate {payload.get('gate')}, not {gate}")
        expires = _time(payload.get("expires_at"))
        issued = _time(payload.get("issued_at"))
        if expires is None or issued is None:
            raise ApprovalRefused("the approval has no valid issue or expiry time")
        if expires <= now:
            raise ApprovalRefused(f"the approval expired at {expires.isoformat()}")
        longest = timedelta(seconds=record.guardrails.max_approval_validity_seconds)
        if expires - issued > longest:
            raise ApprovalRefused(
                f"the approval is valid for {expires - issued}, longer than the "
                f"{longest} the policy allows"
            )
        if key.kind != ActorKind.HUMAN:
            raise ApprovalRefused(
                f"{key.identity}'s key is a {key.kind.value} key: only human keys approve"
            )
        if person(key.identity) == person(record.actor.id):
            raise ApprovalRefused(
                f"{key.identity} started this rollout: no key approves a rollout started "
                "under its own identity"
            )
        missing = [g for g in gate_groups(record, gate) if g not in key.groups]
        if missing:
            raise ApprovalRefused(
                f"gate {gate} needs an approver from group {', '.join(missing)}; "
                f"{key.identity} is in {', '.join(key.groups) or 'no group'}"
            )
        return Approval(
            rollout_id=record.id,
            gate=gate,
            actor=command.actor,
            approved_at=now,
            signer=key.identity,
            signature=signature,
            payload=payload,
        )


def _time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


__all__ = [
    "Actor",
    "GuardedApprovals",
    "generate_keys",
    "load_trust",
    "sign_approval",
]
