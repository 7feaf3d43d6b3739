"""Rules over the moment and the other rollouts in the store: freeze windows, environment
freeze after a rollback, concurrency, chains of deploys, protected blue, the rollback window
of the previous release, pending emergency reviews. (store, now, plan, rules) -> findings.

A freeze (window or environment) is a refusal (exit 6) unless the deploy asks for an
override, which turns it into an approval gate before the first step (a human other than
the deployer signs it). A chain past the depth limit always becomes a gate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shipsafe.plan.models import Plan
from shipsafe.plan.steps import MigrateSpec, step_spec
from shipsafe.policy.findings import Finding, Severity, Threat
from shipsafe.policy.model import EnvironmentRules
from shipsafe.policy.plan_rules import Request
from shipsafe.records import Phase, RolloutRecord, target_lock_key
from shipsafe.store.base import StateStore

FREEZE_GATE = "freeze-override"
CASCADE_GATE = "cascade-checkpoint"
REVIEW_GATE = "emergency-review"

LOOK_BACK = 200  # rollouts of the environment looked at


def slot(target: str, server: str) -> str:
    """What a rollout deploys into or protects: a server behind a target (its identity, not
    the plan's labels: a renamed service or environment is the same slot)."""
    return f"{target}/{server}"


def target_of(plan: Plan) -> str:
    from shipsafe.plan.target_identity import target_identity, target_key

    return target_key(target_identity(plan.target))


def check_runtime(
    store: StateStore, now: datetime, plan: Plan, rules: EnvironmentRules, request: Request,
    rules_for: Callable[[str], EnvironmentRules] | None = None,
) -> list[Finding]:
    env = plan.metadata.environment
    others = store.list_rollouts(environment=env, limit=LOOK_BACK)
    everywhere = store.list_rollouts(limit=LOOK_BACK)
    key = target_lock_key(target_of(plan))
    # the freeze is the environment's, and the target's under whatever labels it ran
    same_target = [o for o in everywhere if o.lock_key == key and o.environment != env]
    out: list[Finding] = []
    out += _freeze(now, rules, others, env, request)
    out += _target_freeze(now, rules, same_target, rules_for, request)
    out += _concurrency(rules, others, env, key)
    # blue protection keys on the target, whatever environment or service a plan names
    out += _protected_blue(now, plan, everywhere)
    out += _contract_window(now, plan, rules, [o for o in everywhere if o.lock_key == key])
    out += _chain(store, rules, request, env)
    out += _pending_reviews(store, rules, request, others, env)
    return out


def _freeze_severity(request: Request) -> tuple[Severity, str]:
    """How a freeze stops a deploy, and what to do: a gate for a human with
    --request-override, else a refusal."""
    if request.request_override:
        return Severity.GATE, (
            f"a human other than you must approve gate {FREEZE_GATE} before the first step")
    return Severity.REFUSED, "deploy after it, or ask for a human override with --request-override"


def _freeze(
    now: datetime,
    rules: EnvironmentRules,
    others: list[RolloutRecord],
    env: str,
    request: Request,
) -> list[Finding]:
    severity, how = _freeze_severity(request)
    out: list[Finding] = []
    for window in rules.freeze_windows:
        if window.active(now):
            why = f": {window.reason}" if window.reason else ""
            out.append(Finding(
                "freezeWindows", Threat.BLAST_RADIUS, severity,
                f"{env} is inside freeze window {window.describe()}{why}; {how}",
            ))
    for other in others:
        if other.phase in (Phase.ROLLING_BACK, Phase.ROLLBACK_FAILED):
            out.append(Finding(
                "environmentFreeze", Threat.CASCADE, severity,
                f"{env} is frozen: rollout {other.id} ({other.service}) is "
                f"{other.phase.value}; {how}",
            ))
        elif (
            other.phase == Phase.ROLLED_BACK
            and rules.freeze_after_rollback
            and other.finished_at is not None
            and now < other.finished_at + timedelta(seconds=rules.freeze_after_rollback)
        ):
            until = other.finished_at + timedelta(seconds=rules.freeze_after_rollback)
            out.append(Finding(
                "freezeAfterRollback", Threat.CASCADE, severity,
                f"{env} is frozen until {until:%Y-%m-%d %H:%M:%S}Z: rollout {other.id} "
                f"({other.service}) rolled back at {other.finished_at:%H:%M:%S}Z; {how}",
            ))
    return out + _witnessed_freeze(now, rules, env, request, {f.message for f in out}, how,
                                   severity)


def _target_freeze(
    now: datetime,
    rules: EnvironmentRules,
    same_target: list[RolloutRecord],
    rules_for: Callable[[str], EnvironmentRules] | None,
    request: Request,
) -> list[Finding]:
    """The target's own freeze, whatever the plan names it: a rollout of this target that
    is rolling back, or rolled back within the freeze of the environment it ran under (or
    this one's, whichever is longer), freezes it under any other label too."""
    severity, how = _freeze_severity(request)
    out: list[Finding] = []
    for other in same_target:
        where = f"rollout {other.id} of this target (as {other.environment}/{other.service})"
        if other.phase in (Phase.ROLLING_BACK, Phase.ROLLBACK_FAILED):
            out.append(Finding(
                "environmentFreeze", Threat.CASCADE, severity,
                f"the target is frozen: {where} is {other.phase.value}; {how}",
            ))
            continue
        theirs = rules_for(other.environment) if rules_for is not None else rules
        seconds = max(rules.freeze_after_rollback or 0, theirs.freeze_after_rollback or 0)
        if other.phase != Phase.ROLLED_BACK or not seconds or other.finished_at is None:
            continue
        until = other.finished_at + timedelta(seconds=seconds)
        if now < until:
            out.append(Finding(
                "freezeAfterRollback", Threat.CASCADE, severity,
                f"the target is frozen until {until:%Y-%m-%d %H:%M:%S}Z: {where} rolled back "
                f"at {other.finished_at:%H:%M:%S}Z; {how}",
            ))
    return out


def _witnessed_freeze(
    now: datetime, rules: EnvironmentRules, env: str, request: Request, seen: set[str],
    how: str, severity: Severity,
) -> list[Finding]:
    """The same freeze, from the rollbacks the audit witness saw: a rollout whose phase was
    edited in the store (rolled_back -> aborted) still freezes its environment."""
    out: list[Finding] = []
    for rid, environment, finished in request.witnessed_rollbacks:
        if environment != env or any(rid in message for message in seen):
            continue
        if finished is None:
            out.append(Finding(
                "environmentFreeze", Threat.CASCADE, severity,
                f"{env} is frozen: the audit witness saw rollout {rid} start rolling back and "
                f"never finish; {how}",
            ))
            continue
        try:
            at = datetime.fromisoformat(finished.replace("Z", "+00:00"))
        except ValueError:
            continue
        if rules.freeze_after_rollback and now < at + timedelta(
            seconds=rules.freeze_after_rollback
        ):
            until = at + timedelta(seconds=rules.freeze_after_rollback)
            out.append(Finding(
                "freezeAfterRollback", Threat.CASCADE, severity,
                f"{env} is frozen until {until:%Y-%m-%d %H:%M:%S}Z: rollout {rid} rolled back "
                f"at {at:%H:%M:%S}Z (as the audit witness saw it); {how}",
            ))
    return out


def _concurrency(
    rules: EnvironmentRules, others: list[RolloutRecord], env: str, key: str
) -> list[Finding]:
    limit = rules.max_concurrent_rollouts
    if limit is None:
        return []
    running = [o for o in others if not o.phase.terminal and o.lock_key != key]
    if len(running) < limit:
        return []
    names = ", ".join(o.id for o in running[:5])
    return [Finding(
        "maxConcurrentRollouts", Threat.CASCADE, Severity.REFUSED,
        f"{env} already has {len(running)} rollout(s) in progress ({names}); the policy "
        f"allows {limit} at once",
    )]


def _window_end(record: RolloutRecord) -> datetime | None:
    if record.finished_at is None:
        return None
    return record.finished_at + timedelta(seconds=record.guardrails.rollback_window_seconds)


def _protected_blue(now: datetime, plan: Plan, others: list[RolloutRecord]) -> list[Finding]:
    touches = slot(target_of(plan), plan.target.canary_name)
    out: list[Finding] = []
    for other in others:
        end = _window_end(other)
        if (
            other.phase == Phase.SUCCEEDED
            and other.guardrails.protects == touches
            and end is not None
            and now < end
        ):
            out.append(Finding(
                "blueProtected", Threat.BLUE_GREEN_CORRUPTION, Severity.REFUSED,
                f"{plan.target.canary_name} is blue of rollout {other.id}, the way back, "
                f"protected until {end:%Y-%m-%d %H:%M:%S}Z (its rollback window); this "
                "rollout would deploy into it",
                "target",
            ))
    return out


def _contract_window(
    now: datetime, plan: Plan, rules: EnvironmentRules, others: list[RolloutRecord]
) -> list[Finding]:
    contracts = [
        (i, step_spec(s)) for i, s in enumerate(plan.steps)
        if isinstance(step_spec(s), MigrateSpec) and step_spec(s).compatibility == "contract"
    ]
    if not contracts:
        return []
    previous = next((o for o in others if o.phase == Phase.SUCCEEDED), None)
    if previous is None or previous.finished_at is None:
        return []
    seconds = previous.guardrails.rollback_window_seconds or rules.rollback_window
    end = previous.finished_at + timedelta(seconds=seconds)
    if now >= end:
        return []
    return [
        Finding(
            "contractInRollbackWindow", Threat.MIGRATION_LOCK_IN, Severity.REFUSED,
            f"contract migration {spec.name} would remove what release {previous.version} "
            f"({previous.id}) needs while its rollback window is open (until "
            f"{end:%Y-%m-%d %H:%M:%S}Z); run it after the window closes",
            f"steps[{i}].migrate",
        )
        for i, spec in contracts
    ]


def chain_depth(store: StateStore, parent_id: str | None, limit: int = 50) -> int | None:
    """How many deploys started this one (0: none). None when the chain cannot be followed
    (a parent that is not in this store): unknown counts as too deep (fail closed)."""
    depth, current = 0, parent_id
    seen: set[str] = set()
    while current is not None:
        if not current or current in seen or depth > limit:  # "" would match any prefix
            return None
        seen.add(current)
        try:
            record = store.get_rollout(current)
        except Exception:  # UsageError: not in this store
            return None
        depth += 1
        current = record.parent_id
    return depth


def _chain(
    store: StateStore, rules: EnvironmentRules, request: Request, env: str
) -> list[Finding]:
    if request.parent_id is None or rules.max_chain_depth is None:
        return []
    depth = chain_depth(store, request.parent_id)
    if depth is not None and depth <= rules.max_chain_depth:
        return []
    known = (
        f"this deploy is {depth} deep in a chain of deploys started by deploys"
        if depth is not None
        else f"its parent rollout {request.parent_id or '(empty SHIPSAFE_PARENT_ROLLOUT)'} is "
        "not in this state store"
    )
    return [Finding(
        "maxChainDepth", Threat.CASCADE, Severity.GATE,
        f"{known}; {env} allows {rules.max_chain_depth} without a human: gate {CASCADE_GATE} "
        "must be approved before the first step",
    )]


def _pending_reviews(
    store: StateStore,
    rules: EnvironmentRules,
    request: Request,
    others: list[RolloutRecord],
    env: str,
) -> list[Finding]:
    if not request.emergency:
        return []
    pending = [o for o in others if review_pending(store, o, request.verifier)]
    limit = rules.emergency.max_pending_reviews
    if len(pending) < limit:
        return []
    return [Finding(
        "emergency.maxPendingReviews", Threat.HOTFIX_BYPASS, Severity.REFUSED,
        f"{len(pending)} emergency rollout(s) in {env} still await their review "
        f"({', '.join(o.id for o in pending[:5])}); approve them first "
        "(shipsafe audit pending)",
    )]


def review_pending(store: StateStore, record: RolloutRecord, verifier: Any = None) -> bool:
    """Whether an emergency rollout still awaits its review: only reviews that verify now
    from their signatures (verifier: an ApprovalVerifier) count; a row alone is nothing."""
    gate = record.guardrails.review_gate
    if not record.emergency or not gate:
        return False
    if store.get_snapshot(record.id) is None:
        return False  # refused or stopped at preflight: nothing was changed
    if verifier is None:
        from shipsafe.policy.verifier import verifier_for

        verifier = verifier_for(None)
    approvers = verifier.verified_signers(record, gate, store.approvals(record.id))
    return len(approvers) < max(record.guardrails.review_count, verifier.minimum(record))
