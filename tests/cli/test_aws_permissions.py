"""`shipsafe aws permissions PLAN`: the least-privilege IAM policy, scoped to what the plan
names; and every AWS call the providers make is in the list the policy is built from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shipsafe.aws_permissions import CALLS
from tests.aws.test_plans import PLANS, VALUES
from tests.test_cli import run

REPO = Path(__file__).resolve().parents[2]


def concrete(tmp_path: Path, name: str) -> str:
    text = re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: VALUES[m.group(1)],
                  (PLANS / f"{name}.yaml").read_text())
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def statements(output: str) -> dict[str, dict[str, Any]]:
    document = json.loads(output)
    assert document["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in document["Statement"]}


def test_an_alb_plan_gets_its_listener_its_alarms_the_store_and_the_bucket(
    tmp_path: Path,
) -> None:
    result = run("aws", "permissions", concrete(tmp_path, "aws-alb-canary"),
                 "--state", "dynamodb://team-state", "--audit-s3", "s3://audit-bucket/shipsafe")
    assert result.exit_code == 0, result.output
    got = statements(result.output)
    assert got["ShipsafeAlbListener"]["Action"] == ["elasticloadbalancing:ModifyListener"]
    assert got["ShipsafeAlbListener"]["Resource"] == VALUES["ALB_LISTENER_ARN"]
    assert got["ShipsafeAlarms"]["Resource"] == [
        "arn:aws:cloudwatch:*:*:alarm:checkout-canary-5xx",
        "arn:aws:cloudwatch:*:*:alarm:checkout-canary-latency",
    ]
    assert got["ShipsafeMetrics"]["Action"] == ["cloudwatch:GetMetricData"]
    assert "dynamodb:TransactWriteItems" in got["ShipsafeTeamStore"]["Action"]
    assert "dynamodb:CreateTable" not in got["ShipsafeTeamStore"]["Action"]
    assert got["ShipsafeAuditRecords"]["Resource"] == "arn:aws:s3:::audit-bucket/shipsafe/*"
    everything = [a for s in got.values() for a in s["Action"]]
    assert not [a for a in everything if a.endswith(":*") or a == "*"]


def test_a_route53_plan_may_change_only_its_record(tmp_path: Path) -> None:
    result = run("aws", "permissions", concrete(tmp_path, "aws-route53-weighted"))
    assert result.exit_code == 0, result.output
    change = statements(result.output)["ShipsafeRoute53Records"]
    assert change["Resource"] == "arn:aws:route53:::hostedzone/Z123"
    names = change["Condition"]["ForAllValues:StringEquals"]
    assert names["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == ["app.example.com"]


def test_a_plan_with_no_aws_needs_no_statement(tmp_path: Path, env: Path) -> None:
    from tests.test_cli import FAST, write_plan

    result = run("aws", "permissions", write_plan(env, FAST))
    assert result.exit_code == 0 and json.loads(result.output)["Statement"] == []


def test_the_trust_roots_s3_witness_and_the_team_tables_root_get_their_statements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.trust_root import permissive_trust_root

    permissive_trust_root(tmp_path / "etc", monkeypatch, witness="s3://acme-witness/prod")
    result = run("aws", "permissions", concrete(tmp_path, "aws-alb-canary"),
                 "--state", "dynamodb://team-state")
    assert result.exit_code == 0, result.output
    got = statements(result.output)
    assert got["ShipsafeWitnessBucket"]["Resource"] == "arn:aws:s3:::acme-witness"
    assert got["ShipsafeWitnessBucket"]["Action"] == [
        "s3:GetBucketObjectLockConfiguration", "s3:ListBucketVersions"]
    assert got["ShipsafeWitnessRecords"]["Resource"] == "arn:aws:s3:::acme-witness/prod/*"
    assert got["ShipsafeWitnessRecords"]["Action"] == ["s3:PutObject", "s3:PutObjectRetention"]
    deny = got["ShipsafeTeamStoreTrustRootReadOnly"]
    assert deny["Effect"] == "Deny" and deny["Resource"] == "arn:aws:dynamodb:*:*:table/team-state"
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(
        deny["Action"])
    assert deny["Condition"] == {
        "ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["trust-root"]}}
    allowed = [a for s in got.values() if s["Effect"] == "Allow" for a in s["Action"]]
    for never in ("s3:BypassGovernanceRetention", "s3:DeleteObjectVersion",
                  "s3:PutBucketObjectLockConfiguration"):
        assert never not in allowed


def test_a_root_without_a_witness_and_a_local_store_add_no_trust_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.trust_root import permissive_trust_root

    permissive_trust_root(tmp_path / "etc", monkeypatch)
    result = run("aws", "permissions", concrete(tmp_path, "aws-alb-canary"))
    assert result.exit_code == 0, result.output
    assert not [sid for sid in statements(result.output)
                if sid.startswith(("ShipsafeWitness", "ShipsafeTrustRoot", "ShipsafeTeamStore"))]


def test_a_trust_root_that_does_not_load_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPSAFE_TRUST_ROOT", str(tmp_path / "missing.yaml"))
    result = run("aws", "permissions", concrete(tmp_path, "aws-alb-canary"))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


_CALL = re.compile(r"\.([a-z]+(?:_[a-z0-9]+)+)\(")
_SOURCES = {
    "aws-alb": "shipsafe/providers/traffic/aws_alb.py",
    "aws-lambda": "shipsafe/providers/traffic/aws_lambda.py",
    "aws-route53": "shipsafe/providers/traffic/aws_route53.py",
    "cloudwatch": "shipsafe/providers/metrics/cloudwatch.py",
    "aws-rds": "shipsafe/providers/snapshots/aws_rds.py",
    "aws-ebs": "shipsafe/providers/snapshots/aws_ebs.py",
    "dynamodb-store": "shipsafe/store/dynamodb.py",
    "s3-audit": "shipsafe/audit/s3.py",
    "s3-witness": "shipsafe/audit/s3_witness.py",
}
# SDK calls that are not AWS API calls, and store-setup calls (store init, not deploys)
_NOT_API = {"get_weight", "restore_hint", "get_waiter", "create_table", "describe_time_to_live",
            "update_time_to_live", "get_session", "error_code", "aws_errors"}
_PREFIXES = ("describe_", "get_", "list_", "put_", "create_", "modify_", "update_", "change_",
             "delete_", "batch_", "transact_", "query", "scan")


@pytest.mark.parametrize("provider", sorted(_SOURCES))
def test_every_aws_call_a_provider_makes_is_in_its_permissions(provider: str) -> None:
    source = (REPO / _SOURCES[provider]).read_text()
    calls = {c for c in _CALL.findall(source) if c.startswith(_PREFIXES) and c not in _NOT_API}
    calls |= {c for c in ("query", "scan") if f"._db.{c}(" in source}
    assert calls, provider
    granted = {a.split(":", 1)[1] for a in CALLS[provider]}
    # S3's list calls have IAM names of their own; the others are the call in CamelCase
    names = {"list_object_versions": "ListBucketVersions", "list_objects_v2": "ListBucket",
             "get_object_lock_configuration": "GetBucketObjectLockConfiguration"}
    missing = [
        c for c in calls
        if names.get(c, "".join(w.capitalize() for w in c.split("_"))) not in granted
        and not any(
            names.get(c, "".join(w.capitalize() for w in c.split("_"))).lower() == g.lower()
            for g in granted
        )
    ]
    assert not missing, f"{provider} calls {missing} but its permissions do not grant them"
