"""The fake, the http source (httpx.MockTransport) and the Prometheus source (a fake
Prometheus behind its requests adapter) pass the metric source contract. The same contract
runs against a real HTTP server in tests/test_http_metrics.py, against real Prometheus in
integration/test_prometheus_metrics.py and against CloudWatch (moto) in tests/aws."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import requests

from shipsafe.errors import ProviderError
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.http import HttpMetrics
from shipsafe.providers.metrics.http import build as build_http
from shipsafe.providers.metrics.prometheus import PrometheusMetrics
from shipsafe.providers.metrics.prometheus import build as build_prometheus
from tests.contract.metric_source_contract import VALUE, MetricSourceContract, Queries
from tests.fakes import FakeMetrics
from tests.prometheus_fake import FakePrometheus, vector

# the fake ------------------------------------------------------------------------------------


def fake_answer(text: str) -> float | None:
    if text in ("several", "error"):
        raise ProviderError(f"fake metrics: {text}")
    return VALUE if text == "value" else None


class TestFakeMetricsContract(MetricSourceContract):
    @pytest.fixture
    def source(self) -> FakeMetrics:
        return FakeMetrics(fake_answer)

    @pytest.fixture
    def queries(self) -> Queries:
        return Queries(*(MetricQuery(t) for t in ("value", "empty", "several", "error")))

    @pytest.fixture
    def broken_source(self) -> FakeMetrics:
        broken = FakeMetrics(fake_answer)
        broken.down = True  # the fake has no library: it fails as a translated error does
        return broken


# http over httpx.MockTransport ---------------------------------------------------------------

HTTP_ANSWERS: dict[str, tuple[int, Any]] = {
    "/": (200, {"ok": True}),
    "/stats": (200, {"latency": {"p99": VALUE}}),
    "/empty": (200, []),
    "/two": (200, [1, 2]),
    "/boom": (503, {"error": "down"}),
}


def http_answer(request: httpx.Request) -> httpx.Response:
    status, body = HTTP_ANSWERS.get(request.url.path, (404, {"error": "no"}))
    return httpx.Response(status, content=json.dumps(body).encode())


def http_source(transport: httpx.BaseTransport) -> HttpMetrics:
    built = build_http({"provider": "http", "url": "http://metrics.test"}, "svc")
    return HttpMetrics(built.config, "svc", transport=transport)


HTTP_QUERIES = Queries(
    value=MetricQuery("/stats", args={"jsonPath": "latency.p99"}),
    no_data=MetricQuery("/empty"),
    several=MetricQuery("/two"),
    error=MetricQuery("/boom"),
)


class TestHttpMetricsContract(MetricSourceContract):
    @pytest.fixture
    def source(self) -> HttpMetrics:
        return http_source(httpx.MockTransport(http_answer))

    @pytest.fixture
    def queries(self) -> Queries:
        return HTTP_QUERIES

    @pytest.fixture
    def broken_source(self) -> HttpMetrics:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

        return http_source(httpx.MockTransport(refuse))


# prometheus over a requests adapter ----------------------------------------------------------

PROMETHEUS_ANSWERS: dict[str, Any] = {
    "vector(1)": vector(1),
    "value": vector(VALUE),
    "empty": vector(),
    "several": vector(1, 2),
    "error": (422, {"status": "error", "errorType": "execution", "error": "too many samples"}),
}


def prometheus(adapter: FakePrometheus) -> PrometheusMetrics:
    config = build_prometheus({"provider": "prometheus", "url": "http://prom.test:9090"}, "p")
    return PrometheusMetrics(config.config, "prom", transport=adapter)


class TestPrometheusContract(MetricSourceContract):
    @pytest.fixture
    def source(self) -> PrometheusMetrics:
        return prometheus(FakePrometheus(dict(PROMETHEUS_ANSWERS)))

    @pytest.fixture
    def queries(self) -> Queries:
        return Queries(*(MetricQuery(t) for t in ("value", "empty", "several", "error")))

    @pytest.fixture
    def broken_source(self) -> PrometheusMetrics:
        refused = requests.exceptions.ConnectionError("[Errno 111] Connection refused")
        return prometheus(FakePrometheus({"vector(1)": refused, "value": refused}))


def test_prometheus_sends_the_query_to_the_instant_query_api() -> None:
    adapter = FakePrometheus(dict(PROMETHEUS_ANSWERS))
    result = prometheus(adapter).query(MetricQuery("value"))
    assert adapter.seen[-1][0] == "/api/v1/query"
    assert adapter.seen[-1][1]["query"] == ["value"]
    assert "query=value" in result.sent


def test_prometheus_several_series_names_the_query_and_says_to_aggregate() -> None:
    source = prometheus(FakePrometheus(dict(PROMETHEUS_ANSWERS)))
    with pytest.raises(ProviderError, match=r"'several' returned 2 series.*aggregate"):
        source.query(MetricQuery("several"))


def test_prometheus_an_html_page_is_not_json_and_not_a_value() -> None:
    class Html(FakePrometheus):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            response = super().send(request, **kwargs)
            response._content = b"<html>proxy login</html>"
            return response

    with pytest.raises(ProviderError, match="not JSON"):
        prometheus(Html(dict(PROMETHEUS_ANSWERS))).query(MetricQuery("value"))


def test_prometheus_unreachable_is_named_with_its_url() -> None:
    refused = requests.exceptions.ConnectionError("Connection refused")
    source = prometheus(FakePrometheus({"value": refused}))
    with pytest.raises(ProviderError, match=r"prom.test:9090 unreachable: connection refused"):
        source.query(MetricQuery("value"))


def test_http_source_a_timeout_is_transient() -> None:
    from shipsafe.errors import TransientProviderError

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(TransientProviderError, match="timed out"):
        http_source(httpx.MockTransport(slow)).query(HTTP_QUERIES.value)


def test_http_source_sends_configured_headers_through_the_transport() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return http_answer(request)

    built = build_http(
        {"provider": "http", "url": "http://metrics.test", "headers": {"X-Team": "pay"}}, "svc"
    )
    source = HttpMetrics(built.config, "svc", transport=httpx.MockTransport(record))
    assert source.query(HTTP_QUERIES.value).value == VALUE
    assert seen[0].headers["X-Team"] == "pay"
    assert str(seen[0].url) == "http://metrics.test/stats"


def matrix(*values: float) -> dict[str, Any]:
    points = [[1700000000 + 10 * i, str(v)] for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "matrix",
                                          "result": [{"metric": {}, "values": points}]}}


def test_prometheus_range_query_gives_the_points_of_its_one_series() -> None:
    adapter = FakePrometheus({"rate": matrix(0.5, 0.75)})
    result = prometheus(adapter).query_range("rate", 1700000000, 1700000010, 10)
    assert adapter.seen[-1][0] == "/api/v1/query_range"
    assert result.points == ((1700000000.0, 0.5), (1700000010.0, 0.75))


@pytest.mark.parametrize(
    "answer",
    [
        requests.exceptions.ConnectionError("Connection refused"),
        {"status": "success", "data": None},
        {"status": "success", "data": []},
        (503, {"status": "error", "error": "overloaded"}),
    ],
    ids=["unreachable", "data-null", "data-a-list", "http-503"],
)
def test_prometheus_range_query_translates_every_failure(answer: Any) -> None:
    source = prometheus(FakePrometheus({"rate": answer}))
    with pytest.raises(ProviderError):
        source.query_range("rate", 1700000000, 1700000010, 10)


@pytest.mark.parametrize(
    "answer",
    [{"status": "success", "data": None}, {"status": "success", "data": []}, {"status": "success"}],
    ids=["data-null", "data-a-list", "no-data-key"],
)
def test_prometheus_malformed_instant_answers_are_errors(answer: Any) -> None:
    with pytest.raises(ProviderError, match="malformed answer"):
        prometheus(FakePrometheus({"q": answer})).query(MetricQuery("q"))
