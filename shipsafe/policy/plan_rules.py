"""Rules over the plan alone: (plan, environment rules, deploy request) -> findings.

`shipsafe validate` prints these; `deploy` checks them before touching anything. Some rules
always apply, whatever the policy says (a migration needs a verified data snapshot before
it; an irreversible step needs an approval before it; a blue/green plan analyses green
before and after cutover); the others come from the policy. A plan may be stricter than the
policy, never looser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipsafe.plan.analysis import BUILTIN_ROUTERS
from shipsafe.plan.breaker_checks import custom_breaker_problems
from shipsafe.plan.models import Plan
from shipsafe.plan.steps import (
    AnalysisStepSpec,
    ApprovalSpec,
    CutoverSpec,
    DataSnapshotSpec,
    MigrateSpec,
    Pause,
    SetWeight,
    step_kind,
    step_spec,
)
from shipsafe.policy.findings import Finding, Severity, Threat
from shipsafe.policy.model import EnvironmentRules

E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True)
class Request:
    """What the person or job asked for, besides the plan."""

    actor_kind: str = "human"
    emergency: bool = False
    reason: str | None = None
    parent_id: str | None = None
    request_override: bool = False
    # rollbacks the audit witness saw: (rollout, environment, finished at ISO or None)
    witnessed_rollbacks: tuple[tuple[str, str, str | None], ...] = ()
    trusted_keys: int | None = None  # how many keys the trust root holds (None: no root)
    verified: bool = True  # the actor signed with a key the trust root lists
    verifier: Any = None  # an ApprovalVerifier: counts only reviews that verify


def _where(i: int, step: Any) -> str:
    return f"steps[{i}].{step_kind(step)}"


def check_plan(plan: Plan, rules: EnvironmentRules, request: Request) -> list[Finding]:
    env = plan.metadata.environment
    out: list[Finding] = []
    out += _approval(plan, rules, request, env)
    out += _weights(plan, rules, env)
    out += _breakers(plan, rules, env)
    out += _data_and_migrations(plan, rules, env)
    out += _blue_green(plan)
    out += _windows(plan, rules, env)
    out += _durations(plan, rules, env)
    out += _emergency(rules, request, env)
    out += _deployer(rules, request, env)
    return out


def _deployer(rules: EnvironmentRules, request: Request, env: str) -> list[Finding]:
    if request.actor_kind in rules.deployers:
        return []
    who = request.actor_kind if request.verified else "unverified agent (no trusted key)"
    return [Finding(
        "deployers", Threat.UNAPPROVED, E,
        f"a {who} may not deploy to {env} (allowed: {', '.join(rules.deployers)})",
    )]


def _approval(
    plan: Plan, rules: EnvironmentRules, request: Request, env: str
) -> list[Finding]:
    rule = rules.require_approval
    if rule is None:
        return []
    out: list[Finding] = []
    gates = [(i, step_spec(s)) for i, s in enumerate(plan.steps)
             if isinstance(step_spec(s), ApprovalSpec)]
    after_the_fact = request.emergency and rules.emergency.approval_after
    if not gates and not after_the_fact:
        group = f" from group {rule.group}" if rule.group else ""
        out.append(Finding(
            "requireApproval", Threat.UNAPPROVED, E,
            f"{env} requires an approval gate ({rule.count} approval(s){group}) before "
            "promotion; add a step `- approval: {count: "
            f"{rule.count}" + "}`",
            "steps",
        ))
    for i, spec in gates:
        if spec.count < rule.count:
            out.append(Finding(
                "requireApproval.count", Threat.UNAPPROVED, E,
                f"the gate asks for {spec.count} approval(s); the policy for {env} requires "
                f"{rule.count} (a plan may be stricter, never looser)",
                f"steps[{i}].approval.count",
            ))
    if not request.trusted_keys:
        out.append(Finding(
            "requireApproval.signed", Threat.UNAPPROVED, E,
            f"{env} requires approvals, which are signed with human keys from the trust root, "
            "and no trust root with keys is configured (SHIPSAFE_TRUST_ROOT or "
            "/etc/shipsafe/trust.yaml): nobody could approve",
        ))
    return out


def _weights(plan: Plan, rules: EnvironmentRules, env: str) -> list[Finding]:
    if plan.blue_green:
        return []  # all-or-nothing by design; _blue_green demands analysis around cutover
    out: list[Finding] = []
    first_done = False
    weight, analysed, baked = 0, True, True
    moves: list[tuple[int, bool, bool, str]] = []
    for i, step in enumerate(plan.steps):
        spec = step_spec(step)
        if isinstance(spec, AnalysisStepSpec):
            analysed = True
        if isinstance(spec, AnalysisStepSpec | Pause):
            baked = True
        if isinstance(spec, SetWeight):
            moves.append((spec.weight, analysed, baked, _where(i, step)))
            analysed = baked = False
    moves.append((100, analysed, baked, "promote"))
    for target, checked, held, where in moves:
        if target <= weight:
            weight = target
            continue
        if rules.require_check_between_increases and not held:
            out.append(Finding(
                "requireCheckBetweenIncreases", Threat.BLAST_RADIUS, E,
                f"weight goes from {weight}% to {target}% right after the last increase; "
                f"{env} requires an analysis step or a pause in between",
                where,
            ))
        if not first_done:
            first_done = True
            limit = rules.max_first_weight
            if limit is not None and target > limit:
                out.append(Finding(
                    "maxFirstWeight", Threat.BLAST_RADIUS, E,
                    f"the first canary weight is {target}%; {env} allows at most {limit}%",
                    where,
                ))
        step_limit = rules.max_weight_increase
        if step_limit is not None and not checked and target - weight > step_limit:
            out.append(Finding(
                "maxWeightIncrease", Threat.BLAST_RADIUS, E,
                f"weight goes from {weight}% to {target}% (+{target - weight}) with no analysis "
                f"step in between; {env} allows +{step_limit} without one",
                where,
            ))
        weight = target
    return out


def _breakers(plan: Plan, rules: EnvironmentRules, env: str) -> list[Finding]:
    out: list[Finding] = []
    acting = [b for b in plan.breakers if not _dry(plan, b.analysis)]
    if rules.require_breakers and plan.breakers and not acting:
        out.append(Finding(
            "requireBreakers", Threat.BLAST_RADIUS, E,
            f"{env} requires circuit breakers; every breaker of the plan is dryRun (measured "
            "and shown, never acting)",
            "breakers",
        ))
    if rules.require_breakers and not plan.breakers:
        out.append(Finding(
            "requireBreakers", Threat.BLAST_RADIUS, E,
            f"{env} requires circuit breakers watching every step with traffic; add "
            "`breakers: [{analysis: TEMPLATE}]`",
            "breakers",
        ))
    out += _builtin_breaker(plan, rules, env)
    for i, problem in custom_breaker_problems(
        plan.analysis, [b.analysis for b in plan.breakers], plan.target.canary_name,
        plan.blue_green,
    ):
        out.append(Finding(
            "breakers.dependsOnCanary", Threat.MONITORING, E,
            f"{problem} (always required)", f"breakers[{i}]",
        ))
    if not plan.analysis:
        out.append(Finding(
            "analysis", Threat.MONITORING, W,
            "the plan measures nothing: no analysis templates, so nothing can stop it",
            "analysis",
        ))
    for i, breaker in enumerate(plan.breakers):
        template = plan.analysis.get(breaker.analysis)
        if template is not None and template.no_data == "inconclusive":
            out.append(Finding(
                "noData", Threat.MONITORING, W,
                f"breaker {breaker.analysis} treats no data as inconclusive: it pauses for a "
                "human instead of rolling back",
                f"breakers[{i}]",
            ))
    return out


def _dry(plan: Plan, name: str) -> bool:
    template = plan.analysis.get(name)
    return template is not None and template.dry_run


def _builtin_breaker(plan: Plan, rules: EnvironmentRules, env: str) -> list[Finding]:
    """A breaker nobody can get wrong: the router's own count of the canary's failures."""
    if not rules.require_builtin_breaker:
        return []
    if any(
        (t := plan.analysis.get(b.analysis)) is not None
        and t.builtin == "errorRate"
        and not t.dry_run  # measured and shown, never acts: not a breaker
        for b in plan.breakers
    ):
        return []
    if plan.target.router not in BUILTIN_ROUTERS:
        how = (
            f"router {plan.target.router!r} has no counters shipsafe can read (built-in checks "
            f"work with {', '.join(BUILTIN_ROUTERS)})"
        )
    else:
        how = (
            "add `analysis: {error-rate: {builtin: errorRate, successCondition: result < "
            "0.05}}` and `breakers: [{analysis: error-rate}]`"
        )
    return [Finding(
        "requireBuiltinBreaker", Threat.BLAST_RADIUS, E,
        f"{env} requires a built-in errorRate breaker, read from the router's own counters "
        f"(a custom query may add to it, never replace it): {how}",
        "breakers",
    )]


def _data_and_migrations(plan: Plan, rules: EnvironmentRules, env: str) -> list[Finding]:
    out: list[Finding] = []
    snapshot_seen = False
    approval_seen = False
    for i, step in enumerate(plan.steps):
        spec = step_spec(step)
        if isinstance(spec, DataSnapshotSpec):
            snapshot_seen = True
        if isinstance(spec, ApprovalSpec):
            approval_seen = True
        if isinstance(spec, MigrateSpec):
            if not snapshot_seen:
                out.append(Finding(
                    "migration.snapshot", Threat.MIGRATION_LOCK_IN, E,
                    f"migration {spec.name} has no data snapshot before it; add a "
                    "`- snapshot: {data: [...]}` step first (always required)",
                    _where(i, step),
                ))
            if spec.irreversible and not approval_seen:
                out.append(Finding(
                    "migration.irreversible", Threat.ROLLBACK_IMPOSSIBLE, E,
                    f"migration {spec.name} cannot be undone; it needs an approval step "
                    "before it (always required)",
                    _where(i, step),
                ))
        if isinstance(spec, CutoverSpec) and rules.require_data_snapshot and not snapshot_seen:
            out.append(Finding(
                "requireDataSnapshot", Threat.BLUE_GREEN_CORRUPTION, E,
                f"{env} requires a data snapshot before cutover; add a "
                "`- snapshot: {data: [...]}` step before it",
                _where(i, step),
            ))
    return out


def _blue_green(plan: Plan) -> list[Finding]:
    if not plan.blue_green:
        return []
    out: list[Finding] = []
    kinds = [step_spec(s) for s in plan.steps]
    cut = next((i for i, s in enumerate(kinds) if isinstance(s, CutoverSpec)), None)
    if cut is None:
        return out  # cross_check reports the missing cutover
    if not any(isinstance(s, AnalysisStepSpec) for s in kinds[:cut]):
        out.append(Finding(
            "blueGreen.preview", Threat.BLUE_GREEN_CORRUPTION, E,
            "green is never analysed before cutover; add an analysis step against its "
            "preview (green, with no traffic) before `cutover` (always required)",
            f"steps[{cut}].cutover",
        ))
    if not any(isinstance(s, AnalysisStepSpec) for s in kinds[cut + 1:]):
        out.append(Finding(
            "blueGreen.postCutover", Threat.BLAST_RADIUS, E,
            "nothing is analysed after cutover; add an analysis step after `cutover` "
            "(always required)",
            f"steps[{cut}].cutover",
        ))
    return out


def _windows(plan: Plan, rules: EnvironmentRules, env: str) -> list[Finding]:
    if plan.rollback_window is not None and plan.rollback_window < rules.rollback_window:
        return [Finding(
            "rollbackWindow", Threat.ROLLBACK_IMPOSSIBLE, E,
            f"the plan's rollback window ({plan.rollback_window:g}s) is shorter than the "
            f"policy's for {env} ({rules.rollback_window:g}s): a plan may be stricter, never "
            "looser",
            "rollbackWindow",
        )]
    return []


def _durations(plan: Plan, rules: EnvironmentRules, env: str) -> list[Finding]:
    from shipsafe.durations import format_duration
    from shipsafe.plan.base import waits

    if rules.max_duration is None:
        return []
    return [
        Finding(
            "maxDuration", Threat.BLAST_RADIUS, E,
            f"{format_duration(seconds)} is longer than the policy allows in {env} "
            f"({format_duration(rules.max_duration)})",
            where,
        )
        for where, seconds in waits(plan)
        if seconds > rules.max_duration
    ]


def _emergency(rules: EnvironmentRules, request: Request, env: str) -> list[Finding]:
    if not request.emergency:
        return []
    rule = rules.emergency
    out: list[Finding] = []
    if not rule.allowed:
        out.append(Finding("emergency.allowed", Threat.HOTFIX_BYPASS, E,
                           f"emergency deploys are not allowed in {env}"))
    reason = (request.reason or "").strip()
    if len(reason) < rule.min_reason_length:
        out.append(Finding(
            "emergency.minReasonLength", Threat.HOTFIX_BYPASS, E,
            "an emergency deploy needs --reason saying why (at least "
            f"{rule.min_reason_length} characters); it goes to the audit log and the review",
        ))
    if not request.verified:
        out.append(Finding(
            "emergency.verified", Threat.HOTFIX_BYPASS, E,
            "an actor without a key in the trust root is an unverified agent and may never "
            "declare an emergency (SHIPSAFE_KEY)",
        ))
    elif request.actor_kind not in rule.allowed_kinds:
        out.append(Finding(
            "emergency.allowedKinds", Threat.HOTFIX_BYPASS, E,
            f"a {request.actor_kind} may not declare an emergency in {env} (allowed: "
            f"{', '.join(rule.allowed_kinds)})",
        ))
    return out
