"""A real boto3 client whose every call raises one of botocore's own errors before it is
sent (a `before-call` hook): what a provider sees when AWS cannot be reached."""

from __future__ import annotations

from typing import Any

from tests.aws.worlds import REGION


def unreachable_client(session: Any, service: str) -> Any:
    from botocore.exceptions import EndpointConnectionError

    client = session.client(service, region_name=REGION)

    def refuse(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=f"https://{service}.{REGION}.amazonaws.com")

    client.meta.events.register("before-call", refuse)
    return client
