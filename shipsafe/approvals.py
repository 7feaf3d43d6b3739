"""Approvals that cannot be forged or self-granted: ed25519 signatures over the rollout id,
the plan digest, the gate and an expiry, checked against the trust root's keys.

    shipsafe keys generate --out keys/alice                 -> alice.key, alice.pub
    shipsafe trust add-key --identity alice --kind human --public-key keys/alice.pub ...
    SHIPSAFE_KEY=keys/alice.key shipsafe approve ID          -> a signed approval

Every approval is signed: without a key an actor is an unverified agent and never
approves. The keys, their kinds and groups come from the trust root (shipsafe.trust.root)
on the machine that judges the approval, never from the rollout's stored record, and an
approval is judged again from its signature each time it is counted (resume, promote,
`audit pending`), so a row inserted into the store counts for nothing. Separation of
duties compares key identities: the key that signed the deploy never approves it.

GuardedApprovals is the engine's ApprovalVerifier; every refusal names its reason (the
engine audits it).
"""

from __future__ import annotations

import base64
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError

from shipsafe.errors import ApprovalRefused, UsageError
from shipsafe.plan.base import PlanModel, first_error
from shipsafe.records import (
    Actor,
    ActorKind,
    Approval,
    Command,
    CommandKind,
    RolloutRecord,
    TrustedKey,
    sha256_hex,
)
from shipsafe.trust.keys import (
    decode_public,
    encode_public,
    key_id,
    load_private,
    raw_public_of,
    sign,
    verifies,
)

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRoot

PURPOSE = "shipsafe-approval/v1"


# keys -------------------------------------------------------------------------------------
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
    raw = raw_public_of(key)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path.write_text(encode_public(raw) + "\n")
    return private_path, public_path, encode_public(raw)


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
        raise UsageError(f"{p}: {first_error(exc)}") from None
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
    key = load_private(Path(key_path))
    payload = {
        "purpose": PURPOSE,
        "rollout_id": record.id,
        "plan_digest": record.plan_digest,
        "gate": gate,
        "issued_at": now.isoformat(),
        "expires_at": (now + valid_for).isoformat(),
        "key_id": key_id(raw_public_of(key)),
    }
    return {"payload": payload, "signature": sign(key, payload)}


# verifying ----------------------------------------------------------------------------------
def person(identity: str) -> str:
    """Identities compare by the part before '@', case-insensitive: alice@laptop is alice."""
    return identity.split("@", 1)[0].strip().lower()


def gate_groups(record: RolloutRecord, gate: str, extra: str | None = None) -> list[str]:
    """Groups an approver of this gate must belong to: the policy's and the plan gate's."""
    groups = [record.guardrails.approval_group] if record.guardrails.approval_group else []
    if extra and extra not in groups:
        groups.append(extra)
    for step in record.plan.get("steps", []):
        spec = step.get("approval") if isinstance(step, dict) else None
        if isinstance(spec, dict) and spec.get("group") and _plan_gate(record, step, spec) == gate:
            groups.append(str(spec["group"]))
    return groups


def _plan_gate(record: RolloutRecord, step: dict[str, Any], spec: dict[str, Any]) -> str:
    if spec.get("name"):
        return str(spec["name"])
    return f"gate-{record.plan['steps'].index(step) + 1}"


def deployer_key(root: TrustRoot | None, record: RolloutRecord) -> TrustedKey | None:
    """The trust root's key that signed this rollout's deploy, or None (no key, or a proof
    that does not verify for this rollout and plan)."""
    from shipsafe.trust.proofs import DEPLOY, KeyProofs

    key = KeyProofs(root).signer(DEPLOY, record.proof)
    if key is None:
        return None
    payload = record.proof.get("payload", {})
    if payload.get("rollout_id") != record.id or payload.get("plan_digest") != record.plan_digest:
        return None
    return key


COMMAND_PURPOSE = "shipsafe-command/v1"
# a signed control command is applied within this long of being signed (a live driver
# applies it at its next tick; otherwise the signing process drives at once)
COMMAND_VALIDITY = timedelta(minutes=15)


