"""The trust root in the team table (SHIPSAFE_TRUST_ROOT=dynamodb://TABLE) against the moto
server with IAM checked on every request (POST /moto-api/reset-auth 0): an admin publishes
the signed root, a deploying identity denied writes reads it and is accepted, an identity
that may write the table is refused (exit 2) - each a real `shipsafe` process with its own
access keys.

moto checks the action, not the resource ARN or dynamodb:LeadingKeys, for DynamoDB: the
deployer's Deny (README's statement) denies it every write to the table here, where AWS
would deny only the trust-root partition.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from integration.aws.moto_server import MotoServer

pytestmark = pytest.mark.integration

TABLE = "shipsafe-state"
URL = f"dynamodb://{TABLE}"
DENY_ROOT_WRITES = {
    "Effect": "Deny",
    "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
               "dynamodb:BatchWriteItem"],
    "Resource": "*",  # README names the table; moto authorizes DynamoDB against "*"
    "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["trust-root"]}},
}
ALLOW = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}


def _auth(server: MotoServer, count: str) -> None:
    request = urllib.request.Request(f"{server.url}/moto-api/reset-auth", data=count.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def _user(boto: Any, name: str, *statements: dict[str, Any]) -> dict[str, str]:
    iam = boto.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="shipsafe", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def shipsafe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipsafe", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_table_root_is_used_only_by_identities_iam_denies_writing_it(
    boto: Any, aws_env: dict[str, str], trust_root: Path, tmp_path: Path,
    moto_server: MotoServer,
) -> None:
    admin = _user(boto, "shipsafe-admin", ALLOW)
    deployer = _user(boto, "deploy-bot", ALLOW, DENY_ROOT_WRITES)
    base = {**os.environ, **aws_env}
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o755)
    shutil.copy2(trust_root, etc / "trust.yaml")
    assert shipsafe({**base, **admin}, "store", "init", "--state", URL).returncode == 0
    _auth(moto_server, "0")  # from here on every request is checked by IAM
    try:
        published = shipsafe({**base, **admin}, "trust", "publish", URL,
                             "--root", str(etc / "trust.yaml"))
        assert published.returncode == 0, published.stderr
        # the root-owned file every deploying machine has: where the root is, who vouches
        admins = [a["publicKey"] for a in yaml.safe_load((etc / "trust.yaml").read_text())[
            "admins"]]
        location = etc / "trust-location.yaml"
        location.write_text(yaml.safe_dump({"apiVersion": "shipsafe/v1",
                                            "kind": "TrustRootLocation", "table": URL,
                                            "admins": admins,
                                            "endpoint": aws_env["AWS_ENDPOINT_URL"],
                                            "region": aws_env["AWS_REGION"],
                                            # moto's default account, where the table is
                                            "account": "123456789012"}))
        as_deployer = shipsafe({**base, **deployer, "SHIPSAFE_TRUST_ROOT": str(location)},
                               "trust", "show")
        assert as_deployer.returncode == 0, as_deployer.stderr
        assert f"{URL} (item pk=trust-root): safe and signed" in as_deployer.stdout
        assert "deployer: ci" in as_deployer.stdout  # the actors the admins signed
        as_admin = shipsafe({**base, **admin, "SHIPSAFE_TRUST_ROOT": str(location)},
                            "trust", "show")
        assert as_admin.returncode == 2, as_admin.stdout + as_admin.stderr
        (line,) = as_admin.stderr.strip().splitlines()
        assert "writable by the invoking identity" in line
        # the same table reached in another account than the location pins: refused
        elsewhere = etc / "trust-location-elsewhere.yaml"
        elsewhere.write_text(location.read_text().replace("123456789012", "210987654321"))
        other_account = shipsafe({**base, **deployer, "SHIPSAFE_TRUST_ROOT": str(elsewhere)},
                                 "trust", "show")
        assert other_account.returncode == 2, other_account.stdout + other_account.stderr
        (line,) = other_account.stderr.strip().splitlines()
        assert "answered from account 123456789012; the location file pins account " \
            "210987654321" in line
        named_by_env = shipsafe({**base, **deployer, "SHIPSAFE_TRUST_ROOT": URL}, "trust", "show")
        assert named_by_env.returncode == 2 and "location file" in named_by_env.stderr
        overwrite = shipsafe({**base, **deployer}, "trust", "publish", URL,
                             "--root", str(etc / "trust.yaml"))
        assert overwrite.returncode == 2, overwrite.stderr
        (line,) = overwrite.stderr.strip().splitlines()
        assert "not authorized to perform: dynamodb:PutItem" in line
    finally:
        _auth(moto_server, "inf")  # the session's other tests run without IAM
