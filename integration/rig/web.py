"""Loopback HTTP for the rig: standard library, never through a proxy from the environment."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    with _OPENER.open(url, timeout=timeout) as answer:
        return int(answer.status), answer.read()


def get_json(url: str, timeout: float = 2.0) -> Any:
    _, body = get(url, timeout)
    return json.loads(body)


def post_json(url: str, data: Any, timeout: float = 2.0) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with _OPENER.open(request, timeout=timeout) as answer:
        return json.loads(answer.read())
