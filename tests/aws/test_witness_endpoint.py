"""The S3 witness is reached where the trust root says, not where the deploying process's
environment points: AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_CA_BUNDLE and proxies are
ignored for its client (shipsafe.providers.aws_common.pinned_client); credentials still come
from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from shipsafe.audit.s3_witness import S3Witness
from shipsafe.cli.app import app
from shipsafe.cli.common import witness_of
from shipsafe.providers import aws_common
from shipsafe.trust import keys
from shipsafe.trust.keys import load_private
from shipsafe.trust.root import (
    AdminKey,
    RootSignature,
    TrustDocument,
    TrustRootFile,
    read_root,
    signed_payload,
    write_root,
)
from tests.aws.test_s3_witness_contract import locked_bucket
from tests.aws.worlds import REGION
from tests.contract.witness_contract import records
from tests.support.trust_root import PERMISSIVE, write_trust_root

runner = CliRunner()
BUCKET = "audit-witness"
PINNED = f"https://s3.{REGION}.amazonaws.com"
AGENTS_S3 = "https://agents-s3.example.net"
HOSTILE = {
    "AWS_ENDPOINT_URL": "https://agents-everything.example.net",
    "AWS_ENDPOINT_URL_S3": AGENTS_S3,
    "AWS_CA_BUNDLE": "/tmp/agents-ca.pem",
    "HTTPS_PROXY": "http://agents-proxy.example.net:3128",
    "HTTP_PROXY": "http://agents-proxy.example.net:3128",
    "https_proxy": "http://agents-proxy.example.net:3128",
    "AWS_USE_FIPS_ENDPOINT": "true",
}


@pytest.fixture
def hostile(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto in process, then the deploying process's own endpoint, CA bundle and proxy."""
    for name, value in HOSTILE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    aws_common.reset()
    return aws


def _http_session(client: Any) -> Any:
    return client._endpoint.http_session


def test_the_environment_redirects_an_ordinary_client_but_not_the_witness(hostile: Any) -> None:
    ordinary = aws_common.client("s3")
    assert ordinary.meta.endpoint_url == AGENTS_S3  # the variables are live in this process
    assert _http_session(ordinary)._verify == HOSTILE["AWS_CA_BUNDLE"]
    assert _http_session(ordinary)._proxy_config.proxy_url_for(PINNED)

    witness = S3Witness.from_url(f"s3://{BUCKET}/prod", endpoint=PINNED, region="eu-west-1")
    pinned = witness.s3
    assert pinned.meta.endpoint_url == PINNED
    assert pinned.meta.region_name == "eu-west-1"
    assert pinned.meta.config.proxies == {}
    session = _http_session(pinned)
    assert session._verify != HOSTILE["AWS_CA_BUNDLE"] and Path(session._verify).is_file()
    assert session._proxy_config.proxy_url_for(PINNED) is None
    assert session._proxy_config.proxy_url_for("http://127.0.0.1:5000") is None


def test_a_witness_without_a_recorded_endpoint_reaches_the_aws_regional_one(
    hostile: Any,
) -> None:
    client = S3Witness.from_url(f"s3://{BUCKET}/prod").s3
    assert client.meta.endpoint_url == PINNED  # AWS_DEFAULT_REGION's, not AGENTS_S3
    assert client.meta.config.proxies == {}


def test_a_checkpoint_reaches_the_pinned_endpoint_while_the_environment_points_elsewhere(
    hostile: Any,
) -> None:
    locked_bucket(hostile.client("s3", endpoint_url=PINNED), BUCKET)
    witness = S3Witness.from_url(f"s3://{BUCKET}/prod", endpoint=PINNED, region=REGION)
    sent: list[str] = []
    witness.s3.meta.events.register("before-send.s3",
                                    lambda request, **_: sent.append(request.url))
    record = records("r-1")[0]
    witness.put("audit.jsonl", record)
    assert sent and all(url.startswith((f"{PINNED}/", f"https://{BUCKET}.s3.{REGION}."))
                        for url in sent), sent
    reader = hostile.client("s3", endpoint_url=PINNED)
    names = [v["Key"] for v in reader.list_object_versions(Bucket=BUCKET)["Versions"]]
    assert len(names) == 1 and f"hash={record['hash']}" in names[0]


