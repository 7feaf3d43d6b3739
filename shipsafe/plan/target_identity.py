"""What a plan's target *is*, whatever the plan calls it: the router and the fields that
name the thing traffic flows through (an HAProxy socket or address and backend, an ALB
listener or rule, a Lambda function and alias, a Route 53 record, an exec router's id).

The policy maps identities to environments (`targets:`), and blue protection keys on them,
so relabelling a plan (`environment: staging`, another `metadata.service`) changes nothing.
"""

from __future__ import annotations

import os
from typing import Any

from shipsafe.plan.targets import ROUTER_CONFIGS

IDENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "haproxy": ("socket", "address", "backend"),
    "exec": ("id",),
    "aws-alb": ("listener_arn", "rule_arn"),
    "aws-lambda": ("function_name", "alias"),
    "aws-route53": ("hosted_zone_id", "record_name", "record_type"),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def normalise(field: str, value: Any) -> str:
    """One spelling per thing: a socket path resolved (symlinks, `//`, `..`)."""
    text = str(value)
    if field == "socket":
        return os.path.realpath(text)
    return text


def target_identity(target: Any) -> dict[str, str]:
    """{"router": ..., camelCase field: value} for a plan's `target`."""
    router = str(target.router)
    key, _ = ROUTER_CONFIGS[router]
    config = getattr(target, _snake(key))  # target.aws_alb holds the plan's awsAlb
    identity = {"router": router}
    for field in IDENTITY_FIELDS.get(router, ()):
        value = getattr(config, field, None)
        if value is not None:
            identity[_camel(field)] = normalise(field, value)
    if router == "exec" and "id" not in identity:
        # no id: the commands themselves are what it is
        identity["setWeight"] = " ".join(config.set_weight)
    return identity


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def target_key(identity: dict[str, str]) -> str:
    """A stable text form, e.g. `haproxy:backend=checkout,socket=/run/haproxy.sock`."""
    fields = ",".join(f"{k}={v}" for k, v in sorted(identity.items()) if k != "router")
    return f"{identity['router']}:{fields}"


def matches(identity: dict[str, str], router: str, match: dict[str, str]) -> bool:
    """Whether a policy claim (router + some identity fields) names this target."""
    if identity.get("router") != router:
        return False
    for key, value in match.items():
        field = _snake(key)
        if identity.get(key) != normalise(field, value):
            return False
    return True
