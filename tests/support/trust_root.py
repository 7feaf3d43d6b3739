"""Write a trust root for tests: a policy and people's keys, signed by keys/admin.key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shipsafe.approvals import generate_keys
from shipsafe.trust.keys import load_private
from shipsafe.trust.root import (
    ActorKey,
    AdminKey,
    TrustDocument,
    TrustRootFile,
    sign_root,
    write_root,
)

ISSUED = "2026-03-04T12:00:00+00:00"


def ensure_keys(keys: Path, names: list[str]) -> None:
    for name in names:
        if not (keys / f"{name}.key").exists():
            generate_keys(keys / name)


def write_trust_root(
    root: Path,
    policy: str,
    people: dict[str, tuple[str, list[str]]],
    serial: int = 1,
    path: Path | None = None,
    witness: Path | str | None = None,
) -> Path:
    """root/trust-root.yaml (or `path`), signed by root/keys/admin.key; keys are made as
    needed in root/keys/NAME.key|.pub."""
    keys = root / "keys"
    ensure_keys(keys, [*people, "admin"])

    def public(name: str) -> str:
        return (keys / f"{name}.pub").read_text().strip()

    document = TrustDocument(
        serial=serial,
        issued_at=ISSUED,
        policy=yaml.safe_load(policy),
        actors=[
            ActorKey(identity=name, kind=kind, groups=groups,  # type: ignore[arg-type]
                     public_key=public(name))
            for name, (kind, groups) in people.items()
        ],
        audit_witness=str(witness) if witness else None,
    )
    parsed = TrustRootFile(admins=[AdminKey(identity="admin", public_key=public("admin"))],
                           document=document)
    target = path or root / "trust-root.yaml"
    write_root(target, sign_root(parsed, [load_private(keys / "admin.key")]))
    return target


PERMISSIVE = 'apiVersion: shipsafe/v1\nkind: Policy\nenvironments: {"*": {}}\n'


def permissive_trust_root(
    where: Path, monkeypatch: Any, key: str | None = "ci-bot", witness: str | None = None
) -> Path:
    """For tests of mechanics, not guardrails: a trust root that signs an empty policy, with
    keys for ci-bot (ci), bob (human) and helper (agent); this process acts with `key`.
    The test process owns the file (in CI: root), so it is accepted as a trust root."""
    import os

    people = {"ci-bot": ("ci", []), "bob": ("human", []), "helper": ("agent", [])}
    monkeypatch.setattr("shipsafe.trust.paths.TRUSTED_OWNERS", frozenset({0, os.geteuid()}))
    root = write_trust_root(where, PERMISSIVE, people, witness=witness)
    monkeypatch.setenv("SHIPSAFE_TRUST_ROOT", str(root))
    monkeypatch.delenv("SHIPSAFE_POLICY", raising=False)
    if key is None:
        monkeypatch.delenv("SHIPSAFE_KEY", raising=False)
    else:
        monkeypatch.setenv("SHIPSAFE_KEY", str(where / "keys" / f"{key}.key"))
    return root
