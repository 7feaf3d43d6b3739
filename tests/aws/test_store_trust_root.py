"""The trust root in a team table's reserved item (SHIPSAFE_TRUST_ROOT=dynamodb://TABLE):
verified as the file root is, and used only when DynamoDB refuses the caller a write to it.

moto enforces IAM for DynamoDB once authentication is on (moto.core.enable_iam_authentication)
but evaluates neither resource ARNs nor the dynamodb:LeadingKeys condition for it: a Deny with
that condition denies every write to the table. So the identities here are "may write the
table" and "may not write the table"; the per-item scoping is AWS's to enforce (README,
Trust model). The answers moto does not give the way DynamoDB does (AccessDeniedException
as JSON, throttling) come from botocore's Stubber.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber
from typer.testing import CliRunner

from shipsafe.cli.app import app
from shipsafe.clock import FakeClock
from shipsafe.errors import ExitCode, PolicyViolation
from shipsafe.store.dynamodb import DynamoDBStore
from shipsafe.trust.loading import load_root
from shipsafe.trust.root import parse_root_file
from shipsafe.trust.store_root import PK, SK, publish, read_store_root, writable_reason
from tests.aws.worlds import REGION
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter
from tests.support.trust_root import PERMISSIVE, write_trust_root
from tests.test_cli import FAST, write_plan

runner = CliRunner()
URL = "dynamodb://team-state"
MOTO_ACCOUNT = "123456789012"  # moto's default account: the table the fixtures create
PEOPLE = {"ci-bot": ("ci", []), "bob": ("human", [])}
DENY_WRITES = {"Effect": "Deny",
               "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                          "dynamodb:BatchWriteItem"],
               # moto authorizes DynamoDB calls against resource "*": a table ARN here would
               # never match there (README's policy names the table)
               "Resource": "*",
               "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["trust-root"]}}}
ALLOW_ALL = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}


def _user(iam: Any, name: str, *statements: dict[str, Any]) -> tuple[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="shipsafe", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture
def published(aws: Any, tmp_path: Path) -> Path:
    """The team table with an admin's signed root published into it; returns the file."""
    DynamoDBStore.init(URL)
    root = write_trust_root(tmp_path, PERMISSIVE, PEOPLE)
    publish(URL, parse_root_file(root))
    return root


def _admins(root: Path) -> list[str]:
    return [a.public_key for a in parse_root_file(root).admins]


def write_location(where: Path, admins: list[str], table: str = URL, **pins: str) -> Path:
    """The root-owned file naming the table and the admin keys that must vouch for it (and
    `pins`: the endpoint and region it is reached at)."""
    where.mkdir(mode=0o755, exist_ok=True)
    path = where / "trust-location.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "shipsafe/v1", "kind": "TrustRootLocation",
                                    "table": table, "admins": admins, **pins}))
    path.chmod(0o644)
    return path


@pytest.fixture
def identities(aws: Any) -> Iterator[dict[str, Any]]:
    """dynamodb clients for an admin (may write the table) and a deployer (may not), with
    moto checking IAM for every request made while the test runs."""
    from moto.core import enable_iam_authentication

    iam = aws.client("iam")
    keys = {"admin": _user(iam, "admin", ALLOW_ALL),
            "deployer": _user(iam, "deployer", ALLOW_ALL, DENY_WRITES)}
    clients = {name: aws.client("dynamodb", aws_access_key_id=ak, aws_secret_access_key=sk)
               for name, (ak, sk) in keys.items()}
    with enable_iam_authentication():
        yield {"clients": clients, "keys": keys}


@pytest.mark.parametrize("account", [None, MOTO_ACCOUNT])
def test_a_root_the_caller_cannot_write_is_read_and_verified(
    published: Path, identities: dict[str, Any], account: str | None
) -> None:
    root = read_store_root(URL, _admins(published), identities["clients"]["deployer"],
                           account=account)
    assert root.serial == 1
    assert sorted(k.identity for k in root.actors) == ["bob", "ci-bot"]
    assert root.source == f"{URL} (item pk={PK})"