def _root(where: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    monkeypatch.setattr("shipsafe.trust.paths.TRUSTED_OWNERS", frozenset({0, os.geteuid()}))
    return write_trust_root(where, PERMISSIVE, {"ci-bot": ("ci", [])})


def _set_witness(root: Path, *args: str) -> Any:
    return runner.invoke(app, ["trust", "set-witness", f"s3://{BUCKET}/prod", *args, "--root",
                               str(root), "--sign-with", str(root.parent / "keys/admin.key")])


def test_set_witness_records_the_endpoint_and_region_that_deploys_then_use(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked_bucket(hostile.client("s3", endpoint_url=PINNED), BUCKET)
    root = _root(tmp_path, monkeypatch)
    done = _set_witness(root, "--endpoint", f"{PINNED}/", "--region", REGION)
    assert done.exit_code == 0, done.output
    document = yaml.safe_load(root.read_text())["document"]
    assert document["auditWitnessEndpoint"] == PINNED
    assert document["auditWitnessRegion"] == REGION
    client = witness_of(read_root(root)).s3  # verified: the endpoint is signed
    assert (client.meta.endpoint_url, client.meta.region_name) == (PINNED, REGION)


def test_set_witness_without_an_endpoint_records_the_aws_regional_one(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked_bucket(hostile.client("s3", endpoint_url=PINNED), BUCKET)
    root = _root(tmp_path, monkeypatch)
    done = _set_witness(root)
    assert done.exit_code == 0, done.output
    document = yaml.safe_load(root.read_text())["document"]
    assert (document["auditWitnessEndpoint"], document["auditWitnessRegion"]) == (PINNED,
                                                                                  REGION)


def test_an_edited_witness_endpoint_breaks_the_roots_signature(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked_bucket(hostile.client("s3", endpoint_url=PINNED), BUCKET)
    root = _root(tmp_path, monkeypatch)
    assert _set_witness(root, "--region", REGION).exit_code == 0
    root.write_text(root.read_text().replace(PINNED, AGENTS_S3))
    from shipsafe.errors import PolicyViolation

    with pytest.raises(PolicyViolation, match="not signed"):
        read_root(root)


@pytest.mark.parametrize(("option", "value"), [
    ("--endpoint", "ftp://s3.example.net"), ("--endpoint", "https://"),
    ("--endpoint", "s3.example.net"), ("--endpoint", "https://s3.example.net/?x=1"),
    ("--proxy", "socks5://proxy.corp.example:1080"),
    ("--proxy", "http://user:hunter2@proxy.corp.example:3128"),
    ("--proxy", "http://proxy.corp.example:3128/path"), ("--proxy", "proxy:3128"),
])
def test_a_malformed_witness_endpoint_or_proxy_is_refused_in_one_line(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, value: str
) -> None:
    root = _root(tmp_path, monkeypatch)
    before = root.read_text()
    done = _set_witness(root, option, value, "--region", REGION)
    assert done.exit_code == 2, done.output
    assert len(done.output.strip().splitlines()) == 1 and option in done.output
    assert "hunter2" not in done.output  # a password is never echoed
    assert root.read_text() == before


def test_a_root_signed_before_the_endpoint_fields_existed_still_verifies(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    write_trust_root(tmp_path, PERMISSIVE, {})
    admin = AdminKey(identity="admin", public_key=(keys_dir / "admin.pub").read_text().strip())
    document = TrustDocument(serial=1, issued_at="2026-03-04T12:00:00+00:00",
                             policy=yaml.safe_load(PERMISSIVE), audit_witness="s3://b/p")
    old = signed_payload([admin], 1, document)
    old["document"] = {k: v for k, v in old["document"].items()
                       if k not in ("auditWitnessEndpoint", "auditWitnessRegion")}
    private = load_private(keys_dir / "admin.key")
    signature = RootSignature(key_id=keys.key_id(keys.raw_public_of(private)),
                              signature=keys.sign(private, old))
    path = tmp_path / "old-root.yaml"
    write_root(path, TrustRootFile(admins=[admin], document=document, signatures=[signature]))
    assert read_root(path, check_modes=False).document.audit_witness == "s3://b/p"


CORP_PROXY = "http://proxy.corp.example:3128"


def test_a_proxy_the_root_pins_is_used_for_the_witness_and_the_environments_is_not(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site that reaches S3 only through a proxy: `set-witness --proxy` signs it into the
    root; the witness's client uses it for both schemes, and the environment's
    HTTPS_PROXY (the agent's) still does not apply."""
    locked_bucket(hostile.client("s3", endpoint_url=PINNED), BUCKET)
    root = _root(tmp_path, monkeypatch)
    # set-witness checks the bucket through the proxy it records: in process, moto answers
    done = _set_witness(root, "--region", REGION, "--proxy", f"{CORP_PROXY}/")
    assert done.exit_code == 0, done.output
    assert yaml.safe_load(root.read_text())["document"]["auditWitnessProxy"] == CORP_PROXY
    client = witness_of(read_root(root)).s3  # verified: the proxy is signed
    assert client.meta.config.proxies == {"http": CORP_PROXY, "https": CORP_PROXY}
    proxies = _http_session(client)._proxy_config
    assert proxies.proxy_url_for(PINNED) == CORP_PROXY
    assert proxies.proxy_url_for("http://127.0.0.1:5000") == CORP_PROXY  # NO_PROXY: unset
    root.write_text(root.read_text().replace(CORP_PROXY, HOSTILE["HTTPS_PROXY"]))
    from shipsafe.errors import PolicyViolation

    with pytest.raises(PolicyViolation, match="not signed"):
        read_root(root)  # the agent's proxy edited in: the root no longer verifies


def test_a_proxy_for_a_file_witness_is_refused(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, monkeypatch)
    done = runner.invoke(app, ["trust", "set-witness", str(tmp_path / "w.log"), "--proxy",
                               CORP_PROXY, "--root", str(root), "--sign-with",
                               str(root.parent / "keys/admin.key")])
    assert done.exit_code == 2 and "--proxy" in done.output, done.output
