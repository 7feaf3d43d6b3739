"""Issue 10's attacker against the AWS controls: the deploying agent is a real unprivileged
Unix user (tests/attacks' `runtime` and `site`: useradd, setpriv, a readable copy of
shipsafe - here with boto3 - and a root-owned trust root), holding AWS credentials for the
moto server in its environment. Root (the admin, and the human who verifies) prepares the
trust root, the witness bucket and the trust-root table.

1. The S3 Object Lock witness: the agent deploys with AWS_ENDPOINT_URL(_S3) pointing
   elsewhere, re-chains its local log without one rollout, and tries to delete and overwrite
   that rollout's checkpoints with its credentials; the checkpoints stay (moto refuses to
   delete a COMPLIANCE-locked version: integration/README.md) and `audit verify` by root
   fails naming the rollout.
2. The DynamoDB trust root: the agent names a root of its own (the environment, a location
   file it wrote, a table on an endpoint it runs); a deploy to production is refused
   (exit 2) and the router untouched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from integration.aws.awscli import AwsCli
from integration.aws.moto_server import MotoServer
from integration.aws.test_audit_witness import make_bucket
from integration.aws.test_store_trust_root import ALLOW, DENY_ROOT_WRITES, _auth, _user
from tests.attacks.conftest import (
    Runtime,
    Site,
    _readable,
    distributions,
    place_distributions,
    rollout_id,
    runtime,
    site,
)
from tests.attacks.forgeries import RECHAIN
from tests.support.trust_root import write_trust_root

pytestmark = pytest.mark.integration
__all__ = ["runtime", "site"]  # the fixtures, from tests/attacks

BUCKET = "audit-witness"
TABLE = "shipsafe-state"
ELSEWHERE = "http://127.0.0.1:9"  # the agent's own endpoint: nothing listens there
UNGATED = "steps:\n  - setWeight: 100\n"


@pytest.fixture(scope="session")
def aws_runtime(runtime: Runtime) -> Runtime:
    """The agent's runtime with shipsafe's `aws` extra (boto3 and what it needs)."""
    place_distributions(distributions("boto3"), runtime.path)
    _readable(runtime.path)
    return runtime


@pytest.fixture
def agent_site(aws_runtime: Runtime, site: Site) -> Site:
    return site


def _admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """shipsafe as root (the admin), with this venv's interpreter."""
    return subprocess.run([sys.executable, "-m", "shipsafe", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _agent_boto(site: Site, code: str, env: dict[str, str]) -> Any:
    """Python with boto3 run by the agent, printing one JSON line."""
    done = subprocess.run(
        ["setpriv", f"--reuid={site.rt.uid}", f"--regid={site.rt.gid}", "--clear-groups", "--",
         site.rt.python, "-c", code],
        env={**site._env(env)}, cwd=site.work, capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _agent_aws(aws_env: dict[str, str]) -> dict[str, str]:
    """The agent's AWS environment: the moto server's credentials and region."""
    keep = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION",
            "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "NO_PROXY", "no_proxy",
            "SHIPSAFE_AWS_MAX_ATTEMPTS")
    return {k: aws_env[k] for k in keep}


ERASE_CHECKPOINTS = """
import json, boto3, botocore.exceptions
s3 = boto3.client('s3', endpoint_url={endpoint!r})
out = {{'versions': 0, 'deleted': 0, 'refused': [], 'overwritten': 0}}
for v in s3.list_object_versions(Bucket={bucket!r}, Prefix='prod/').get('Versions', []):
    if {dropped!r} not in v['Key']:
        continue
    out['versions'] += 1
    for call in (lambda: s3.delete_object(Bucket={bucket!r}, Key=v['Key'],
                                          VersionId=v['VersionId']),
                 lambda: s3.delete_objects(Bucket={bucket!r}, Delete={{'Objects': [
                     {{'Key': v['Key'], 'VersionId': v['VersionId']}}]}})):
        try:
            answer = call()
        except botocore.exceptions.ClientError as exc:
            out['refused'].append(exc.response['Error']['Code'])
            continue
        errors = answer.get('Errors', [])
        if errors:
            out['refused'].extend(e['Code'] for e in errors)
        else:
            out['deleted'] += 1
    if {overwrite!r}:
        s3.put_object(Bucket={bucket!r}, Key=v['Key'], Body=b'')  # a new version over it
        out['overwritten'] += 1
print(json.dumps(out))
"""


PUT_ROOT_ITEM = """
import json, boto3, botocore.exceptions
db = boto3.client('dynamodb', endpoint_url={endpoint!r})
try:
    db.put_item(TableName={table!r}, Item={{'pk': {{'S': 'trust-root'}}, 'sk': {{'S': 'root'}},
                                           'document': {{'S': {body!r}}}}})
    print(json.dumps({{'code': None}}))
except botocore.exceptions.ClientError as exc:
    print(json.dumps({{'code': exc.response['Error']['Code']}}))
"""


def test_an_agent_user_cannot_erase_a_rollout_from_the_s3_witness(
    agent_site: Site, aws: AwsCli, aws_env: dict[str, str]
) -> None:
    site = agent_site
    root_env = {**os.environ, **aws_env}
    make_bucket(aws, BUCKET, "COMPLIANCE")
    named = _admin(root_env, "trust", "set-witness", f"s3://{BUCKET}/prod", "--root",
                   str(site.trust), "--endpoint", aws_env["AWS_ENDPOINT_URL"], "--region",
                   aws_env["AWS_REGION"], "--sign-with", str(site.keys / "admin.key"))
    assert named.returncode == 0, named.stderr
    assert site.trust.stat().st_uid == 0

    hostile = {**_agent_aws(aws_env), "AWS_ENDPOINT_URL": ELSEWHERE,
               "AWS_ENDPOINT_URL_S3": ELSEWHERE}
    ids = []
    for service in ("orders", "checkout"):
        site.weight_file.write_text("0")
        done = site.agent("deploy", site.plan(UNGATED, environment="staging", service=service,
                                              name=f"{service}.yaml"), env=hostile)
        assert done.returncode == 0, done.stdout + done.stderr
        ids.append(rollout_id(done))
    dropped = ids[0]
    local = site.audit()
    versions = aws("s3api", "list-object-versions", "--bucket", BUCKET, "--prefix", "prod/")
    assert len(versions["Versions"]) == len(local)  # every record reached the pinned bucket
    assert sum(dropped in v["Key"] for v in versions["Versions"]) == sum(
        r["rollout_id"] == dropped for r in local) > 0

    edited = site.agent_python(RECHAIN.format(dropped=dropped))
    assert edited.returncode == 0, edited.stderr
    assert all(r["rollout_id"] != dropped for r in site.audit())
    # the agent knows the real endpoint (the trust root is readable) and has its credentials
    creds = _agent_aws(aws_env)
    erase = {"endpoint": aws_env["AWS_ENDPOINT_URL"], "bucket": BUCKET, "dropped": dropped}
    tried = _agent_boto(site, ERASE_CHECKPOINTS.format(**erase, overwrite=False), creds)
    assert tried["versions"] > 0 and tried["deleted"] == 0, tried
    assert tried["refused"] == ["AccessDenied"] * (2 * tried["versions"]), tried
    after = aws("s3api", "list-object-versions", "--bucket", BUCKET, "--prefix", "prod/")
    originals = {(v["Key"], v["VersionId"]) for v in versions["Versions"]}
    assert originals == {(v["Key"], v["VersionId"]) for v in after["Versions"]}

    # the human verifies as root, the witness reached at the endpoint the root pins
    def verify() -> str:
        done = site.human("alice", "audit", "verify", "-o", "human",
                          env={**creds, "AWS_ENDPOINT_URL_S3": ELSEWHERE})
        assert done.returncode == 5, done.stdout + done.stderr
        return done.stdout + done.stderr

    first = verify()  # the re-chained log differs from what the witness holds
    assert f"(witnessed: rollout {dropped}, " in first or f"(rollout {dropped}, " in first
    # overwriting the checkpoints (S3 allows a new version over a name) is seen too
    tried = _agent_boto(site, ERASE_CHECKPOINTS.format(**erase, overwrite=True), creds)
    assert tried["overwritten"] == tried["versions"] and tried["deleted"] == 0, tried
    assert dropped in verify()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def agents_moto() -> Iterator[str]:
    """A moto server the agent runs itself: another process, with its own tables."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_an_agent_user_cannot_swap_in_a_dynamodb_trust_root_of_its_own(
    agent_site: Site, boto: Any, aws_env: dict[str, str], moto_server: MotoServer,
    agents_moto: str, tmp_path: Path,
) -> None:
    site = agent_site
    admin = _user(boto, "shipsafe-admin", ALLOW)
    deployer = _user(boto, "deploy-bot", ALLOW, DENY_ROOT_WRITES)
    writer = _user(boto, "agent-writer", ALLOW)  # an identity the agent got that may write
    root_env = {**os.environ, **aws_env}
    url = f"dynamodb://{TABLE}"
    assert _admin({**root_env, **admin}, "store", "init", "--state", url).returncode == 0

    # the agent's own root: a permissive policy signed by a key it holds (mallory's)
    rogue_dir = tmp_path / "rogue"
    (rogue_dir / "keys").mkdir(parents=True)
    for ext in ("key", "pub"):
        mallory = (site.keys / f"mallory.{ext}").read_bytes()
        (rogue_dir / "keys" / f"admin.{ext}").write_bytes(mallory)
    rogue = write_trust_root(rogue_dir, 'apiVersion: shipsafe/v1\nkind: Policy\n'
                             'environments: {"*": {}}\n',
                             {"robot": ("human", ["release"])}, serial=99)
    rogue_admins = [a["publicKey"] for a in yaml.safe_load(rogue.read_text())["admins"]]
    agents_env = {**root_env, "AWS_ENDPOINT_URL": agents_moto}
    for env in (agents_env, {**root_env, **admin}):  # its endpoint, and its own table here
        table = url if env is agents_env else "dynamodb://agent-table"
        assert _admin(env, "store", "init", "--state", table).returncode == 0
        published = _admin(env, "trust", "publish", table, "--root", str(rogue))
        assert published.returncode == 0, published.stderr

    _auth(moto_server, "0")  # every request from here on is checked by IAM
    try:
        published = _admin({**root_env, **admin}, "trust", "publish", url,
                           "--root", str(site.trust))
        assert published.returncode == 0, published.stderr
        admins = [a["publicKey"] for a in yaml.safe_load(site.trust.read_text())["admins"]]

        def location(path: Path, table: str, keys: list[str], endpoint: str) -> Path:
            path.write_text(yaml.safe_dump({
                "apiVersion": "shipsafe/v1", "kind": "TrustRootLocation", "table": table,
                "admins": keys, "endpoint": endpoint, "region": aws_env["AWS_REGION"]}))
            return path

        real = location(site.trust.parent / "trust-location.yaml", url, admins,
                        aws_env["AWS_ENDPOINT_URL"])
        env = {**_agent_aws(aws_env), **deployer, "SHIPSAFE_TRUST_ROOT": str(real)}
        # the root-owned location works for the agent (its identity cannot write the item),
        # and it reaches the pinned endpoint whatever the agent's environment names
        shown = site.agent("trust", "show",
                           env={**env, "AWS_ENDPOINT_URL": agents_moto,
                                "AWS_ENDPOINT_URL_DYNAMODB": agents_moto})
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "alice" in shown.stdout and "robot" in shown.stdout

        # nor can its identity put its own root in the real item
        # (trust publish refuses a root file the agent owns: it writes the item itself)
        tried = _agent_boto(site, PUT_ROOT_ITEM.format(
            endpoint=aws_env["AWS_ENDPOINT_URL"], table=TABLE, body=rogue.read_text()),
            {**_agent_aws(aws_env), **deployer})
        assert tried["code"] in ("403", "AccessDeniedException"), tried

        own = [
            writer,  # the real root, read by an identity that could have written it
            {"SHIPSAFE_TRUST_ROOT": url},  # the table named by the environment
            {"SHIPSAFE_TRUST_ROOT": "dynamodb://agent-table"},
            {"SHIPSAFE_TRUST_ROOT": str(location(  # its own location file, its own endpoint
                site.work / "loc-endpoint.yaml", url, rogue_admins, agents_moto))},
            {"SHIPSAFE_TRUST_ROOT": str(location(  # its own item on the real endpoint
                site.work / "loc-item.yaml", "dynamodb://agent-table", rogue_admins,
                aws_env["AWS_ENDPOINT_URL"]))},
        ]
        plan = site.plan(UNGATED, router_id="checkout-router")
        for attempt in own:
            for name in ("loc-endpoint.yaml", "loc-item.yaml"):
                if (site.work / name).exists():
                    os.chown(site.work / name, site.rt.uid, site.rt.gid)
            done = site.agent("deploy", plan, env={**env, **attempt,
                                                   "AWS_ENDPOINT_URL": agents_moto})
            assert done.returncode == 2, (attempt, done.stdout + done.stderr)
            (error,) = [json.loads(x) for x in done.stdout.splitlines()
                        if x.startswith("{") and json.loads(x)["kind"] == "result"]
            assert error["error"] == "policy.violation", error
            assert "trust root" in error["message"], error
            assert site.untouched()
            refused = site.audit()[-1]
            assert refused["type"] == "deploy_refused", refused
            assert refused["message"] == error["message"]
    finally:
        _auth(moto_server, "inf")
