"""Built-in checks read from the router's own counters: HAProxy `show stat` through a fake
runtime API, deltas over a window, canary and stable side by side, fail closed."""

from __future__ import annotations

import pytest

from shipsafe.errors import ConfigurationError, ProviderError, TransientProviderError
from shipsafe.providers.metrics.base import MetricQuery
from shipsafe.providers.metrics.haproxy_stats import HAProxyStats, build_reader
from shipsafe.providers.metrics.router_counters import RouterCounters, build
from tests.haproxy_stats_fake import FakeHAProxyStats


class Ticks:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def haproxy() -> FakeHAProxyStats:
    return FakeHAProxyStats()


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def source(haproxy: FakeHAProxyStats, ticks: Ticks) -> RouterCounters:
    reader = HAProxyStats(haproxy, "demo", ("stable", "canary"))
    return RouterCounters(reader, "haproxy demo", monotonic=ticks)


def ask(source: RouterCounters, check: str = "errorRate", window: float = 2.0, **args: str):
    return source.query(MetricQuery(check, window_seconds=window, args=args))


def test_error_rate_is_the_canary_share_of_5xx_since_the_window_began(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    haproxy.serve("stable", 1000, errors=50)  # before the rollout: not in any reading
    source.check()
    ticks.t += 1.0
    haproxy.serve("canary", 20, errors=5)
    haproxy.serve("stable", 180, errors=1)
    result = ask(source)
    assert result.value == pytest.approx(0.25)
    assert result.readings["canary"] == {
        "requests": 20.0, "errors": 5.0, "errorRate": 0.25,
        "errorRateLow": pytest.approx(0.1041, abs=1e-4), "latency": 0.01,
    }  # fmt: skip
    assert result.readings["stable"]["errorRate"] == pytest.approx(1 / 180)
    assert haproxy.commands == ["show stat demo 4 -1"] * 2


def test_readings_older_than_the_window_drop_out(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    source.check()
    haproxy.serve("canary", 10, errors=10)  # a bad second, long ago
    for _ in range(12):  # then 3 s of clean traffic, read every 250 ms
        ticks.t += 0.25
        haproxy.serve("canary", 3)
        result = ask(source, window=2.0)
    assert result.value == 0.0
    assert "over 2.00s" in result.sent


def test_a_canary_that_answered_nothing_is_no_data_never_success(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    source.check()
    ticks.t += 1.0
    haproxy.serve("stable", 100)
    result = ask(source)
    assert result.value is None
    assert "canary answered no request" in result.detail
    assert ask(source, "latency").value is None


def test_connection_errors_count_as_requests_and_failures(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    # HAProxy counts a refused connection in econ only, not req_tot nor hrsp_5xx
    source.check()
    ticks.t += 1.0
    haproxy.serve("canary", 0, refused=4)
    assert ask(source).value == 1.0


def test_latency_is_the_canary_mean_response_time_in_seconds(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    haproxy.servers["canary"].rtime_ms = 250
    haproxy.servers["stable"].rtime_ms = 40
    source.check()
    ticks.t += 1.0
    haproxy.serve("canary", 5)
    haproxy.serve("stable", 95)
    result = ask(source, "latency")
    assert result.value == 0.25
    assert result.readings["stable"]["latency"] == 0.04


def test_preflight_and_blue_health_ask_about_the_stable_target(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    source.check()
    ticks.t += 1.0
    haproxy.serve("stable", 100, errors=2)
    assert ask(source, subject="stable").value == 0.02
    with pytest.raises(ConfigurationError, match="neither"):
        ask(source, subject="other")


def test_the_first_read_without_a_baseline_is_an_error_not_a_reading(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    with pytest.raises(TransientProviderError, match="first read"):
        ask(source)
    ticks.t += 0.25
    haproxy.serve("canary", 2, errors=1)
    assert ask(source).value == 0.5


def test_counters_going_backwards_are_an_error_then_readings_start_afresh(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    haproxy.serve("canary", 100)
    source.check()
    haproxy.servers["canary"].requests = 3  # HAProxy reloaded
    ticks.t += 0.25
    with pytest.raises(ProviderError, match="went backwards"):
        ask(source)
    ticks.t += 0.25
    haproxy.serve("canary", 4, errors=4)
    assert ask(source).value == 1.0


def test_a_server_missing_from_the_backend_is_named(haproxy: FakeHAProxyStats) -> None:
    reader = HAProxyStats(haproxy, "demo", ("stable", "v3"))
    with pytest.raises(ConfigurationError, match="'v3' is not in backend 'demo'"):
        reader.read(0)


def test_an_unknown_backend_is_a_configuration_error(haproxy: FakeHAProxyStats) -> None:
    reader = HAProxyStats(haproxy, "shop", ("stable", "canary"))
    with pytest.raises(ConfigurationError, match="no backend 'shop'"):
        reader.read(0)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("Permission denied\n", "Permission denied"),
        ("", "no answer"),
        ("# pxname,svname\ndemo,canary\n", "lacks req_tot"),
        (
            "# pxname,svname,req_tot,hrsp_5xx,econ,eresp,rtime\n"
            "demo,stable,1,,0,0,0\ndemo,canary,1,,0,0,0\n",
            "mode http",
        ),
    ],
)
def test_answers_that_are_not_counters_are_errors(
    haproxy: FakeHAProxyStats, answer: str, message: str
) -> None:
    haproxy.answer_override = answer
    with pytest.raises(ProviderError, match=message):
        HAProxyStats(haproxy, "demo", ("stable", "canary")).read(0)


def test_names_that_could_inject_commands_are_refused(haproxy: FakeHAProxyStats) -> None:
    with pytest.raises(ConfigurationError, match="not a valid name"):
        HAProxyStats(haproxy, "demo; set weight demo/canary 100", ("stable", "canary"))


def test_an_unknown_check_is_refused(source: RouterCounters) -> None:
    with pytest.raises(ConfigurationError, match="unknown built-in check"):
        ask(source, "p99")


def test_the_reader_follows_the_plan_target(haproxy: FakeHAProxyStats) -> None:
    reader = build_reader(
        {"socket": "/run/x.sock", "backend": "demo", "stable": "stable", "canary": "canary"},
        transport=haproxy,
    )
    assert reader.servers == ("stable", "canary")
    assert reader.read(0)["canary"].requests == 0


def test_routers_without_counters_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="has none"):
        build({"router": "exec", "target": {}}, "@router")


def test_the_real_socket_transport_reports_an_unreachable_api(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = build(
        {
            "router": "haproxy",
            "target": {
                "socket": str(tmp_path / "missing.sock"),
                "backend": "demo",
                "stable": "stable",
                "canary": "canary",
                "timeout": 0.2,
            },
        },
        "@router",
    )
    with pytest.raises(TransientProviderError, match="unreachable"):
        source.check()


def test_counters_are_read_in_the_background_so_every_window_has_a_start(
    haproxy: FakeHAProxyStats,
) -> None:
    import gc
    import threading

    read_often = threading.Event()

    def count_reads() -> None:
        if len(haproxy.commands) >= 4:
            read_often.set()

    haproxy.on_read = count_reads
    source = RouterCounters(
        HAProxyStats(haproxy, "demo", ("stable", "canary")), "haproxy demo", sample_every=0.001
    )
    source.check()  # preflight: the first read, then the background reads
    assert read_often.wait(timeout=5), haproxy.commands
    assert len(source._history) >= 2
    sampler = source._sampler
    assert sampler is not None and sampler.daemon
    del source
    gc.collect()
    sampler.join(timeout=5)  # the reads end with the source
    assert not sampler.is_alive()


def test_new_canary_errors_since_the_last_reading_are_noticed_with_one_read(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    query = MetricQuery("errorRate", window_seconds=2.0)
    source.check()
    assert not source.errors_since_last_reading(query)  # no reading yet: nothing to compare
    ticks.t += 0.25
    haproxy.serve("canary", 5, errors=1)
    ask(source)
    ticks.t += 0.05
    haproxy.serve("canary", 2)
    haproxy.serve("stable", 40, errors=3)  # the stable target's errors are not the canary's
    assert not source.errors_since_last_reading(query)
    ticks.t += 0.05
    haproxy.serve("canary", 1, errors=1)
    assert source.errors_since_last_reading(query)
    assert source.errors_since_last_reading(query)  # until the breaker reads them
    ask(source)
    assert not source.errors_since_last_reading(query)
    stable = MetricQuery("errorRate", window_seconds=2.0, args={"subject": "stable"})
    haproxy.serve("stable", 1, errors=1)
    assert source.errors_since_last_reading(stable)


def test_a_failed_look_for_errors_is_not_news_and_waits_for_the_next_reading(
    source: RouterCounters, haproxy: FakeHAProxyStats, ticks: Ticks
) -> None:
    source.check()
    ticks.t += 0.25
    ask(source)
    haproxy.serve("canary", 1, errors=1)
    haproxy.answer_override = "Permission denied\n"
    query = MetricQuery("errorRate", window_seconds=2.0)
    assert not source.errors_since_last_reading(query)
    # no second look before the next reading (a hung API would cost its timeout each time)
    haproxy.answer_override = None
    asked = len(haproxy.commands)
    assert not source.errors_since_last_reading(query)
    assert len(haproxy.commands) == asked
    ask(source)
    haproxy.serve("canary", 1, errors=1)
    assert source.errors_since_last_reading(query)
