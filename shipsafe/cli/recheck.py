"""Before a command moves a rollout forward (resume, promote, approve), its stored plan is
checked again against the policy in force: the record lives in a store the deploying
process can write, so a plan edited there (an approval step removed, the digest
recomputed) is refused, not driven. The deploy's signature, when there is one, must still
cover the stored plan."""

from __future__ import annotations

from typing import Any

from shipsafe.errors import PolicyViolation
from shipsafe.records import ActorKind, RolloutRecord, sha256_hex


def recheck(session: Any, record: RolloutRecord) -> None:
    """PolicyViolation (exit 2, audited) when the stored plan no longer passes."""
    if record.phase.terminal:
        return
    from shipsafe.approvals import deployer_key
    from shipsafe.plan.models import plan_from_record
    from shipsafe.policy import Request, Severity, findings_for_plan, load_policy

    problems: list[str] = []
    if sha256_hex(record.plan) != record.plan_digest:
        problems.append("the stored plan does not match its digest: the record was edited")
    key = deployer_key(session.root, record)
    if record.proof and key is None:
        problems.append("the deploy's signature no longer covers this rollout and its plan: "
                        "the record was edited")
    if not problems:
        payload = record.proof.get("payload", {}) if key is not None else {}
        request = Request(
            actor_kind=key.kind.value if key is not None else ActorKind.AGENT.value,
            verified=key is not None,
            emergency=payload.get("emergency") is True,
            reason=record.emergency_reason,
        )
        loaded = load_policy(store=session.ctx.store, root=session.root)
        plan = plan_from_record(record.plan)
        problems += [
            f.line() for f in findings_for_plan(plan, loaded, request)
            if f.severity == Severity.ERROR
        ]
    if not problems:
        return
    message = f"{record.id}: its stored plan no longer passes the policy; nothing was driven"
    session.audit.append({
        "rollout_id": record.id,
        "type": "command_refused",
        "time": session.ctx.clock.now().isoformat(),
        "actor": session.ctx.actor.id,
        "message": f"{message}: {'; '.join(problems)}",
        "data": {"problems": problems, "by": session.ctx.actor.model_dump(mode="json")},
    })
    error = PolicyViolation(message, [*problems, message])
    error.rollout_id = record.id
    raise error
