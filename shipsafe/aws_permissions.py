"""The least-privilege IAM policy a plan needs: the AWS calls shipsafe's providers make for
this plan's router, metric sources and data snapshots (and the team store, audit bucket, the
trust root's S3 witness and the team table holding the root when there are), scoped to the
resources the plan names wherever IAM allows it.

Pure: reads the plan model, imports no SDK. `shipsafe aws permissions PLAN` prints it.
The calls listed here are the ones in shipsafe/providers (and store/dynamodb.py, audit/s3.py,
audit/s3_witness.py); a test keeps the two in step.
"""

from __future__ import annotations

import re
from typing import Any

from shipsafe.plan.models import Plan
from shipsafe.plan.snapshots import AwsEbsSnapshot, AwsRdsSnapshot

# provider -> the API calls it makes (service:Action); Describe/List calls without
# resource-level permissions in IAM are granted on "*" in their own statement
CALLS: dict[str, list[str]] = {
    "aws-alb": [
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:ModifyRule",
    ],
    "aws-lambda": ["lambda:GetAlias", "lambda:GetFunctionConfiguration", "lambda:UpdateAlias"],
    "aws-route53": [
        "route53:GetHostedZone",
        "route53:ListResourceRecordSets",
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
    ],
    "cloudwatch": ["cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"],
    "aws-rds": [
        "rds:CreateDBSnapshot",
        "rds:CreateDBClusterSnapshot",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
        "rds:AddTagsToResource",
    ],
    "aws-ebs": ["ec2:CreateSnapshot", "ec2:CreateTags", "ec2:DescribeSnapshots",
                "ec2:DescribeVolumes"],
    "dynamodb-store": [
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:TransactWriteItems",
    ],
    "s3-audit": [
        "s3:GetBucketVersioning",
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:PutObject",
        "s3:GetObject",
    ],
    # the trust root's S3 Object Lock witness (audit/s3_witness.py); never
    # BypassGovernanceRetention, DeleteObjectVersion or PutBucketObjectLockConfiguration
    "s3-witness": [
        "s3:GetBucketObjectLockConfiguration",
        "s3:ListBucketVersions",
        "s3:PutObject",
        "s3:PutObjectRetention",
    ],
}

# writes a deploying identity must never make to the trust root's reserved item in a team
# table (trust/store_root.py: the root is refused unless its write probe is denied)
TRUST_ROOT_WRITES = [
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete",
]

_ALARMS = re.compile(r"^\s*ALARMS\s*\((.*)\)\s*$", re.DOTALL)


def _statement(sid: str, actions: list[str], resources: list[str],
               condition: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)),
                           "Resource": resources if len(resources) > 1 else resources[0]}
    if condition:
        out["Condition"] = condition
    return out


def _table_arn(url: str) -> str:
    return f"arn:aws:dynamodb:*:*:table/{url.removeprefix('dynamodb://').split('?', 1)[0]}"


def _trust_root_deny(sid: str, table_arn: str) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Deny", "Action": TRUST_ROOT_WRITES, "Resource": table_arn,
            "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["trust-root"]}}}


def policy_for(
    plan: Plan,
    state: str | None = None,
    audit_s3: str | None = None,
    witness: str | None = None,
    root_table: str | None = None,
) -> dict[str, Any]:
    """The IAM policy document (JSON-ready) for deploying and rolling back `plan`.
    `witness`: the audit witness the trust root names (statements for an s3:// one);
    `root_table`: the team table a TrustRootLocation file names (read it, never write it)."""
    statements: list[dict[str, Any]] = []
    statements += _router(plan)
    statements += _metrics(plan)
    statements += _snapshots(plan)
    if state and state.startswith("dynamodb://"):
        table = _table_arn(state)
        statements.append(_statement(
            "ShipsafeTeamStore", CALLS["dynamodb-store"], [table, f"{table}/index/*"],
        ))
        # the store's writes must not reach a trust root kept in the same table
        statements.append(_trust_root_deny("ShipsafeTeamStoreTrustRootReadOnly", table))
    if root_table and root_table.startswith("dynamodb://"):
        table = _table_arn(root_table)
        statements.append(_statement(
            "ShipsafeTrustRootRead", ["dynamodb:GetItem", "dynamodb:DescribeTable"], [table]
        ))
        if not (state and _table_arn(state) == table):
            statements.append(_trust_root_deny("ShipsafeTrustRootReadOnly", table))
    if witness and witness.startswith("s3://"):
        bucket, _, prefix = witness.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        statements.append(_statement(
            "ShipsafeWitnessBucket",
            ["s3:GetBucketObjectLockConfiguration", "s3:ListBucketVersions"],
            [f"arn:aws:s3:::{bucket}"],
        ))
        statements.append(_statement(
            "ShipsafeWitnessRecords", ["s3:PutObject", "s3:PutObjectRetention"],
            [f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}*"],
        ))
    if audit_s3 and audit_s3.startswith("s3://"):
        bucket, _, prefix = audit_s3.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        statements.append(_statement(
            "ShipsafeAuditBucket",
            ["s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"],
            [f"arn:aws:s3:::{bucket}"],
        ))
        statements.append(_statement(
            "ShipsafeAuditRecords", ["s3:PutObject", "s3:GetObject"],
            [f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}*"],
        ))
    return {"Version": "2012-10-17", "Statement": statements}


