"""Metrics from any HTTP endpoint that answers JSON, through one reused httpx client.

The transport is a seam: `transport` (an httpx transport; default httpx's own) is handed to
the client, so tests answer with `httpx.MockTransport` beside the real-server tests.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from shipsafe.errors import ConfigurationError, ProviderError, TransientProviderError
from shipsafe.plan.sources import HttpSource
from shipsafe.providers.metrics.base import MetricQuery, QueryResult, bearer_headers

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_json_path(path: str) -> list[str | int]:
    """`a.b[0].c` -> ["a", "b", 0, "c"]; raises ConfigurationError when malformed."""
    parts: list[str | int] = []
    pos = 0
    for m in _STEP.finditer(path):
        gap = path[pos : m.start()]
        if gap not in ("", "."):
            raise ConfigurationError(f"jsonPath {path!r}: unexpected {gap!r}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(path) or not parts:
        raise ConfigurationError(f"jsonPath {path!r} is not like data.items[0].value")
    return parts


def pick(document: Any, path: list[str | int]) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(document, list) or part >= len(document):
                return None
        elif not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return document


class HttpMetrics:
    def __init__(self, config: HttpSource, name: str, transport: Any = None) -> None:
        self.config = config
        self.name = name
        self._transport = transport  # an httpx.BaseTransport; None: httpx's own
        self._client: Any = None

    def _http(self) -> Any:
        if self._client is None:
            import httpx  # ~0.09 s: only when a plan uses this source

            headers = {
                **self.config.headers,
                **bearer_headers(self.config.bearer_token_env, f"http {self.name}"),
            }
            self._client = httpx.Client(
                timeout=self.config.timeout,
                headers=headers,
                verify=self.config.verify_tls,
                transport=self._transport,
            )
        return self._client

    def _url(self, path: str) -> str:
        base = self.config.url.rstrip("/") + "/"
        url = urljoin(base, path.lstrip("/"))
        if not url.startswith(base):
            raise ConfigurationError(f"http {self.name}: query {path!r} leaves {self.config.url}")
        return url

    def query(self, query: MetricQuery) -> QueryResult:
        import httpx

        url = self._url(query.text.strip())
        try:
            response = self._http().get(url)
        except httpx.TimeoutException as exc:
            raise TransientProviderError(f"http {self.name}: {url} timed out") from exc
        except httpx.HTTPError as exc:
            raise TransientProviderError(f"http {self.name}: {url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise ProviderError(f"http {self.name}: {url} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except (ValueError, RecursionError) as exc:  # not JSON, or nested thousands deep
            raise ProviderError(f"http {self.name}: {url} did not answer JSON") from exc
        raw_path = query.args.get("jsonPath")
        value = pick(document, parse_json_path(str(raw_path))) if raw_path else document
        return QueryResult(value=_number(value, url, raw_path), sent=url)

    def check(self) -> None:
        import httpx

        try:
            self._http().get(self.config.url)
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.config.url} unreachable: {exc}") from exc


def _number(value: Any, url: str, path: Any) -> float | None:
    if value is None or value == []:
        return None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProviderError(f"{url} {path or ''}: {str(value)[:60]!r} is not a number")
    try:
        # NaN and +-Inf pass as they are: the analysis counts them as failed readings
        return float(value)
    except (ValueError, OverflowError) as exc:
        raise ProviderError(f"{url} {path or ''}: {str(value)[:60]!r} is not a number") from exc


def build(config: dict[str, Any], name: str) -> HttpMetrics:
    return HttpMetrics(HttpSource.model_validate(config), name)