def test_a_root_the_caller_could_write_is_refused(
    published: Path, identities: dict[str, Any]
) -> None:
    with pytest.raises(PolicyViolation, match="writable by the invoking identity") as refused:
        read_store_root(URL, _admins(published), identities["clients"]["admin"])
    assert refused.value.exit_code == ExitCode.INVALID
    # the proof wrote nothing: the item is the published document, no probe attribute
    item = identities["clients"]["admin"].get_item(
        TableName="team-state", Key={"pk": {"S": PK}, "sk": {"S": SK}})["Item"]
    assert set(item) == {"pk", "sk", "document", "serial"}


def test_an_edited_root_in_the_table_is_refused(published: Path, aws: Any) -> None:
    data = yaml.safe_load(parse_root_file(published).model_dump_json(by_alias=True))
    data["document"]["actors"][0]["kind"] = "human"  # ci-bot promotes itself
    aws.client("dynamodb").put_item(TableName="team-state", Item={
        "pk": {"S": PK}, "sk": {"S": SK}, "document": {"S": yaml.safe_dump(data)},
        "serial": {"N": "9"}})
    with pytest.raises(PolicyViolation, match="not signed by 1 of its admin keys"):
        read_store_root(URL, _admins(published))


def test_a_root_vouched_for_by_other_admins_than_the_location_pins_is_refused(
    published: Path, identities: dict[str, Any], tmp_path: Path
) -> None:
    # what a table in the agent's own account, or an endpoint it runs, would answer: a
    # well-signed root whose admins are the agent's
    other = write_trust_root(tmp_path / "agent", PERMISSIVE, {"ci-bot": ("human", [])})
    with pytest.raises(PolicyViolation, match="other admin keys than the location file"):
        read_store_root(URL, _admins(other), identities["clients"]["deployer"])


def test_a_table_of_the_same_name_in_the_agents_own_account_is_refused_by_the_account_pin(
    published: Path, aws: Any, tmp_path: Path
) -> None:
    """The credentials choose the account: the agent's own account holds a table of the
    same name answering with a document the pinned admins really signed (an older root, say).
    The location's `account` pin refuses it before its document is read."""
    creds = aws.client("sts").assume_role(
        RoleArn="arn:aws:iam::222222222222:role/agent", RoleSessionName="agent")["Credentials"]
    theirs = aws.client("dynamodb", aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])
    ours = aws.client("dynamodb").describe_table(TableName="team-state")["Table"]
    theirs.create_table(TableName="team-state", KeySchema=ours["KeySchema"],
                        AttributeDefinitions=[
                            a for a in ours["AttributeDefinitions"]
                            if a["AttributeName"] in {k["AttributeName"] for k in ours["KeySchema"]}
                        ],
                        BillingMode="PAY_PER_REQUEST")
    publish(URL, parse_root_file(published), client=theirs)  # the admins' real signatures
    sent: list[str] = []
    theirs.meta.events.register("before-call.dynamodb", lambda model, **_: sent.append(model.name))
    with pytest.raises(PolicyViolation, match=(
        "answered from account 222222222222; the location file pins account " + MOTO_ACCOUNT
    )) as refused:
        read_store_root(URL, _admins(published), theirs, account=MOTO_ACCOUNT)
    assert refused.value.exit_code == ExitCode.INVALID
    assert sent == ["DescribeTable"]  # refused before the document was read or probed
    location = write_location(tmp_path / "etc", _admins(published), account="12345")
    with pytest.raises(PolicyViolation, match="trust root location: account"):
        load_root({"SHIPSAFE_TRUST_ROOT": str(location)})


def test_a_table_named_by_the_environment_is_refused(published: Path) -> None:
    with pytest.raises(PolicyViolation, match="named by a root-owned location file"):
        load_root({"SHIPSAFE_TRUST_ROOT": URL})


PINNED = f"https://dynamodb.{REGION}.amazonaws.com"


