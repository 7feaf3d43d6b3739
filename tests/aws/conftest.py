"""moto in-process for every test in tests/aws: fake credentials, one region, no endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.aws.worlds import REGION

# Not AWS behaviour, only cost: moto's EC2 backend loads thousands of default AMIs into every
# fresh backend (about 0.3 s a test that touches EC2 or ELB); no test here uses them.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_loader() -> Iterator[None]:
    """One botocore data loader for the whole run.

    Every test starts a fresh boto3 session (credentials and region are read again, as in
    production), and each fresh session re-parses the service models' JSON: about 60 % of
    this folder's time. The models are read-only data, so one loader serves every session.
    """
    import botocore.loaders
    import botocore.session

    loaders: dict[str | None, Any] = {}
    original = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> Any:
        if search_path_string not in loaders:
            loaders[search_path_string] = original(search_path_string)
        return loaders[search_path_string]

    botocore.session.create_loader = create_loader  # type: ignore[assignment]
    yield
    botocore.session.create_loader = original


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each request to in-process moto atomic, as each request to DynamoDB is.

    moto checks a ConditionExpression and writes the item in two Python steps without a
    lock, so two threads racing can both pass the check (seen: both writers of one revision
    won). Real DynamoDB evaluates the condition and the write atomically per item; the
    racing tests are about shipsafe's use of conditions, so moto gets a lock here.
    """
    import threading

    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start moto; yields a boto3 Session for building test resources."""
    import boto3
    from moto import mock_aws

    from shipsafe.providers import aws_common

    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    aws_common.reset()
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)
    aws_common.reset()
