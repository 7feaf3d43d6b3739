"""The one place shipsafe makes boto3 clients and translates botocore errors.

Clients come from the standard boto3 chain (environment, profile, role); `region` from the
plan wins over the chain's region. `AWS_ENDPOINT_URL` (and the per-service
`AWS_ENDPOINT_URL_<SERVICE>`) are honoured by botocore itself, so every AWS-compatible
endpoint works - except for `pinned_client`, the trust root's witness, which goes only where
the root says. Retries are botocore's `standard` mode, bounded by
SHIPSAFE_AWS_MAX_ATTEMPTS (total attempts, default 4), with short connect/read timeouts:
after that an error reaches the engine, which counts it against its own limits.

Errors are translated here, never above a provider:

    access denied, missing credentials/region  -> ConfigurationError (always)
    missing resource, invalid parameter        -> ConfigurationError while checking (before
                                                  anything changed), ProviderError after
    throttling, timeouts, 5xx, connection      -> TransientProviderError
    anything else                              -> ProviderError

Why the split for missing resources: a target group deleted *during* a rollout must not
escape the engine as an "invalid input, nothing changed" error (exit 2) — by then traffic has
moved, and the engine has to treat it as a provider failure and roll back.

boto3 is imported inside functions only: importing this module costs nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shipsafe.errors import (
    ConfigurationError,
    ProviderError,
    ShipsafeError,
    TransientProviderError,
)

DEFAULT_MAX_ATTEMPTS = 4
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0

_ACCESS = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "AllAccessDisabled",
}
_INVALID = {
    "ValidationError",
    "ValidationException",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidParameterCombination",
    "InvalidParameter",
    "InvalidParameterException",
    "InvalidInput",
    "InvalidRequest",
    "InvalidChangeBatch",
    "InvalidConfigurationRequest",
    "MalformedQueryString",
    "MissingParameter",
}
_TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "SlowDown",
    "EC2ThrottledException",
    "TransactionInProgressException",
    # Lambda: "An update is in progress for resource" - it settles within seconds
    "ResourceConflictException",
}


def max_attempts() -> int:
    try:
        return max(1, int(os.environ.get("SHIPSAFE_AWS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)))
    except ValueError:
        return DEFAULT_MAX_ATTEMPTS


_lock = threading.Lock()
_session: Any = None


def reset() -> None:
    """Forget the shared session (credentials and region are read again). For tests."""
    global _session
    with _lock:
        _session = None


def _shared_session() -> Any:
    # One botocore session per process: it caches service models and credentials, which
    # makes each further client ~100x cheaper than a fresh session's (~0.1 s).
    global _session
    import boto3  # ~0.3 s: only when an AWS provider is used
    import botocore.session

    if _session is None:
        _session = boto3.session.Session(botocore_session=botocore.session.get_session())
    return _session


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client from the standard chain, with bounded standard-mode retries."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts()},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )
    with aws_errors(f"{service} client", checking=True), _lock:
        session = _shared_session()
        region = region or session.region_name
        if not region:
            if service != "route53":  # global service: any region signs for it
                raise ConfigurationError(
                    f"no AWS region for {service}: set `region` in the plan, AWS_REGION, "
                    "or a region in your AWS profile"
                )
            region = "us-east-1"
        return session.client(service, region_name=region, config=config)


def chain_region() -> str | None:
    """The region the standard chain (AWS_REGION, profile) names, or None."""
    with aws_errors("AWS region", checking=True), _lock:
        region = _shared_session().region_name
    return str(region) if region else None


def default_endpoint(service: str, region: str) -> str:
    """AWS's own regional endpoint of a service (the commercial partition)."""
    return f"https://{service}.{region}.amazonaws.com"


