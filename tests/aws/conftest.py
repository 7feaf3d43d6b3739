"""moto in-process for every test in tests/aws: fake credentials, one region, no endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.aws.worlds import REGION


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
