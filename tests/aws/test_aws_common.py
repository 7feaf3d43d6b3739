"""One place for boto3 clients and error translation: what reaches the engine."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from shipsafe.errors import ConfigurationError, ProviderError, TransientProviderError
from shipsafe.providers import aws_common


def client_error(code: str, status: int = 400) -> Any:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


@pytest.mark.parametrize(
    ("code", "status", "checking", "expected"),
    [
        ("AccessDenied", 403, False, ConfigurationError),
        ("AccessDeniedException", 400, False, ConfigurationError),
        ("ListenerNotFound", 400, True, ConfigurationError),
        ("ListenerNotFound", 400, False, ProviderError),
        ("ResourceNotFoundException", 404, True, ConfigurationError),
        ("NoSuchHostedZone", 404, True, ConfigurationError),
        ("InvalidVolume.NotFound", 400, True, ConfigurationError),
        ("ValidationError", 400, True, ConfigurationError),
        ("Throttling", 400, False, TransientProviderError),
        ("TooManyRequestsException", 429, False, TransientProviderError),
        ("ServiceUnavailable", 503, False, TransientProviderError),
        ("SomethingOdd", 500, False, TransientProviderError),
        ("SomethingOdd", 400, False, ProviderError),
    ],
)
def test_client_errors_map_to_the_tree(
    code: str, status: int, checking: bool, expected: type
) -> None:
    mapped = aws_common.translate(client_error(code, status), "thing", checking)
    assert type(mapped) is expected
    assert code in str(mapped) and str(mapped).startswith("thing")


def test_transport_and_credential_errors() -> None:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ReadTimeoutError

    assert isinstance(
        aws_common.translate(EndpointConnectionError(endpoint_url="http://x"), "t"),
        TransientProviderError,
    )
    assert isinstance(
        aws_common.translate(ReadTimeoutError(endpoint_url="http://x"), "t"),
        TransientProviderError,
    )
    assert isinstance(aws_common.translate(NoCredentialsError(), "t"), ConfigurationError)


def test_aws_errors_leaves_our_own_bugs_alone() -> None:
    with pytest.raises(KeyError), aws_common.aws_errors("t"):
        raise KeyError("a bug")
    with pytest.raises(ProviderError) as info, aws_common.aws_errors("t"):
        raise client_error("Odd")
    assert info.value.__cause__ is not None


def test_clients_honour_aws_endpoint_url_and_bound_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("SHIPSAFE_AWS_MAX_ATTEMPTS", "3")
    aws_common.reset()
    try:
        c = aws_common.client("elbv2", "eu-west-1")
        assert c.meta.endpoint_url == "http://127.0.0.1:4566"
        assert c.meta.region_name == "eu-west-1"
        assert c.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    finally:
        aws_common.reset()


def test_no_region_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    aws_common.reset()
    try:
        with pytest.raises(ConfigurationError, match="no AWS region for lambda"):
            aws_common.client("lambda")
        assert aws_common.client("route53").meta.region_name in ("us-east-1", "aws-global")
    finally:
        aws_common.reset()


def test_an_unreachable_endpoint_fails_fast_and_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Port 9 on loopback refuses: bounded retries, then TransientProviderError."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("SHIPSAFE_AWS_MAX_ATTEMPTS", "1")
    aws_common.reset()
    try:
        from shipsafe.plan.targets import AwsLambdaTarget
        from shipsafe.providers.traffic.aws_lambda import AwsLambdaRouter

        target = AwsLambdaTarget(
            functionName="f", alias="live", stable="1", canary="2", region="us-east-1"
        )
        with pytest.raises(TransientProviderError, match="cannot reach AWS"):
            AwsLambdaRouter(target).get_weight()
    finally:
        aws_common.reset()


def test_loading_plans_and_the_registry_does_not_import_boto3() -> None:
    code = (
        "import sys\n"
        "import shipsafe.plan.models, shipsafe.providers.registry, shipsafe.store\n"
        "import shipsafe.providers.aws_common, shipsafe.cli.app\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
