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
from typing import TYPE_CHECKING

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
    target_of,
)
from shipsafe.policy.stricter import stricter
from shipsafe.policy.verifier import policy_from_mapping, verifier_for
from shipsafe.records import GuardGate, Guardrails, TrustedKey, sha256_hex
from shipsafe.store.base import StateStore

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRoot

POLICY_ENV = "SHIPSAFE_POLICY"
TRUST_ENV = "SHIPSAFE_TRUST"


@dataclass
class LoadedPolicy:
    """The policy in force: the trust root's (or the built-in one without a root), plus the
    rules of a command-line policy on top (only ever stricter), and the actors' keys, which
    come from the trust root alone."""

    policy: Policy
    source: str  # "trust root PATH", "builtin", or a pinned copy
    digest: str
    trusted_keys: list[TrustedKey] | None = None  # None: no trust root
    trust_digest: str | None = None
    trust_source: str | None = None
    extra: Policy | None = None  # --policy / SHIPSAFE_POLICY: added rules
    root: TrustRoot | None = None

    def rules_for(self, environment: str) -> EnvironmentRules:
        rules = self.policy.rules_for(environment)
        if self.extra is not None:
            rules = stricter(rules, self.extra.rules_for(environment))
        return rules

    @property
    def max_approval_validity(self) -> float:
        longest = self.policy.approvals.max_validity
        if self.extra is not None:
            longest = min(longest, self.extra.approvals.max_validity)
        return longest


def _parse(text: str, source: str) -> Policy:
    from shipsafe.plan.loader import load_model_text

    try:
        return load_model_text(Policy, text, source)
    except PolicyViolation:
        raise
    except Exception as exc:  # PlanError from the shared loader: same lines, policy's name
        problems = getattr(exc, "problems", [str(exc)])
        raise PolicyViolation(f"invalid policy {source}", problems) from None


def root_policy(root: TrustRoot | None) -> LoadedPolicy:
    """The trust root's signed policy and keys; the built-in policy and no keys at all
    without a root."""
    if root is None:
        return builtin_policy()
    where = f"trust root {root.source}"
    policy = policy_from_mapping(root.document.policy, where)
    return LoadedPolicy(policy, where, _digest(policy), list(root.actors), root.digest,
                        root.source, root=root)


def load_policy(
    path: str | Path | None = None,
    trust: str | None = None,
    store: StateStore | None = None,
    root: TrustRoot | object | None = ...,
) -> LoadedPolicy:
    """The policy every deploy obeys: the trust root's signed policy (or a newer signed copy
    pinned in the store: pin.effective_root), verified on every read; a pin in the store
    that does not verify refuses everything (PolicyViolation, exit 2). A policy file given
    here (--policy, SHIPSAFE_POLICY) only adds rules; a trust file given here (--trust,
    SHIPSAFE_TRUST) only narrows the keys to those also in the root, never adds one.
    `root`: the trust root already loaded (default: load it now)."""
    from shipsafe.policy.pin import effective_root
    from shipsafe.trust.loading import load_root

    the_root: TrustRoot | None = load_root() if root is ... else root  # type: ignore[assignment]
    loaded = root_policy(effective_root(store, the_root))
    chosen = path or os.environ.get(POLICY_ENV) or None
    if chosen is not None:
        extra = _read_policy(Path(chosen))
        loaded.extra = extra
        loaded.source += f" + rules of {chosen}"
        loaded.digest = sha256_hex([loaded.digest, _digest(extra)])
    trust = trust or os.environ.get(TRUST_ENV) or None
    if trust is not None:
        from shipsafe.approvals import load_trust

        listed, _ = load_trust(trust)
        wanted = {k.key_id for k in listed}
        loaded.trusted_keys = [k for k in (loaded.trusted_keys or []) if k.key_id in wanted]
        loaded.trust_digest = sha256_hex([loaded.trust_digest, sorted(wanted)])
    return loaded


def _read_policy(p: Path) -> Policy:
    from shipsafe.errors import PlanError
    from shipsafe.plan.loader import read_text

    try:
        text = read_text(p, "policy")
    except PlanError as exc:
        raise PolicyViolation(exc.message) from None
    return _parse(text, str(p))


def builtin_policy(trust: str | None = None) -> LoadedPolicy:
    """The built-in policy, with no keys: without a trust root nobody is verified."""
    policy = _parse(BUILTIN_POLICY, "<builtin policy>")
    return LoadedPolicy(policy, "builtin", _digest(policy), None)


def _digest(policy: Policy) -> str:
    return sha256_hex(policy.model_dump(mode="json", by_alias=True))


def findings_for_plan(plan: Plan, loaded: LoadedPolicy, request: Request) -> list[Finding]:
    rules = loaded.rules_for(plan.metadata.environment)
    return target_findings(plan, loaded) + check_plan(plan, rules, _with_keys(request, loaded))


def target_findings(plan: Plan, loaded: LoadedPolicy) -> list[Finding]:
    """The environment comes from the target, not the label: a target the policy claims for
    an environment may be deployed under that environment's name or a stricter one (every
    rule at least as strict), never a looser one."""
    from shipsafe.plan.target_identity import target_identity, target_key

    identity = target_identity(plan.target)
    claimed = loaded.policy.environment_of(identity)
    if claimed is None and loaded.extra is not None:
        claimed = loaded.extra.environment_of(identity)
    named = plan.metadata.environment
    if claimed is None or claimed == named:
        return []
    named_rules = loaded.rules_for(named)
    if stricter(loaded.rules_for(claimed), named_rules).model_dump() == named_rules.model_dump():
        return []  # the named environment is at least as strict on every rule
    return [Finding(
        "targetEnvironment", Threat.UNAPPROVED, Severity.ERROR,
        f"the target ({target_key(identity)}) belongs to {claimed}; the plan names {named}, "
        f"whose rules are looser: name {claimed} (or a stricter environment)",
        "metadata.environment",
    )]


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
    findings = (
        target_findings(plan, loaded)
        + check_plan(plan, rules, request)
        + check_runtime(store, now, plan, rules, request, loaded.rules_for)
    )
    approval = rules.require_approval
    count = approval.count if approval else 1
    gates: list[GuardGate] = []
    for finding in findings:
        if finding.severity != Severity.GATE:
            continue
        name = CASCADE_GATE if finding.rule == "maxChainDepth" else FREEZE_GATE
        if all(g.name != name for g in gates):
            gates.append(GuardGate(name=name, count=count, reason=finding.message))
    emergency = request.emergency and rules.emergency
    window = max(rules.rollback_window, plan.rollback_window or 0.0)
    rails = Guardrails(
        policy=loaded.source,
        signed_approvals=bool(approval and approval.signed),
        approval_count=count,
        approval_group=approval.group if approval else None,
        trusted_keys=list(loaded.trusted_keys or []),
        trust_digest=loaded.trust_digest,
        max_approval_validity_seconds=loaded.max_approval_validity,
        gates=gates,
        rollback_window_seconds=window,
        require_data_snapshot=rules.require_data_snapshot,
        emergency_max_pause_seconds=emergency.max_pause if emergency else None,
        review_gate=REVIEW_GATE if emergency and emergency.approval_after else None,
        review_count=count,
        protects=slot(target_of(plan), plan.target.stable_name)
        if plan.blue_green
        else None,
        touches=slot(target_of(plan), plan.target.canary_name),
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
    "verifier_for",
]
