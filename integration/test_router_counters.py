"""Built-in checks against a real HAProxy 2.6: `show stat` over the runtime API, with the
rig's steady load, counted against what the load generator's users actually got."""

from __future__ import annotations

import time
from typing import Any

import pytest

from integration.rig import Rig
from integration.rig.haproxy import BACKEND, CANARY, STABLE
from shipsafe.errors import ConfigurationError
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.router_counters import RouterCounters, build

pytestmark = pytest.mark.integration


def _source(rig: Rig, **target: Any) -> RouterCounters:
    settings = {
        "socket": str(rig.haproxy.socket),
        "backend": BACKEND,
        "stable": STABLE,
        "canary": CANARY,
        **target,
    }
    return build({"router": "haproxy", "target": settings}, "@router")


@pytest.fixture
def split(rig: Rig) -> Rig:
    rig.haproxy.set_weights({STABLE: 80, CANARY: 20})
    return rig


def test_counts_match_what_users_got_from_each_server(split: Rig) -> None:
    source = _source(split)
    source.check()
    mark = split.load.now()
    time.sleep(2.0)
    result = source.query(MetricQuery("errorRate", 2.0))
    tally = split.load.tally(since=mark)
    canary, stable = result.readings["canary"], result.readings["stable"]
    assert result.value == 0.0
    # the reading and the users' tally cover nearly the same two seconds at 100 req/s
    assert abs(canary["requests"] - tally.answers.get(CANARY, 0)) <= 12, (result, tally)
    assert abs(stable["requests"] - tally.answers.get(STABLE, 0)) <= 30, (result, tally)
    assert 0.1 <= canary["requests"] / (canary["requests"] + stable["requests"]) <= 0.3


def test_a_failing_canary_reads_as_failing_within_a_quarter_second(split: Rig) -> None:
    source = _source(split)
    source.check()
    time.sleep(0.5)
    assert source.query(MetricQuery("errorRate", 2.0)).value == 0.0
    split.canary.set_faults(error_share=1.0)
    time.sleep(0.25)
    result = source.query(MetricQuery("errorRate", 0.25))
    # at 20 req/s on the canary, a quarter second holds a few requests, all 5xx
    assert result.value == 1.0, result
    assert result.readings["stable"]["errorRate"] == 0.0
    assert result.readings["canary"]["errors"] >= 1


def test_latency_is_the_servers_mean_response_time(split: Rig) -> None:
    split.canary.set_faults(latency_ms=200)
    source = _source(split)
    source.check()
    time.sleep(1.5)
    result = source.query(MetricQuery("latency", 1.0))
    # HAProxy's rtime is a mean over the server's last requests (up to 1024, earlier tests'
    # included), so it moves towards 0.2 s as slow answers replace older ones: clearly above
    # stable's at once, and in seconds (not HAProxy's milliseconds)
    assert result.value is not None, result
    assert 0.02 <= result.value <= 1.0, result
    assert result.value >= 10 * max(result.readings["stable"]["latency"], 0.001), result


def test_a_canary_with_no_weight_is_no_data(rig: Rig) -> None:
    source = _source(rig)  # reset: canary weight 0
    source.check()
    time.sleep(0.5)
    result = source.query(MetricQuery("errorRate", 0.5))
    assert result.value is None
    assert result.readings["stable"]["requests"] > 0


def test_a_server_that_is_not_in_the_backend_is_named(rig: Rig) -> None:
    with pytest.raises(ConfigurationError, match="'v9' is not in backend"):
        _source(rig, canary="v9").check()


def test_the_tcp_runtime_api_answers_too(split: Rig) -> None:
    source = _source(split, socket=None, address=split.haproxy.address)
    source.check()
    time.sleep(0.5)
    assert source.query(MetricQuery("errorRate", 1.0)).readings["canary"]["requests"] > 0
