"""The S3 Object Lock audit witness on the moto server: named in the trust root by an admin
(`trust set-witness s3://...`, refused for a bucket that is not COMPLIANCE), written by every
`shipsafe` process, read back with the AWS CLI, and compared by `audit verify`. The root
pins the moto server as the witness's endpoint (`--endpoint`): deploys whose environment
points S3 elsewhere (AWS_ENDPOINT_URL_S3) still checkpoint to it.

What moto enforces of Object Lock is listed in integration/README.md ("moto and Object
Lock"): deleting a locked version is refused, shortening its retention is not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from integration.aws.awscli import AwsCli
from integration.aws.forward_proxy import ForwardProxy
from integration.aws.rollouts import Shipsafe, render_plan
from integration.aws.test_aws_rollouts import route53_world

pytestmark = pytest.mark.integration

TABLE = "shipsafe-state"
BUCKET = "audit-witness"


def make_bucket(aws: AwsCli, name: str, mode: str) -> None:
    aws("s3api", "create-bucket", "--bucket", name, "--object-lock-enabled-for-bucket")
    aws("s3api", "put-object-lock-configuration", "--bucket", name,
        "--object-lock-configuration",
        json.dumps({"ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": mode, "Days": 7}}}))


def admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipsafe", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def own_root(trust_root: Path, tmp_path: Path, aws_env: dict[str, str]) -> Path:
    """A copy of the session's trust root this test's admin may change (root-owned dir)."""
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o755)
    copy = etc / "trust.yaml"
    shutil.copy2(trust_root, copy)
    return copy


def set_witness(root: Path, url: str, env: dict[str, str],
                *extra: str) -> subprocess.CompletedProcess[str]:
    keys = Path(os.environ["SHIPSAFE_TEST_KEYS"])  # integration/conftest.py's admin key
    return admin(env, "trust", "set-witness", url, "--root", str(root),
                 "--endpoint", env["AWS_ENDPOINT_URL"], "--region", env["AWS_REGION"],
                 "--sign-with", str(keys / "admin.key"), *extra)


# the deploying process's own S3 endpoint (nothing listens there): ignored for the witness
ELSEWHERE = "http://127.0.0.1:9"


def test_a_deploy_checkpoints_every_record_into_the_locked_bucket_and_verify_compares(
    boto: Any, aws: AwsCli, aws_env: dict[str, str], own_root: Path, tmp_path: Path
) -> None:
    env = {**os.environ, **aws_env}
    make_bucket(aws, "governance-bucket", "GOVERNANCE")
    refused = set_witness(own_root, "s3://governance-bucket/prod", env)
    assert refused.returncode == 2, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "GOVERNANCE, not COMPLIANCE" in refused.stderr

    make_bucket(aws, BUCKET, "COMPLIANCE")
    named = set_witness(own_root, f"s3://{BUCKET}/prod", env)
    assert named.returncode == 0, named.stderr

    shipsafe = Shipsafe({**aws_env, "SHIPSAFE_TRUST_ROOT": str(own_root)}, TABLE,
                        tmp_path / "audit.jsonl")
    shipsafe.env["AWS_ENDPOINT_URL_S3"] = ELSEWHERE
    assert shipsafe.init_store().code == 0
    world = route53_world(boto)
    plan = render_plan("aws-route53-weighted", world, tmp_path, pause="1s")
    finished = shipsafe.run("deploy", str(plan))
    assert finished.code == 0, finished.transcript()

    local = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    versions = aws("s3api", "list-object-versions", "--bucket", BUCKET, "--prefix", "prod/")
    keys = sorted(v["Key"] for v in versions["Versions"])
    assert len(keys) == len(local)
    assert all(f"hash={rec['hash']}" in key for rec, key in zip(local, keys, strict=True))
    head = aws("s3api", "head-object", "--bucket", BUCKET, "--key", keys[0])
    assert head["ObjectLockMode"] == "COMPLIANCE"

    # the deploying user's own credentials cannot delete a checkpoint
    first = versions["Versions"][0]
    with pytest.raises(AssertionError, match="AccessDenied"):
        aws("s3api", "delete-object", "--bucket", BUCKET, "--key", first["Key"],
            "--version-id", first["VersionId"])

    verify = ["audit", "verify", "-o", "human"]
    good = shipsafe.run(*verify)
    assert good.code == 0, good.transcript()
    assert f"witness agrees with {(tmp_path / 'audit.jsonl').resolve()}" in good.transcript()

    # a rollout kept out of the main log, then its log removed: the witness still names it
    world2 = route53_world_again(boto, world)
    plan2 = render_plan("aws-route53-weighted", world2, tmp_path, service="app2", pause="1s")
    hidden = shipsafe.run("deploy", str(plan2), "--audit-log", str(tmp_path / "elsewhere.jsonl"))
    assert hidden.code == 0, hidden.transcript()
    (tmp_path / "elsewhere.jsonl").unlink()
    bad = shipsafe.run(*verify)
    assert bad.code == 5, bad.transcript()
    assert hidden.rollout_id in bad.transcript() and "elsewhere.jsonl" in bad.transcript()


def test_a_witness_behind_the_proxy_the_root_pins_gets_every_checkpoint_through_it(
    boto: Any, aws: AwsCli, aws_env: dict[str, str], own_root: Path, tmp_path: Path
) -> None:
    """A site whose machines reach S3 only through a proxy: `set-witness --proxy` signs it
    into the root, and every deploy sends its checkpoints through that proxy, not through
    the proxy its environment names (a dead port here; NO_PROXY keeps the deploy's own AWS
    calls direct, and does not apply to the pinned proxy)."""
    env = {**os.environ, **aws_env}
    make_bucket(aws, BUCKET, "COMPLIANCE")
    with ForwardProxy() as proxy:
        named = set_witness(own_root, f"s3://{BUCKET}/prod", env, "--proxy", proxy.url)
        assert named.returncode == 0, named.stderr
        assert any("object-lock" in path or "objectlock" in path.lower()
                   for _, path in proxy.seen), proxy.seen  # set-witness's own check
        checked = len(proxy.seen)
        shipsafe = Shipsafe({**aws_env, "SHIPSAFE_TRUST_ROOT": str(own_root)}, TABLE,
                            tmp_path / "audit.jsonl")
        shipsafe.env.update({"HTTP_PROXY": ELSEWHERE, "HTTPS_PROXY": ELSEWHERE,
                             "NO_PROXY": "127.0.0.1,localhost"})
        assert shipsafe.init_store().code == 0
        plan = render_plan("aws-route53-weighted", route53_world(boto), tmp_path, pause="1s")
        finished = shipsafe.run("deploy", str(plan))
        assert finished.code == 0, finished.transcript()
        puts = [path for method, path in proxy.seen[checked:] if method == "PUT"]
    local = (tmp_path / "audit.jsonl").read_text().splitlines()
    versions = aws("s3api", "list-object-versions", "--bucket", BUCKET, "--prefix", "prod/")
    assert len(versions["Versions"]) == len(local) == len(puts)
    assert all(f"/{BUCKET}/prod/" in path or f"//{BUCKET}." in path for path in puts), puts
    # a proxy that is not a bare http(s)://HOST:PORT is refused in one line, root unchanged
    before = own_root.read_text()
    bad = set_witness(own_root, f"s3://{BUCKET}/prod", env, "--proxy",
                      "http://user:secret@proxy.example.net:3128")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "secret" not in bad.stderr + bad.stdout
    assert own_root.read_text() == before


def route53_world_again(boto: Any, world: dict[str, str]) -> dict[str, str]:
    """The same records put back on blue (the first rollout promoted green)."""
    r53 = boto.client("route53")
    zone = world["HOSTED_ZONE_ID"]
    changes = [
        {"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "app.example.com", "Type": "A", "SetIdentifier": sid, "Weight": weight,
            "TTL": 30, "ResourceRecords": [{"Value": ip}]}}
        for sid, weight, ip in (("blue", 100, "10.0.0.1"), ("green", 0, "10.0.0.2"))
    ]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    return world


def test_a_team_stores_chain_is_checkpointed_to_the_same_witness(
    boto: Any, aws: AwsCli, aws_env: dict[str, str], own_root: Path, tmp_path: Path
) -> None:
    make_bucket(aws, BUCKET, "COMPLIANCE")
    named = set_witness(own_root, f"s3://{BUCKET}/team", {**os.environ, **aws_env})
    assert named.returncode == 0, named.stderr
    shipsafe = Shipsafe({**aws_env, "SHIPSAFE_TRUST_ROOT": str(own_root)}, TABLE,
                        tmp_path / "unused.jsonl")
    del shipsafe.env["SHIPSAFE_AUDIT_LOG"]  # the team store's own chain, in DynamoDB
    assert shipsafe.init_store().code == 0
    world = route53_world(boto)
    finished = shipsafe.run("deploy", str(render_plan("aws-route53-weighted", world, tmp_path,
                                                      pause="1s")))
    assert finished.code == 0, finished.transcript()
    versions = aws("s3api", "list-object-versions", "--bucket", BUCKET, "--prefix", "team/")
    logs = {v["Key"].split("/")[1] for v in versions["Versions"]}
    assert logs == {f"dynamodb%3A%2F%2F{TABLE}%23audit"}
    good = shipsafe.run("audit", "verify", "-o", "human")
    assert good.code == 0, good.transcript()
    assert f"witness agrees with dynamodb://{TABLE}#audit: 1 rollout(s)" in good.transcript()
