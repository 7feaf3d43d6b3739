"""PrometheusMetrics against a real Prometheus 2.42 scraping the rig."""

from __future__ import annotations

import itertools
import math
import time

import pytest

from integration.rig import Rig
from integration.rig.ports import free_port
from shipsafe.errors import ProviderError
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.prometheus import PrometheusMetrics, build
from tests.contract.metric_source_contract import VALUE, MetricSourceContract, Queries

pytestmark = pytest.mark.integration


@pytest.fixture
def prom(rig_session: Rig) -> PrometheusMetrics:
    if not rig_session.prometheus.running:
        rig_session.reset()
    return build({"provider": "prometheus", "url": rig_session.prometheus.url}, "prom")


class TestPrometheusContract(MetricSourceContract):
    @pytest.fixture
    def source(self, prom: PrometheusMetrics) -> PrometheusMetrics:
        return prom

    @pytest.fixture
    def queries(self) -> Queries:
        return Queries(
            value=MetricQuery(f"sum(up) * 0 + {VALUE}"),
            no_data=MetricQuery('up{job="no-such-job"}'),
            several=MetricQuery("up"),
            error=MetricQuery("sum(rate(up[5s]"),
        )

    @pytest.fixture
    def broken_source(self) -> PrometheusMetrics:
        # nothing listens there: requests raises ConnectionError
        return build({"provider": "prometheus", "url": f"http://127.0.0.1:{free_port()}"}, "p")


def test_a_scalar_is_a_value(prom: PrometheusMetrics) -> None:
    assert prom.query(MetricQuery("scalar(vector(0.25))")).value == 0.25


def test_one_series_is_a_value(prom: PrometheusMetrics) -> None:
    # three scrape targets: haproxy, stable, canary
    assert prom.query(MetricQuery("sum(up)")).value == 3.0


def test_a_real_rate_is_a_positive_value(prom: PrometheusMetrics) -> None:
    query = 'sum(rate(haproxy_server_http_responses_total{proxy="demo",server="stable"}[5s]))'
    value = prom.query(MetricQuery(query)).value
    assert value is not None and value > 0


def test_an_empty_vector_is_no_data(prom: PrometheusMetrics) -> None:
    result = prom.query(MetricQuery('up{job="no-such-job"}'))
    assert result.value is None
    assert "no-such-job" in result.sent


def test_nan_is_passed_on_for_the_analysis_to_fail(prom: PrometheusMetrics) -> None:
    # a ratio with no traffic: 0/0 (since 2ef1676 NaN is a failed reading, not no data)
    value = prom.query(MetricQuery("sum(up) * 0 / 0")).value
    assert value is not None and math.isnan(value)


def test_several_series_is_an_error_naming_the_query(prom: PrometheusMetrics) -> None:
    with pytest.raises(ProviderError, match=r"'up'.*3 series"):
        prom.query(MetricQuery("up"))


def test_a_bad_query_is_an_error(prom: PrometheusMetrics) -> None:
    with pytest.raises(ProviderError):
        prom.query(MetricQuery("sum(rate(up[5s]"))


def test_check_passes_when_online(prom: PrometheusMetrics) -> None:
    prom.check()


def test_unreachable_server_fails_fast() -> None:
    nobody = build({"provider": "prometheus", "url": f"http://127.0.0.1:{free_port()}"}, "prom")
    started = time.monotonic()
    with pytest.raises(ProviderError, match="unreachable"):
        nobody.query(MetricQuery("vector(1)"))
    with pytest.raises(ProviderError, match="unreachable"):
        nobody.check()
    assert time.monotonic() - started < 1.0


def test_a_range_query_gives_one_series_of_points(prom: PrometheusMetrics) -> None:
    end = time.time()
    result = prom.query_range("sum(up)", end - 20, end, 5)
    assert 1 <= len(result.points) <= 5
    assert all(value == 3.0 for _, value in result.points)
    stamps = [t for t, _ in result.points]
    assert stamps == sorted(stamps) and all(b - a == 5 for a, b in itertools.pairwise(stamps))
    assert "query_range" in result.sent


def test_a_range_of_no_series_is_no_data(prom: PrometheusMetrics) -> None:
    end = time.time()
    assert prom.query_range('up{job="no-such-job"}', end - 20, end, 5).points == ()


def test_a_range_of_several_series_is_an_error(prom: PrometheusMetrics) -> None:
    end = time.time()
    with pytest.raises(ProviderError, match="3 series"):
        prom.query_range("up", end - 20, end, 5)