@pytest.mark.parametrize("pins", [{"endpoint": PINNED, "region": REGION}, {}])
def test_the_table_root_is_read_at_the_endpoint_the_location_pins_not_the_environments(
    published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pins: dict[str, str]
) -> None:
    """Without pins: AWS's regional endpoint. The environment's endpoint, CA bundle and
    proxy are the deploying process's and do not apply; the refusal (moto without IAM lets
    the caller write) shows the pinned table was read and its signature checked."""
    from shipsafe.providers import aws_common

    location = write_location(tmp_path / "etc", _admins(published), **pins)
    for name, value in {"AWS_ENDPOINT_URL": "https://agents.example.net",
                        "AWS_ENDPOINT_URL_DYNAMODB": "https://agents-ddb.example.net",
                        "AWS_CA_BUNDLE": "/tmp/agents-ca.pem",
                        "HTTPS_PROXY": "http://agents-proxy.example.net:3128"}.items():
        monkeypatch.setenv(name, value)
    aws_common.reset()
    sent: list[str] = []
    aws_common._shared_session().events.register(
        "before-send.dynamodb", lambda request, **_: sent.append(request.url))
    assert aws_common.client("dynamodb").meta.endpoint_url == "https://agents-ddb.example.net"
    with pytest.raises(PolicyViolation, match="writable by the invoking identity"):
        load_root({"SHIPSAFE_TRUST_ROOT": str(location)})
    assert sent and all(url.startswith(PINNED) for url in sent), sent


def test_a_location_with_a_malformed_endpoint_is_refused(
    published: Path, tmp_path: Path
) -> None:
    location = write_location(tmp_path / "etc", _admins(published),
                              endpoint="https://ddb.example.net/x?y=1")
    with pytest.raises(PolicyViolation, match="trust root location: endpoint"):
        load_root({"SHIPSAFE_TRUST_ROOT": str(location)})


def test_a_table_without_a_root_is_refused_naming_the_command(
    aws: Any, tmp_path: Path
) -> None:
    DynamoDBStore.init(URL)
    location = write_location(tmp_path / "etc", ["ed25519:" + "A" * 43 + "="])
    with pytest.raises(PolicyViolation, match=f"shipsafe trust publish {URL}"):
        load_root({"SHIPSAFE_TRUST_ROOT": str(location)})


def test_publish_never_replaces_a_root_with_an_older_or_equal_serial(
    published: Path, tmp_path: Path
) -> None:
    older = write_trust_root(tmp_path / "old", PERMISSIVE, {"ci-bot": ("human", [])}, serial=1)
    with pytest.raises(PolicyViolation, match="serial 1 or higher"):
        publish(URL, parse_root_file(older))


@pytest.mark.parametrize(
    ("error", "status", "verdict"),
    [
        ("AccessDeniedException", 400, None),
        ("ConditionalCheckFailedException", 400, "writable by the invoking identity"),
        ("ThrottlingException", 400, "could not be proven unwritable (ThrottlingException)"),
        ("ResourceNotFoundException", 400, "could not be proven unwritable"),
    ],
)
def test_only_access_denied_proves_the_root_unwritable(
    error: str, status: int, verdict: str | None
) -> None:
    import boto3

    client = boto3.session.Session(
        region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    ).client("dynamodb")
    with Stubber(client) as stub:
        stub.add_client_error("update_item", service_error_code=error, http_status_code=status)
        found = writable_reason("team-state", client)
    assert found == verdict or (verdict is not None and found is not None and verdict in found)


