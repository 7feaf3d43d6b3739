"""A policy given on the command line (--policy, SHIPSAFE_POLICY) may only add rules to the
trust root's: each setting of the result is the stricter of the two, so a deployer can make
their own deploy safer and never looser."""

from __future__ import annotations

from typing import TypeVar

from shipsafe.policy.model import ApprovalRule, EmergencyRules, EnvironmentRules

N = TypeVar("N", int, float)


def _low(a: N | None, b: N | None) -> N | None:
    values = [v for v in (a, b) if v is not None]
    return min(values) if values else None


def _high(a: N | None, b: N | None) -> N | None:
    values = [v for v in (a, b) if v is not None]
    return max(values) if values else None


def _approval(a: ApprovalRule | None, b: ApprovalRule | None) -> ApprovalRule | None:
    if a is None or b is None:
        return a or b
    return ApprovalRule(count=max(a.count, b.count), group=a.group or b.group,
                        signed=a.signed or b.signed)


def _emergency(a: EmergencyRules, b: EmergencyRules) -> EmergencyRules:
    return EmergencyRules(
        allowed=a.allowed and b.allowed,
        max_pause=_low(a.max_pause, b.max_pause),
        approval_after=a.approval_after or b.approval_after,
        min_reason_length=max(a.min_reason_length, b.min_reason_length),
        allowed_kinds=[k for k in a.allowed_kinds if k in b.allowed_kinds],
        max_pending_reviews=min(a.max_pending_reviews, b.max_pending_reviews),
    )


def stricter(a: EnvironmentRules, b: EnvironmentRules) -> EnvironmentRules:
    """The rules that satisfy both a and b."""
    return EnvironmentRules(
        require_approval=_approval(a.require_approval, b.require_approval),
        max_first_weight=_low(a.max_first_weight, b.max_first_weight),
        max_weight_increase=_low(a.max_weight_increase, b.max_weight_increase),
        require_check_between_increases=(
            a.require_check_between_increases or b.require_check_between_increases
        ),
        require_breakers=a.require_breakers or b.require_breakers,
        require_builtin_breaker=a.require_builtin_breaker or b.require_builtin_breaker,
        require_data_snapshot=a.require_data_snapshot or b.require_data_snapshot,
        max_concurrent_rollouts=_low(a.max_concurrent_rollouts, b.max_concurrent_rollouts),
        freeze_windows=[*a.freeze_windows, *b.freeze_windows],
        freeze_after_rollback=_high(a.freeze_after_rollback, b.freeze_after_rollback),
        max_chain_depth=_low(a.max_chain_depth, b.max_chain_depth),
        rollback_window=max(a.rollback_window, b.rollback_window),
        emergency=_emergency(a.emergency, b.emergency),
        deployers=[k for k in a.deployers if k in b.deployers],
        max_duration=_low(a.max_duration, b.max_duration),
    )
