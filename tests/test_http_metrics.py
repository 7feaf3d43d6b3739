"""The http metric source against a real HTTP server on loopback."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.http import build, parse_json_path
from tests.contract.metric_source_contract import MetricSourceContract, Queries

ANSWERS: dict[str, tuple[int, Any]] = {
    "/stats": (200, {"latency": {"p99": 0.25}, "items": [{"value": "7"}], "gone": None}),
    "/bare": (200, 0.5),
    "/empty": (200, []),
    "/boom": (503, {"error": "down"}),
    "/nan": (200, "NaN"),
    "/two": (200, [1, 2]),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = ANSWERS.get(self.path.split("?")[0], (404, {"error": "no"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.server.seen_headers.append(dict(self.headers))  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.seen_headers = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def source(url: str, **extra: Any) -> Any:
    return build({"provider": "http", "url": url, "timeout": 2, **extra}, "svc")


def q(text: str, path: str | None = None) -> MetricQuery:
    return MetricQuery(text=text, args={"jsonPath": path} if path else {})


class TestHttpMetricsContract(MetricSourceContract):
    @pytest.fixture
    def source(self, server: str) -> Any:
        return source(server)

    @pytest.fixture
    def queries(self) -> Queries:
        return Queries(
            value=q("/stats", "latency.p99"), no_data=q("/empty"), several=q("/two"),
            error=q("/boom"),
        )

    @pytest.fixture
    def broken_source(self) -> Any:
        return source("http://127.0.0.1:9")  # nothing listens: httpx.ConnectError


def test_a_json_path_picks_the_number(server: str) -> None:
    src = source(server)
    assert src.query(q("/stats", "latency.p99")).value == 0.25
    assert src.query(q("/stats", "items[0].value")).value == 7.0
    assert src.query(q("/bare")).value == 0.5


def test_null_missing_and_empty_are_no_data(server: str) -> None:
    src = source(server)
    assert src.query(q("/stats", "gone")).value is None
    assert src.query(q("/stats", "latency.p50")).value is None
    assert src.query(q("/empty")).value is None


def test_nan_is_passed_on_for_the_analysis_to_fail(server: str) -> None:
    value = source(server).query(q("/nan")).value
    assert value is not None and math.isnan(value)


def test_http_errors_and_a_dead_server_are_provider_errors(server: str) -> None:
    with pytest.raises(ProviderError, match="HTTP 503"):
        source(server).query(q("/boom"))
    with pytest.raises(ProviderError, match="unreachable"):
        source("http://127.0.0.1:9").query(q("/stats"))


def test_a_non_number_is_an_error(server: str) -> None:
    with pytest.raises(ProviderError, match="is not a number"):
        source(server).query(q("/stats", "latency"))


def test_queries_cannot_leave_the_configured_base_url(server: str) -> None:
    with pytest.raises(ConfigurationError, match="leaves"):
        source(server + "/api").query(q("http://evil.example/x"))


def test_the_bearer_token_comes_from_the_environment(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVC_TOKEN", "s3cret")
    src = source(server, bearerTokenEnv="SVC_TOKEN")
    src.query(q("/bare"))
    monkeypatch.delenv("SVC_TOKEN")
    with pytest.raises(ProviderError, match="SVC_TOKEN is not set"):
        source(server, bearerTokenEnv="SVC_TOKEN").query(q("/bare"))


def test_malformed_json_paths_are_refused() -> None:
    assert parse_json_path("a.b[2].c") == ["a", "b", 2, "c"]
    for bad in ("", "a..b", "a[x]", "a]"):
        with pytest.raises(ConfigurationError):
            parse_json_path(bad)
