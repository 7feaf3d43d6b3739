"""Prometheus instant queries through prometheus-api-client.

A scalar or a one-element vector is a value; an empty vector is "no data"; several series is
an error naming the query. NaN and +-Inf are passed on as they are: the analysis counts a
reading that is not a finite number as failed. Any other answer (a body that is not JSON,
`"data": null`, a list where an object belongs, a sample without its value) is a
ProviderError naming what was wrong: an error measurement, never a value. The client's own
urllib3 retries are switched off (they make an unreachable server take ~6 s to fail); the
engine counts errors against `consecutiveErrorLimit` instead.

The transport is a seam: `transport` (a requests adapter, the client's HTTP library; default
requests' own) is mounted on the client's session for the server's URL, so tests answer
like Prometheus does without a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shipsafe.errors import ProviderError
from shipsafe.plan.sources import PrometheusSource
from shipsafe.providers.metrics.base import (
    MetricQuery,
    QueryResult,
    RangeResult,
    bearer_headers,
)


class PrometheusMetrics:
    def __init__(self, config: PrometheusSource, name: str, transport: Any = None) -> None:
        self.config = config
        self.name = name
        self._transport = transport  # a requests.adapters.BaseAdapter; None: requests' own
        self._client: Any = None

    def _connect(self) -> Any:
        if self._client is None:
            from prometheus_api_client import PrometheusConnect  # requests: ~0.15 s
            from urllib3.util.retry import Retry

            headers = bearer_headers(self.config.bearer_token_env, f"prometheus {self.name}")
            session = None
            if self._transport is not None:
                import requests

                session = requests.Session()
                session.verify = self.config.verify_tls
            client = PrometheusConnect(
                url=self.config.url.rstrip("/"),
                headers=headers or None,
                disable_ssl=not self.config.verify_tls,
                retry=Retry(total=0),
                timeout=self.config.timeout,
                session=session,
            )
            if session is not None:
                # the client mounts its own adapter on its URL; ours, mounted on the same
                # prefix afterwards, replaces it
                session.mount(client.url, self._transport)
            self._client = client
        return self._client

    @contextmanager
    def _answers(self) -> Iterator[None]:
        """The client library's errors, for instant and range queries alike, as ProviderError."""
        from prometheus_api_client.exceptions import PrometheusApiClientException
        from requests.exceptions import RequestException

        try:
            yield
        except PrometheusApiClientException as exc:
            raise ProviderError(f"prometheus {self.name}: {_short(exc)}") from exc
        except ValueError as exc:  # requests' JSONDecodeError: an HTML page, a proxy's answer
            raise ProviderError(
                f"prometheus {self.name}: the answer is not JSON ({_short(exc)})"
            ) from exc
        except RequestException as exc:
            raise ProviderError(
                f"prometheus {self.name} at {self.config.url} unreachable: {_short(exc)}"
            ) from exc
        except (TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            # the client reads response["data"]["result"]: "data" null, a list, or missing;
            # JSON nested thousands deep does not even parse
            raise ProviderError(
                f"prometheus {self.name}: malformed answer, no data.result "
                f"({type(exc).__name__}: {_short(exc)})"
            ) from exc

    def query(self, query: MetricQuery) -> QueryResult:
        client = self._connect()
        sent = f"{self.config.url.rstrip('/')}/api/v1/query?query={query.text}"
        with self._answers():
            result = client.custom_query(query.text)
        return QueryResult(value=_scalar(result, query.text), sent=sent)

    def query_range(self, text: str, start: float, end: float, step: float) -> RangeResult:
        """One series over [start, end] every `step` seconds (judge checks)."""
        from datetime import UTC, datetime

        client = self._connect()
        sent = (
            f"{self.config.url.rstrip('/')}/api/v1/query_range?query={text}"
            f"&start={start:.0f}&end={end:.0f}&step={step:g}"
        )
        with self._answers():
            result = client.custom_query_range(
                text,
                start_time=datetime.fromtimestamp(start, UTC),
                end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step:g}",
            )
        return RangeResult(points=_series(result, text), sent=sent)

    def check(self) -> None:
        from requests.exceptions import RequestException

        try:
            self._connect().custom_query("vector(1)")
        except RequestException as exc:
            raise ProviderError(f"{self.config.url} unreachable: {_short(exc)}") from exc
        except Exception as exc:
            raise ProviderError(f"{self.config.url}: {_short(exc)}") from exc


def _scalar(result: Any, query: str) -> float | None:
    """Prometheus `data.result` -> one float (NaN and +-Inf included), None for no data."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return _float(result[1], query)  # resultType scalar: [ts, "v"]
    if not isinstance(result, list):
        raise ProviderError(f"query {query!r}: unexpected answer {str(result)[:80]}")
    if not result:
        return None
    if not all(isinstance(r, dict) for r in result):
        raise ProviderError(f"query {query!r}: unexpected answer {str(result)[:80]}")
    if len(result) > 1:
        labels = ", ".join(str(r.get("metric", {})) for r in result[:3])
        raise ProviderError(
            f"query {query!r} returned {len(result)} series ({labels}); aggregate it to "
            "one (sum, avg, max ...)"
        )
    sample = result[0]
    if "value" not in sample:
        raise ProviderError(f"query {query!r} returned a range, not an instant value")
    pair = sample["value"]
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise ProviderError(f"query {query!r}: malformed sample {str(pair)[:80]}")
    return _float(pair[1], query)


def _series(result: Any, query: str) -> tuple[tuple[float, float], ...]:
    """Prometheus matrix `data.result` -> the points of its one series (none: no data)."""
    if not isinstance(result, list):
        raise ProviderError(f"query {query!r}: unexpected answer {str(result)[:80]}")
    if not result:
        return ()
    if len(result) > 1:
        labels = ", ".join(str(r.get("metric", {})) for r in result[:3])
        raise ProviderError(
            f"query {query!r} returned {len(result)} series ({labels}); aggregate it to "
            "one (sum, avg, max ...)"
        )
    values = result[0].get("values") if isinstance(result[0], dict) else None
    if not isinstance(values, list):
        raise ProviderError(f"query {query!r} returned no range (is it a range query?)")
    points = []
    for pair in values:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ProviderError(f"query {query!r}: malformed point {str(pair)[:40]}")
        points.append((_float(pair[0], query), _float(pair[1], query)))
    return tuple(points)


def _float(raw: Any, query: str) -> float:
    if isinstance(raw, bool):
        raise ProviderError(f"query {query!r} returned a non-number {raw!r}")
    try:
        return float(raw)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProviderError(f"query {query!r} returned a non-number {raw!r}") from exc


def _short(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def build(config: dict[str, Any], name: str) -> PrometheusMetrics:
    return PrometheusMetrics(PrometheusSource.model_validate(config), name)
