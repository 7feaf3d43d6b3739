"""Guardrails: (plan, policy, context) -> findings, each naming the threat it guards against.

    load_policy(path) / builtin_policy()   the organisation's rules per environment
    findings_for_plan(plan, policy, ...)   what `shipsafe validate` prints
    decide(store, now, plan, policy, ...)  what `shipsafe deploy` checks before anything:
                                           findings + the Guardrails stored with the rollout
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from shipsafe.errors import PolicyViolation
from shipsafe.plan.models import Plan
from shipsafe.policy.default import BUILTIN_POLICY
from shipsafe.policy.findings import Finding, Severity, Threat
from shipsafe.policy.model import EnvironmentRules, Policy
from shipsafe.policy.plan_rules import Request, check_plan
from shipsafe.policy.runtime_rules import (
    CASCADE_GATE,
    FREEZE_GATE,
    REVIEW_GATE,
    check_runtime,
    review_pending,
    slot,
)
from shipsafe.records import GuardGate, Guardrails, TrustedKey, sha256_hex
from shipsafe.store.base import StateStore

POLICY_ENV = "SHIPSAFE_POLICY"
TRUST_ENV = "SHIPSAFE_TRUST"


@dataclass
class LoadedPolicy:
    policy: Policy
    source: str  # the file, or "builtin"
    digest: str
    trusted_keys: list[TrustedKey] | None = None  # None: no trust file
    trust_digest: str | None = None
    trust_source: str | None = None

    def rules_for(self, environment: str) -> EnvironmentRules:
        return self.policy.rules_for(environment)


def _parse(text: str, source: str) -> Policy:
    from shipsafe.plan.loader import load_model_text

    try:
        return load_model_text(Policy, text, source)
    except PolicyViolation:
        raise
    except Exception as exc:  # PlanError from the shared loader: same lines, policy's name
        problems = getattr(exc, "problems", [str(exc)])
        raise PolicyViolation(f"invalid policy {source}", problems) from None


def _with_trust(loaded: LoadedPolicy, base: Path | None, trust: str | None) -> LoadedPolicy:
    from shipsafe.approvals import load_trust

    # the policy's own trust file wins: a deployer cannot swap in one of their own
    named = loaded.policy.approvals.trust_file
    path = None
    if named:
        path = Path(named) if base is None or Path(named).is_absolute() else base / named
    elif trust:
        path = Path(trust)
    if path is not None:
        keys, digest = load_trust(path)
        loaded.trusted_keys, loaded.trust_digest, loaded.trust_source = keys, digest, str(path)
    return loaded


def load_policy(
    path: str | Path | None = None,
    trust: str | None = None,
    store: StateStore | None = None,
) -> LoadedPolicy:
    """The policy pinned in the store if there is one (a policy or trust file given on top
    must then be the pinned one); else the policy file (--policy, SHIPSAFE_POLICY), or the
    built-in default without one. `trust` (--trust, SHIPSAFE_TRUST) is used only when the
    policy names no trust file."""
    from shipsafe.policy.pin import enforce

    chosen = path or os.environ.get(POLICY_ENV) or None
    trust = trust or os.environ.get(TRUST_ENV) or None
    loaded = _load_policy(chosen, trust)
    pinned = enforce(store, loaded, explicit=chosen is not None or trust is not None)
    if pinned is not None and _digest(pinned.policy) != pinned.digest:
        raise PolicyViolation("the policy pinned in the state store is damaged (digest mismatch)")
    return pinned or loaded


def _load_policy(chosen: str | Path | None, trust: str | None) -> LoadedPolicy:
    if chosen is None:
        return builtin_policy(trust)
    from shipsafe.errors import PlanError
    from shipsafe.plan.loader import read_text

    p = Path(chosen)
    try:
        text = read_text(p, "policy")
    except PlanError as exc:
        raise PolicyViolation(exc.message) from None
    policy = _parse(text, str(p))
    loaded = LoadedPolicy(policy, str(p), _digest(policy))
    return _with_trust(loaded, p.parent, trust)


def builtin_policy(trust: str | None = None) -> LoadedPolicy:
    policy = _parse(BUILTIN_POLICY, "<builtin policy>")
    return _with_trust(LoadedPolicy(policy, "builtin", _digest(policy)), None, trust)


def _digest(policy: Policy) -> str:
    return sha256_hex(policy.model_dump(mode="json", by_alias=True))


def findings_for_plan(plan: Plan, loaded: LoadedPolicy, request: Request) -> list[Finding]:
    rules = loaded.rules_for(plan.metadata.environment)
    return check_plan(plan, rules, _with_keys(request, loaded))


def _with_keys(request: Request, loaded: LoadedPolicy) -> Request:
    from dataclasses import replace

    keys = None if loaded.trusted_keys is None else len(loaded.trusted_keys)
    return replace(request, trusted_keys=keys)


@dataclass
class Decision:
    findings: list[Finding]
    guardrails: Guardrails
    policy_digest: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.ERROR]

    @property
    def refusals(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.REFUSED]

    @property
    def gates(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.GATE]


def decide(
    store: StateStore, now: datetime, plan: Plan, loaded: LoadedPolicy, request: Request
) -> Decision:
    """Every finding for this deploy, now, and the guardrails the rollout will carry."""
    rules = loaded.rules_for(plan.metadata.environment)
    request = _with_keys(request, loaded)
    findings = check_plan(plan, rules, request) + check_runtime(store, now, plan, rules, request)
    approval = rules.require_approval
    count = approval.count if approval else 1
    gates: list[GuardGate] = []
    for finding in findings:
        if finding.severity != Severity.GATE:
            continue
        name = CASCADE_GATE if finding.rule == "maxChainDepth" else FREEZE_GATE
        if all(g.name != name for g in gates):
            gates.append(GuardGate(name=name, count=count, reason=finding.message))
    meta = plan.metadata
    emergency = request.emergency and rules.emergency
    window = max(rules.rollback_window, plan.rollback_window or 0.0)
    rails = Guardrails(
        policy=loaded.source,
        signed_approvals=bool(approval and approval.signed),
        approval_count=count,
        approval_group=approval.group if approval else None,
        trusted_keys=list(loaded.trusted_keys or []),
        trust_digest=loaded.trust_digest,
        max_approval_validity_seconds=loaded.policy.approvals.max_validity,
        gates=gates,
        rollback_window_seconds=window,
        require_data_snapshot=rules.require_data_snapshot,
        emergency_max_pause_seconds=emergency.max_pause if emergency else None,
        review_gate=REVIEW_GATE if emergency and emergency.approval_after else None,
        review_count=count,
        protects=slot(meta.environment, meta.service, plan.target.stable_name)
        if plan.blue_green
        else None,
        touches=slot(meta.environment, meta.service, plan.target.canary_name),
    )
    return Decision(findings, rails, loaded.digest)


__all__ = [
    "CASCADE_GATE",
    "FREEZE_GATE",
    "REVIEW_GATE",
    "Decision",
    "Finding",
    "LoadedPolicy",
    "Request",
    "Severity",
    "Threat",
    "builtin_policy",
    "decide",
    "findings_for_plan",
    "load_policy",
    "review_pending",
]