@pytest.fixture
def deploy_site(
    published: Path, identities: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeProviders:
    from shipsafe.providers import aws_common

    monkeypatch.chdir(tmp_path)
    location = write_location(tmp_path / "etc", _admins(published))
    monkeypatch.setenv("SHIPSAFE_TRUST_ROOT", str(location))
    monkeypatch.setenv("SHIPSAFE_KEY", str(tmp_path / "keys" / "ci-bot.key"))
    for var in ("SHIPSAFE_STATE", "SHIPSAFE_AUDIT_LOG", "SHIPSAFE_AUDIT_S3", "CI"):
        monkeypatch.delenv(var, raising=False)
    providers = FakeProviders(FakeRouter(), FakeMetrics(0.001))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    aws_common.reset()
    return providers


def _as(identity: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from shipsafe.providers import aws_common

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", identity[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", identity[1])
    aws_common.reset()


def test_a_deploy_obeys_the_table_root_only_when_the_deployer_cannot_write_it(
    deploy_site: FakeProviders, identities: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = write_plan(tmp_path, FAST)
    _as(identities["keys"]["admin"], monkeypatch)
    refused = runner.invoke(app, ["deploy", plan, "--state", "state.db"])
    assert refused.exit_code == 2, refused.output
    assert "writable by the invoking identity" in refused.output
    assert [c for c in deploy_site.router_instance.calls if c[0] == "set"] == []
    _as(identities["keys"]["deployer"], monkeypatch)
    shown = runner.invoke(app, ["trust", "show"])
    assert shown.exit_code == 0, shown.output
    assert f"{URL} (item pk={PK}): safe and signed; serial 1" in shown.output
    deployed = runner.invoke(app, ["deploy", plan, "--state", "state.db", "-o", "json"])
    assert deployed.exit_code == 0, deployed.output
    created = json.loads(deployed.output.splitlines()[0])
    assert created["data"]["actor"]["kind"] == "ci"  # the kind came from the table's root
    assert created["data"]["policy"].startswith(f"trust root {URL}")


def test_aws_permissions_reads_the_table_root_and_denies_writes_to_it(
    deploy_site: FakeProviders, identities: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The location file names the table: the policy may read the root there, and denies the
    writes that would make the root refused (and the deployer its own admin)."""
    _as(identities["keys"]["deployer"], monkeypatch)
    done = runner.invoke(app, ["aws", "permissions", write_plan(tmp_path, FAST)])
    assert done.exit_code == 0, done.output
    got = {s["Sid"]: s for s in json.loads(done.output)["Statement"]}
    table = "arn:aws:dynamodb:*:*:table/team-state"
    assert got["ShipsafeTrustRootRead"]["Action"] == ["dynamodb:DescribeTable", "dynamodb:GetItem"]
    assert got["ShipsafeTrustRootRead"]["Resource"] == table
    deny = got["ShipsafeTrustRootReadOnly"]
    assert deny["Effect"] == "Deny" and deny["Resource"] == table
    assert deny["Condition"]["ForAnyValue:StringEquals"]["dynamodb:LeadingKeys"] == [PK]


def test_an_admin_who_may_write_the_table_root_still_gets_the_deployers_policy(
    deploy_site: FakeProviders, identities: dict[str, Any], published: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, aws: Any,
) -> None:
    """`aws permissions` describes the root and never uses it, so the admin who publishes it
    (and so may write it) is not refused; a deploy by the same admin is, and a root that does
    not verify is refused for both."""
    plan = write_plan(tmp_path, FAST)
    _as(identities["keys"]["admin"], monkeypatch)
    described = runner.invoke(app, ["aws", "permissions", plan])
    assert described.exit_code == 0, described.output
    sids = {s["Sid"] for s in json.loads(described.output)["Statement"]}
    assert {"ShipsafeTrustRootRead", "ShipsafeTrustRootReadOnly"} <= sids
    deployed = runner.invoke(app, ["deploy", plan, "--state", "state.db"])
    assert deployed.exit_code == 2 and "writable by the invoking identity" in deployed.output
    data = yaml.safe_load(parse_root_file(published).model_dump_json(by_alias=True))
    data["document"]["actors"][0]["kind"] = "human"
    identities["clients"]["admin"].put_item(TableName="team-state", Item={
        "pk": {"S": PK}, "sk": {"S": SK}, "document": {"S": yaml.safe_dump(data)},
        "serial": {"N": "9"}})
    tampered = runner.invoke(app, ["aws", "permissions", plan])
    assert tampered.exit_code == 2, tampered.output
    assert "not signed by 1 of its admin keys" in tampered.output


def test_the_table_root_is_read_through_the_proxy_the_location_pins(
    published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipsafe.providers import aws_common

    made: list[Any] = []
    real = aws_common.pinned_client

    def recording(*args: Any) -> Any:
        made.append(real(*args))
        return made[-1]

    monkeypatch.setattr(aws_common, "pinned_client", recording)
    monkeypatch.setenv("HTTPS_PROXY", "http://agents-proxy.example.net:3128")
    location = write_location(tmp_path / "etc", _admins(published),
                              proxy="http://proxy.corp.example:3128")
    with pytest.raises(PolicyViolation, match="writable by the invoking identity"):
        load_root({"SHIPSAFE_TRUST_ROOT": str(location)})  # read and verified: moto lets write
    (client,) = made
    assert client.meta.config.proxies == {"http": "http://proxy.corp.example:3128",
                                          "https": "http://proxy.corp.example:3128"}
    bad = write_location(tmp_path / "etc2", _admins(published),
                         proxy="http://user:pw@proxy.corp.example:3128")
    with pytest.raises(PolicyViolation, match="trust root location: proxy"):
        load_root({"SHIPSAFE_TRUST_ROOT": str(bad)})
