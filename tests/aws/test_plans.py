"""plans/aws-*.yaml stay valid plans once their ${...} are filled in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipsafe.plan.loader import load_plan_text

PLANS = Path(__file__).resolve().parents[2] / "plans"
VALUES = {
    "ALB_LISTENER_ARN": "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/2",
    "ALB_STABLE_TG_ARN": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1",
    "ALB_CANARY_TG_ARN": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2",
    "ALB_LOAD_BALANCER": "app/lb/1",
    "LAMBDA_FUNCTION": "checkout-fn",
    "STABLE_VERSION": "7",
    "CANARY_VERSION": "8",
    "DB_INSTANCE": "orders",
    "HOSTED_ZONE_ID": "Z123",
    "RECORD_NAME": "app.example.com",
    "RELEASE": "2.4.0",
}


@pytest.mark.parametrize(
    ("name", "router"),
    [
        ("aws-alb-canary", "aws-alb"),
        ("aws-lambda-canary", "aws-lambda"),
        ("aws-route53-weighted", "aws-route53"),
    ],
)
def test_aws_plans_load(name: str, router: str) -> None:
    text = re.sub(
        r"\$\{([A-Z0-9_]+)\}", lambda m: VALUES[m.group(1)], (PLANS / f"{name}.yaml").read_text()
    )
    plan = load_plan_text(text, f"{name}.yaml")
    assert plan.target.router == router
    assert plan.breakers