def command_body(record: RolloutRecord, command: Command) -> dict[str, Any]:
    """What a control command's signature covers: which rollout running which plan, which
    verb with which arguments, and when it was issued."""
    return {
        "rollout_id": record.id,
        "plan_digest": record.plan_digest,
        "command": command.kind.value,
        "args": {k: v for k, v in command.args.items() if k != "signed"},
        "created_at": command.created_at.isoformat(),
    }


class GuardedApprovals:
    """The ApprovalVerifier that enforces a rollout's guardrails with the trust root's keys
    and policy (the stricter of the stored guardrails and the root's rules)."""

    def __init__(self, root: TrustRoot | None = None, policy: Any = None) -> None:
        """`policy`: the root's Policy (policy.verifier_for builds both from the root)."""
        self.root = root
        self.policy = policy

    def _root_rules(self, record: RolloutRecord) -> Any:
        if self.policy is None:
            return None
        return self.policy.rules_for(record.environment)

    def minimum(self, record: RolloutRecord) -> int:
        """Approvals a plan gate needs at least, whatever the stored record says."""
        rules = self._root_rules(record)
        approval = rules.require_approval if rules is not None else None
        return approval.count if approval else 1

    def verify(
        self, record: RolloutRecord, gate: str, command: Command, now: datetime
    ) -> Approval:
        signed = command.args.get("signed")
        if signed is None:
            raise ApprovalRefused(
                "every approval is signed with a human's key from the trust root: "
                f"SHIPSAFE_KEY=YOUR.key shipsafe approve {record.id} (an actor without a key "
                "is an unverified agent and never approves)"
            )
        key, payload, signature = self._check(record, gate, signed)
        expires = _time(payload.get("expires_at"))
        assert expires is not None
        if expires <= now:
            raise ApprovalRefused(f"the approval expired at {expires.isoformat()}")
        return Approval(
            rollout_id=record.id,
            gate=gate,
            actor=command.actor,
            approved_at=now,
            signer=key.identity,
            signature=signature,
            payload=payload,
        )

    def command_actor(self, record: RolloutRecord, command: Command, now: datetime) -> Actor:
        """Who a control command is from, as its signature proves it (the row's own actor is
        only a label): the trust root's identity and kind for the key that signed it, or an
        unverified agent."""
        key = self._command_signer(record, command, now)
        if key is None:
            return Actor(id=command.actor.id, kind=ActorKind.AGENT, host=command.actor.host)
        return Actor(id=command.actor.id, kind=key.kind, host=command.actor.host,
                     identity=key.identity, key_id=key.key_id)

    def check_command(self, record: RolloutRecord, kind: CommandKind, actor: Actor) -> None:
        """Raise ApprovalRefused when `actor` (as command_actor proved it) may not `kind`."""
        if kind == CommandKind.PROMOTE:
            key = self.root.key(actor.key_id) if self.root and actor.key_id else None
            self._may_promote(record, key)

    def _command_signer(
        self, record: RolloutRecord, command: Command, now: datetime
    ) -> TrustedKey | None:
        from shipsafe.trust.proofs import KeyProofs

        key = KeyProofs(self.root).signer(COMMAND_PURPOSE, command.proof)
        if key is None:
            return None
        payload = command.proof["payload"]
        signed_body = {k: v for k, v in payload.items() if k not in ("purpose", "key_id")}
        if signed_body != command_body(record, command):
            return None  # signed for another rollout, plan, verb, arguments or moment
        if (
            command.kind == CommandKind.PROMOTE
            and not command.args.get("full")
            and not isinstance(command.args.get("step"), int)
        ):
            return None  # a signed promote names the step it skips (it replays nowhere else)
        issued = _time(payload.get("created_at"))
        if issued is None or not (
            now - COMMAND_VALIDITY <= issued <= now + timedelta(minutes=1)
        ):
            return None  # an old signed command replayed
        return key

    def _may_promote(self, record: RolloutRecord, key: TrustedKey | None) -> None:
        """pause, resume, abort and rollback need no key; promote, which may waive a step's
        analysis, needs what the environment's approvals need: a human key of the trust root
        (in the approval group, where the policy names one)."""
        rules = self._root_rules(record)
        approval = rules.require_approval if rules is not None else None
        if approval is None and not record.guardrails.signed_approvals:
            return  # approvals need no key here: neither does promote
        group = (approval.group if approval else None) or record.guardrails.approval_group
        how = (
            f"promote may skip a step's analysis, so in {record.environment} it needs what "
            "an approval needs: a signed command from a human key of the trust root"
            + (f" in group {group}" if group else "")
            + f" (SHIPSAFE_KEY=YOUR.key shipsafe promote {record.id})"
        )
        if key is None:
            raise ApprovalRefused(f"the command is not signed by a key the trust root lists; {how}")
        if key.kind != ActorKind.HUMAN:
            raise ApprovalRefused(f"{key.identity}'s key is a {key.kind.value} key; {how}")
        if group and group not in key.groups:
            raise ApprovalRefused(f"{key.identity} is not in group {group}; {how}")

    def verified_signers(
        self, record: RolloutRecord, gate: str, approvals: list[Approval]
    ) -> set[str]:
        """The distinct trust-root identities whose stored approvals of `gate` verify now,
        from their signatures (a row nobody signed, or signed by a key the root does not
        list, counts for nothing)."""
        out: set[str] = set()
        for approval in approvals:
            if approval.gate != gate or approval.rollout_id != record.id:
                continue
            signed = {"payload": approval.payload, "signature": approval.signature}
            try:
                key, _, _ = self._check(record, gate, signed)
            except ApprovalRefused:
                continue
            out.add(key.identity.lower())
        return out

    def _check(
        self, record: RolloutRecord, gate: str, signed: Any
    ) -> tuple[TrustedKey, dict[str, Any], str]:
        """Everything about a signed approval except whether it is still valid now."""
        if not isinstance(signed, dict):
            raise ApprovalRefused("the signed approval is malformed")
        payload, signature = signed.get("payload"), signed.get("signature")
        if not isinstance(payload, dict) or not isinstance(signature, str):
            raise ApprovalRefused("the signed approval is malformed")
        kid = str(payload.get("key_id", ""))
        key = self.root.key(kid) if self.root is not None else None
        if key is None:
            where = "the trust root" if self.root is not None else "a trust root (none here)"
            raise ApprovalRefused(f"key {kid or '(none)'} is not in {where}")
        narrowed = {k.key_id for k in record.guardrails.trusted_keys}
        if narrowed and kid not in narrowed:
            raise ApprovalRefused(
                f"key {kid} ({key.identity}) is not among the keys this rollout accepts "
                "(narrowed by --trust when it started)"
            )
        if not verifies(key.public_key, payload, signature):
            raise ApprovalRefused(
                f"the signature does not verify with {key.identity}'s key {kid}: forged or "
                "altered"
            )
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
        longest = timedelta(seconds=record.guardrails.max_approval_validity_seconds)
        if self.policy is not None:
            longest = min(longest, timedelta(seconds=self.policy.approvals.max_validity))
        if expires - issued > longest:
            raise ApprovalRefused(
                f"the approval is valid for {expires - issued}, longer than the "
                f"{longest} the policy allows"
            )
        if key.kind != ActorKind.HUMAN:
            raise ApprovalRefused(
                f"{key.identity}'s key is a {key.kind.value} key: only human keys approve"
            )
        self._not_the_deployer(record, key)
        rules = self._root_rules(record)
        root_group = rules.require_approval.group if rules and rules.require_approval else None
        missing = [g for g in gate_groups(record, gate, root_group) if g not in key.groups]
        if missing:
            raise ApprovalRefused(
                f"gate {gate} needs an approver from group {', '.join(missing)}; "
                f"{key.identity} is in {', '.join(key.groups) or 'no group'}"
            )
        return key, payload, signature

    def _not_the_deployer(self, record: RolloutRecord, key: TrustedKey) -> None:
        deployer = deployer_key(self.root, record)
        if deployer is not None and (
            deployer.key_id == key.key_id or person(deployer.identity) == person(key.identity)
        ):
            raise ApprovalRefused(
                f"{key.identity} signed this rollout's deploy (key {deployer.key_id}): nobody "
                "approves their own rollout, whatever name they deploy under"
            )
        if deployer is None and person(record.actor.id) == person(key.identity):
            raise ApprovalRefused(
                f"{key.identity} started this rollout: nobody approves their own rollout"
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