def pinned_client(
    service: str, endpoint: str | None, region: str | None, proxy: str | None = None
) -> Any:
    """A client that talks to ENDPOINT in REGION only, whatever the environment says: for
    the trust root's witness and table, which the deploying process must not redirect.

    Credentials still come from the standard chain. Ignored for this client (botocore
    1.3x/1.4x, read in its source): AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> and the
    config file's endpoint_url (an explicit `endpoint_url` wins over them, and
    ignore_configured_endpoint_urls drops them), AWS_CA_BUNDLE / the config file's
    ca_bundle (an explicit `verify` wins: botocore's default bundle, certifi's when
    installed), HTTP(S)_PROXY (botocore reads the environment's proxies only when
    Config.proxies is None), FIPS / dual-stack / accelerate switches (botocore drops them
    with an explicit endpoint; set off here as well). Without an
    endpoint, AWS's regional one (https://SERVICE.REGION.amazonaws.com). `proxy`: the proxy
    the trust root pins (http://HOST:PORT), used for both schemes; without one, none."""
    from botocore.config import Config
    from botocore.httpsession import get_cert_path

    s3: dict[str, Any] = {"use_accelerate_endpoint": False, "use_dualstack_endpoint": False,
                          "addressing_style": "auto"}
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts()},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        proxies={"http": proxy, "https": proxy} if proxy else {},
        ignore_configured_endpoint_urls=True,
        use_fips_endpoint=False,
        use_dualstack_endpoint=False,
        s3=s3 if service == "s3" else None,
    )
    with aws_errors(f"{service} client", checking=True), _lock:
        session = _shared_session()
        region = region or session.region_name
        if not region:
            raise ConfigurationError(
                f"no AWS region for the {service} client the trust root pins: record one "
                "(--region) or set AWS_REGION")
        url = (endpoint or default_endpoint(service, region)).rstrip("/")
        return session.client(service, region_name=region, endpoint_url=url,
                              verify=get_cert_path(True), config=config)


def client_region(aws_client: Any) -> str:
    return str(aws_client.meta.region_name)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(code: str) -> bool:
    return (
        code.endswith(("NotFound", "NotFoundException", "NotFoundFault"))
        or code.startswith("NoSuch")
        or ".NotFound" in code
    )


def translate(exc: BaseException, what: str, checking: bool = False) -> ShipsafeError:
    """The shipsafe error for a botocore/boto3 exception raised while doing `what`."""
    import botocore.exceptions as bx

    if isinstance(exc, ShipsafeError):
        return exc
    if isinstance(exc, bx.ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        line = f"{what}: {code}: {message}"
        if code in _ACCESS:
            return ConfigurationError(f"{what}: access denied ({code}): {message}")
        if code in _TRANSIENT or status >= 500 or status == 429:
            return TransientProviderError(line)
        if is_not_found(code) or code in _INVALID:
            return ConfigurationError(line) if checking else ProviderError(line)
        return ProviderError(line)
    if isinstance(
        exc,
        bx.NoCredentialsError
        | bx.PartialCredentialsError
        | bx.NoRegionError
        | bx.ProfileNotFound
        | bx.CredentialRetrievalError
        | bx.TokenRetrievalError
        | bx.SSOError,
    ):
        return ConfigurationError(f"{what}: AWS credentials or region: {exc}")
    if isinstance(
        exc,
        bx.EndpointConnectionError
        | bx.ConnectTimeoutError
        | bx.ReadTimeoutError
        | bx.ConnectionClosedError
        | bx.ConnectionError
        | bx.HTTPClientError,
    ):
        return TransientProviderError(f"{what}: cannot reach AWS: {exc}")
    if isinstance(exc, bx.ParamValidationError):
        text = str(exc).replace("\n", " ")
        return (
            ConfigurationError(f"{what}: {text}") if checking else ProviderError(f"{what}: {text}")
        )
    if isinstance(exc, bx.BotoCoreError):
        return ProviderError(f"{what}: {exc}")
    return ProviderError(f"{what}: {type(exc).__name__}: {exc}")


@contextmanager
def aws_errors(what: str, checking: bool = False) -> Iterator[None]:
    """Translate any botocore/boto3 exception raised inside into shipsafe's tree."""
    try:
        yield
    except ShipsafeError:
        raise
    except Exception as exc:
        if not from_aws_sdk(exc):
            raise  # our own bug: let it surface as one, not as a provider failure
        mapped = translate(exc, what, checking)
        raise mapped from exc


def from_aws_sdk(exc: BaseException) -> bool:
    return any(
        klass.__module__.split(".")[0] in ("botocore", "boto3", "s3transfer")
        for klass in type(exc).__mro__
    )


def snapshot_name(prefix: str, label: str, stamp: str, limit: int = 63) -> str:
    """An identifier RDS accepts (letters, digits, single hyphens, a letter first) and EBS
    tags read well: PREFIX-LABEL-STAMP, cut to `limit` keeping the stamp."""
    import re

    def clean(text: str) -> str:
        return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")

    head = clean(f"{prefix}-{label}") or "shipsafe"
    tail = clean(stamp)
    head = head[: max(1, limit - len(tail) - 1)].rstrip("-")
    name = f"{head}-{tail}" if tail else head
    return name if name[0].isalpha() else f"s-{name}"[:limit]


def validated(model: Any, config: dict[str, Any], name: str) -> Any:
    """config -> model, a pydantic error as one ConfigurationError line (exit 2)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(config)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"{name}: {problems}") from None
