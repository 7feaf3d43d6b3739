"""The moto server (one per session, reset per test) and the environment every process gets:
shipsafe, the AWS CLI that checks its work, and boto3 that builds the test's resources."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.aws.awscli import AwsCli
from integration.aws.moto_server import MotoServer

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(moto_server: MotoServer, tmp_path: Path) -> dict[str, str]:
    moto_server.reset()
    env = {
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_PAGER": "",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "SHIPSAFE_AWS_MAX_ATTEMPTS": "2",
        "SHIPSAFE_LEASE_SECONDS": "3",
    }
    return env


@pytest.fixture
def boto(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 session on the moto server, for building the test's resources."""
    import boto3

    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    return boto3.session.Session(region_name=REGION)


@pytest.fixture
def aws(aws_env: dict[str, str]) -> AwsCli:
    return AwsCli({**os.environ, **aws_env})
