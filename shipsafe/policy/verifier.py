"""The policy a trust root signed, read from its mapping, and the approval verifier built
from the root: used by the policy package and by its runtime rules alike (a leaf, so
neither imports the other for it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipsafe.errors import PolicyViolation
from shipsafe.policy.model import Policy

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRoot


def policy_from_mapping(data: Any, source: str) -> Policy:
    """A policy from already-parsed data (a trust root's document); PolicyViolation names
    the first wrong key."""
    from pydantic import ValidationError

    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        from shipsafe.plan.base import first_error

        raise PolicyViolation(f"{source}: policy.{first_error(exc)}") from None


def verifier_for(root: TrustRoot | None) -> Any:
    """The ApprovalVerifier for this trust root: its keys, and its policy's rules."""
    from shipsafe.approvals import GuardedApprovals

    if root is None:
        return GuardedApprovals()
    return GuardedApprovals(
        root, policy_from_mapping(root.document.policy, f"trust root {root.source}")
    )
