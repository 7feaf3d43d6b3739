"""Loopback HTTP for the rig: standard library, never through a proxy from the environment.

Error answers (4xx/5xx, e.g. Prometheus' 503 while it starts) come back as a status, with
their connection closed here: an HTTPError left to the garbage collector leaks its socket.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _open(request: urllib.request.Request | str, timeout: float) -> tuple[int, bytes]:
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read()


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    return _open(url, timeout)


def get_json(url: str, timeout: float = 2.0) -> Any:
    status, body = get(url, timeout)
    if status >= 400:
        raise RuntimeError(f"GET {url}: HTTP {status}: {body[:200]!r}")
    return json.loads(body)


def post_json(url: str, data: Any, timeout: float = 2.0) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    status, body = _open(request, timeout)
    if status >= 400:
        raise RuntimeError(f"POST {url}: HTTP {status}: {body[:200]!r}")
    return json.loads(body)
