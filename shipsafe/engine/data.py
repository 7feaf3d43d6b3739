"""Data snapshots: the `snapshot` step takes and verifies them; `cutover` and `migrate`
verify them again right before they act. Records live in the rollout's Snapshot.data, so a
rollback (or a human) finds them from the store alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipsafe.errors import (
    ConfigurationError,
    DataSnapshotError,
    ProviderError,
)
from shipsafe.records import EventType, OperationOutcome, sha256_hex

if TYPE_CHECKING:
    from shipsafe.engine.effects import Effects

DATA_PROOF = "shipsafe-data-snapshot/v1"


def _provider(fx: Effects, name: str) -> Any:
    config = fx.plan.data_snapshots[name].model_dump(mode="json", by_alias=True)
    return fx.data_snapshot(name, config)


def take(fx: Effects, names: list[str]) -> list[dict[str, Any]]:
    """Take each named data snapshot, verify it, store it with the rollout's snapshot."""
    snapshot = fx.stored_snapshot()
    if snapshot is None:
        raise DataSnapshotError("no router snapshot to attach data snapshots to")
    taken: list[dict[str, Any]] = []
    for name in names:
        op = fx.operation("data_snapshot", {"name": name})
        try:
            provider = _provider(fx, name)
            record = provider.take(fx.record.id)
            provider.verify(record)
        except (ProviderError, ConfigurationError) as exc:
            fx.finish(op, OperationOutcome.ERROR, str(exc))
            raise DataSnapshotError(f"data snapshot {name}: {exc}") from None
        record = {**record, "name": name, "verified_at": fx.now().isoformat()}
        proof = fx.sign(
            DATA_PROOF, {"rollout_id": fx.record.id, "record": dict(record)}
        )
        if proof is not None:
            record = {**record, "proof": proof}
        fx.finish(op, OperationOutcome.OK, str(record.get("id", "")))
        fx.emit(  # the witness keeps the record's digest (see _check_proof)
            EventType.DATA_SNAPSHOT_TAKEN,
            message=f"data snapshot {name}: {record.get('id')}",
            data={"snapshot": record, "name": name, "record_sha256": _digest(record)},
        )
        fx.emit(
            EventType.DATA_SNAPSHOT_VERIFIED,
            message=f"data snapshot {name} verified ({record.get('status', 'available')})",
            data={"name": name, "id": record.get("id")},
        )
        taken.append(record)
    others = [d for d in snapshot.data if d.get("name") not in names]
    fx.save_snapshot(snapshot.model_copy(update={"data": others + taken}))
    return taken


def verify_all(fx: Effects, why: str) -> list[dict[str, Any]]:
    """Verify every data snapshot of this rollout again, now. Raises DataSnapshotError when
    there is none or one does not verify: what follows must not run without a way back."""
    snapshot = fx.stored_snapshot()
    records = snapshot.data if snapshot is not None else []
    if not records:
        raise DataSnapshotError(
            f"{why} needs a verified data snapshot first (a `snapshot` step before it)"
        )
    for record in records:
        name = str(record.get("name"))
        _check_proof(fx, record, why)
        try:
            if name not in fx.plan.data_snapshots:
                raise ProviderError("the plan no longer names it")
            _provider(fx, name).verify(record)
        except (ProviderError, ConfigurationError) as exc:
            raise DataSnapshotError(f"{why}: data snapshot {name} does not verify: {exc}") from None
    fx.emit(
        EventType.DATA_SNAPSHOT_VERIFIED,
        message=f"{len(records)} data snapshot(s) verified before {why}",
        data={"ids": [r.get("id") for r in records], "before": why},
    )
    return records


def _check_proof(fx: Effects, record: dict[str, Any], why: str) -> None:
    """A data-snapshot record is evidence: when the deploy was signed (or the record carries
    a proof), the record must verify, unchanged, from its signature by a trusted key: a
    record edited in the store (another file, its new checksum) stops what follows."""
    signed = fx.signer("shipsafe-deploy/v1", fx.record.proof) is not None
    proof = record.get("proof")
    if not signed and proof is None:
        _check_witnessed(fx, record, why)
        return
    body = {k: v for k, v in record.items() if k != "proof"}
    key = fx.signer(DATA_PROOF, proof)
    payload = proof.get("payload", {}) if isinstance(proof, dict) else {}
    if (
        key is None
        or payload.get("rollout_id") != fx.record.id
        or payload.get("record") != body
    ):
        raise DataSnapshotError(
            f"{why}: data snapshot record {record.get('name')} does not verify from its "
            "signature (edited in the store, or never signed): refusing to go on without a "
            "proven way back"
        )


def _digest(record: dict[str, Any]) -> str:
    return sha256_hex({k: v for k, v in record.items() if k != "proof"})


def _check_witnessed(fx: Effects, record: dict[str, Any], why: str) -> None:
    """A keyless deploy signs nothing, so its record is checked against the digest the audit
    witness took when the snapshot was taken (every entry for it must agree: anyone may
    append to the witness, nobody may rewrite it). The entry comes from whichever log the
    rollout's records are chained in: a local file or a team store's chain (dynamodb://TABLE,
    StoreAuditLog), both checkpointed to the trust root's witness. Without a witness there is
    nothing to check it against (README, Trust model)."""
    name = str(record.get("name"))
    witnessed = fx.witnessed(fx.record.id, name)
    if witnessed is None:
        return
    digest = _digest(record)
    if not witnessed or any(w != digest for w in witnessed):
        found = "has no entry for it" if not witnessed else "holds another record"
        raise DataSnapshotError(
            f"{why}: data snapshot record {name} is not the one the audit witness saw taken "
            f"(the witness {found}; edited in the store?): refusing to go on without a "
            "proven way back"
        )


def restore_hints(fx: Effects) -> str:
    """Which snapshot restores the data, and how (for the rollback_failed message)."""
    snapshot = fx.stored_snapshot()
    if snapshot is None or not snapshot.data:
        return "no data snapshot was taken"
    hints = []
    for record in snapshot.data:
        name = str(record.get("name"))
        hint = f"snapshot {record.get('id')}"
        stored = record.get("restoreHint")
        if stored:  # written when the snapshot was taken: needs no provider, no plan
            hints.append(f"{name} from {hint}: {stored}")
            continue
        try:
            config = record.get("provider")
            provider = fx.data_snapshot(name, {**_stored_config(fx, name),
                                                                 "provider": config})
            hint += f": {provider.restore_hint(record)}"
        except (ProviderError, ConfigurationError):
            pass
        hints.append(f"{name} from {hint}")
    return "restore the data: " + "; ".join(hints)


def _stored_config(fx: Effects, name: str) -> dict[str, Any]:
    if name in fx.plan.data_snapshots:
        return dict(fx.plan.data_snapshots[name].model_dump(mode="json", by_alias=True))
    return {}