def _router(plan: Plan) -> list[dict[str, Any]]:
    target = plan.target
    if target.router == "aws-alb" and target.aws_alb is not None:
        alb = target.aws_alb
        modify = (
            _statement("ShipsafeAlbRule", ["elasticloadbalancing:ModifyRule"], [alb.rule_arn])
            if alb.rule_arn
            else _statement("ShipsafeAlbListener", ["elasticloadbalancing:ModifyListener"],
                            [alb.listener_arn])
        )
        return [
            _statement("ShipsafeAlbRead", CALLS["aws-alb"][:3], ["*"]),  # no resource-level
            modify,
        ]
    if target.router == "aws-lambda" and target.aws_lambda is not None:
        fn = target.aws_lambda.function_name
        if fn.startswith("arn:"):
            base = ":".join(fn.split(":")[:7])
        else:
            base = f"arn:aws:lambda:{target.aws_lambda.region or '*'}:*:function:{fn}"
        return [
            _statement("ShipsafeLambdaRead", ["lambda:GetFunctionConfiguration"],
                       [base, f"{base}:*"]),
            _statement("ShipsafeLambdaAlias", ["lambda:GetAlias", "lambda:UpdateAlias"],
                       [f"{base}:{target.aws_lambda.alias}"]),
        ]
    if target.router == "aws-route53" and target.aws_route53 is not None:
        r53 = target.aws_route53
        zone = r53.hosted_zone_id.removeprefix("/hostedzone/")
        name = r53.record_name.rstrip(".").lower()
        return [
            _statement("ShipsafeRoute53Zone",
                       ["route53:GetHostedZone", "route53:ListResourceRecordSets"],
                       [f"arn:aws:route53:::hostedzone/{zone}"]),
            _statement(
                "ShipsafeRoute53Records", ["route53:ChangeResourceRecordSets"],
                [f"arn:aws:route53:::hostedzone/{zone}"],
                {
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [name],
                        "route53:ChangeResourceRecordSetsRecordTypes": [r53.record_type],
                        "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
                    }
                },
            ),
            _statement("ShipsafeRoute53Changes", ["route53:GetChange"],
                       ["arn:aws:route53:::change/*"]),
        ]
    return []


def _metrics(plan: Plan) -> list[dict[str, Any]]:
    cloudwatch = {n for n, s in plan.metric_sources.items() if s.provider == "cloudwatch"}
    if not cloudwatch:
        return []
    alarms: set[str] = set()
    metrics = False
    for template in plan.analysis.values():
        if template.source not in cloudwatch:
            continue
        found = _ALARMS.match(template.query or "")
        if found:
            alarms.update(a.strip() for a in found.group(1).split(",") if a.strip())
        else:
            metrics = True
    out = []
    if metrics:
        out.append(_statement("ShipsafeMetrics", ["cloudwatch:GetMetricData"], ["*"]))
    if alarms:
        out.append(_statement("ShipsafeAlarms", ["cloudwatch:DescribeAlarms"],
                              [f"arn:aws:cloudwatch:*:*:alarm:{a}" for a in sorted(alarms)]))
    return out


def _snapshots(plan: Plan) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, snap in enumerate(plan.data_snapshots.values()):
        if isinstance(snap, AwsRdsSnapshot):
            region = snap.region or "*"
            prefix = snap.snapshot_prefix
            if snap.db_cluster_identifier:
                source = f"arn:aws:rds:{region}:*:cluster:{snap.db_cluster_identifier}"
                made = f"arn:aws:rds:{region}:*:cluster-snapshot:{prefix}-*"
                actions = ["rds:CreateDBClusterSnapshot", "rds:DescribeDBClusterSnapshots",
                           "rds:AddTagsToResource"]
            else:
                source = f"arn:aws:rds:{region}:*:db:{snap.db_instance_identifier}"
                made = f"arn:aws:rds:{region}:*:snapshot:{prefix}-*"
                actions = ["rds:CreateDBSnapshot", "rds:DescribeDBSnapshots",
                           "rds:AddTagsToResource"]
            out.append(_statement(f"ShipsafeRdsSnapshot{i}", actions, [source, made]))
        elif isinstance(snap, AwsEbsSnapshot):
            region = snap.region or "*"
            out.append(_statement(
                f"ShipsafeEbsSnapshot{i}", ["ec2:CreateSnapshot"],
                [f"arn:aws:ec2:{region}:*:volume/{snap.volume_id}",
                 f"arn:aws:ec2:{region}::snapshot/*"],
            ))
            out.append(_statement(
                f"ShipsafeEbsTags{i}", ["ec2:CreateTags"], [f"arn:aws:ec2:{region}::snapshot/*"],
                {"StringEquals": {"ec2:CreateAction": "CreateSnapshot"}},
            ))
            out.append(_statement(f"ShipsafeEbsRead{i}",
                                  ["ec2:DescribeSnapshots", "ec2:DescribeVolumes"], ["*"]))
    return out
