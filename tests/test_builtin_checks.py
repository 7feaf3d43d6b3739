"""`builtin: errorRate` / `builtin: latency` through the real engine (fake clock, fake router,
a fake HAProxy runtime API whose traffic follows the router's weights), the plan rules for
them, and preflight refusing custom breaker queries that cannot trip."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.errors import PlanError, PreflightError
from shipsafe.plan.analysis import ROUTER_COUNTERS
from shipsafe.plan.loader import load_plan_text
from shipsafe.providers.metrics.haproxy_stats import HAProxyStats
from shipsafe.providers.metrics.router_counters import RouterCounters
from shipsafe.records import EventType, Phase, Reason
from tests.conftest import PLAN_HEAD, make_plan
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter
from tests.haproxy_stats_fake import FakeHAProxyStats

HEAD = """\
apiVersion: shipsafe/v1
kind: Plan
metadata: {name: demo, service: demo, environment: staging}
release: {version: "2.0.0"}
target:
  router: haproxy
  haproxy: {socket: /tmp/none.sock, backend: demo, stable: stable, canary: canary}
"""

BUILTIN = (
    HEAD
    + """\
analysis:
  errors:
    builtin: errorRate
    successCondition: CONDITION
    initialDelay: 1s
breakerWarmup: 1s
breakers:
  - analysis: errors
steps:
  - setWeight: 10
  - pause: {duration: 30s}
  - setWeight: 50
  - pause: {duration: 30s}
"""
)


class Traffic:
    """100 req/s split by the fake router's weights; each side answers 5xx at its share."""

    def __init__(self, router: FakeRouter, clock: Any, haproxy: FakeHAProxyStats) -> None:
        self.router, self.clock, self.haproxy = router, clock, haproxy
        self.rate = 100.0
        self.error_share = {"stable": 0.0, "canary": 0.0}
        self.canary_reachable = True
        self._last = clock.now()
        self._carry = {"stable": 0.0, "canary": 0.0}
        haproxy.on_read = self.flow

    def flow(self, until: Any = None) -> None:
        """Serve the requests that arrived since the last flow, up to `until` (default now)."""
        now = until or self.clock.now()
        seconds = (now - self._last).total_seconds()
        self._last = now
        total = sum(self.router.weights.values()) or 1
        for server, weight in self.router.weights.items():
            if server == "canary" and not self.canary_reachable:
                continue
            self._carry[server] += self.rate * seconds * weight / total
            n = int(self._carry[server])
            self._carry[server] -= n
            self.haproxy.serve(server, n, errors=round(n * self.error_share[server]))


@pytest.fixture
def haproxy() -> FakeHAProxyStats:
    return FakeHAProxyStats()


@pytest.fixture
def traffic(router: FakeRouter, clock: Any, haproxy: FakeHAProxyStats) -> Traffic:
    return Traffic(router, clock, haproxy)


@pytest.fixture
def builtin_ctx(make_ctx: Any, router: FakeRouter, clock: Any, haproxy: FakeHAProxyStats) -> Any:
    counters = RouterCounters(
        HAProxyStats(haproxy, "demo", ("stable", "canary")),
        "haproxy demo",
        monotonic=lambda: clock.now().timestamp(),
    )
    ctx = make_ctx()
    ctx.providers = FakeProviders(router, FakeMetrics(0.0), sources={ROUTER_COUNTERS: counters})
    return ctx


def plan(condition: str = "result < 0.05") -> Any:
    return load_plan_text(BUILTIN.replace("CONDITION", condition), "builtin.yaml")


def test_a_healthy_canary_promotes_on_router_counter_readings(
    builtin_ctx: Any, traffic: Traffic, router: FakeRouter, store: Any
) -> None:
    engine = start_deploy(builtin_ctx, plan())
    assert drive(engine) == Phase.SUCCEEDED
    readings = [m for m in store.measurements(engine.record.id) if m.metric == "errors"]
    assert len(readings) > 100  # every 250 ms through two 30 s pauses
    assert all(m.value == 0.0 for m in readings)
    assert "haproxy demo: errorRate of canary over" in readings[-1].query
    source_config = builtin_ctx.providers.sources_built[0]
    assert source_config[0] == ROUTER_COUNTERS
    assert source_config[1]["router"] == "haproxy"


def test_a_canary_answering_5xx_is_rolled_back_within_a_reading_or_two(
    builtin_ctx: Any, traffic: Traffic, router: FakeRouter, recorder: Any, clock: Any
) -> None:
    engine = start_deploy(builtin_ctx, plan())
    started = clock.now()
    traffic.error_share["canary"] = 1.0
    assert drive(engine) == Phase.ROLLED_BACK
    assert engine.record.runtime.rollback_reason == Reason.BREAKER_TRIPPED
    assert router.weights == {"stable": 100, "canary": 0}
    tripped = recorder.of("breaker_tripped")[0]
    # initialDelay 1 s, then the first 250 ms reading sees the 5xx
    assert (tripped.time - started).total_seconds() <= 1.25
    assert tripped.data["value"] == 1.0


def test_a_condition_compares_the_canary_with_the_stable_target(
    builtin_ctx: Any, traffic: Traffic
) -> None:
    # both sides fail 10 % of requests (a bad dependency, not the release): the canary is
    # no worse than stable, so it promotes
    traffic.error_share = {"stable": 0.1, "canary": 0.1}
    engine = start_deploy(builtin_ctx, plan("result <= stable.errorRate + 0.02"))
    assert drive(engine) == Phase.SUCCEEDED


def test_a_canary_worse_than_stable_is_rolled_back(builtin_ctx: Any, traffic: Traffic) -> None:
    traffic.error_share = {"stable": 0.1, "canary": 0.5}
    engine = start_deploy(builtin_ctx, plan("result <= stable.errorRate + 0.02"))
    assert drive(engine) == Phase.ROLLED_BACK
    assert "does not meet result <= stable.errorRate + 0.02" in (
        engine.record.runtime.rollback_message or ""
    )


def test_a_canary_that_gets_no_requests_is_no_data_and_fails_closed(
    builtin_ctx: Any, traffic: Traffic
) -> None:
    traffic.canary_reachable = False  # the weight reads back, but nothing reaches it
    engine = start_deploy(builtin_ctx, plan())
    assert drive(engine) == Phase.ROLLED_BACK
    assert "no data" in (engine.record.runtime.rollback_message or "")


def test_preflight_reads_the_counters_before_any_traffic_moves(
    builtin_ctx: Any, traffic: Traffic, haproxy: FakeHAProxyStats, router: FakeRouter
) -> None:
    haproxy.answer_override = "Permission denied\n"
    with pytest.raises(PreflightError, match="router's own counters"):
        start_deploy(builtin_ctx, plan())
    assert not [c for c in router.calls if c[0] == "set"]


def test_blue_health_and_preflight_never_run_a_builtin_check_as_a_query(
    builtin_ctx: Any, traffic: Traffic, recorder: Any
) -> None:
    engine = start_deploy(builtin_ctx, plan())
    passed = recorder.of(EventType.PREFLIGHT_PASSED.value)[0]
    assert passed.data["queries"] == {}  # the builtin has no query to run
    assert engine.record.phase == Phase.PROGRESSING


# the quick-start plan's error-rate breaker: no false trips from noise, fast on a bad canary

REPO = Path(__file__).resolve().parents[1]


def shipped_error_rate() -> dict[str, Any]:
    """plans/local-canary.yaml's `error-rate` template, as shipped."""
    shipped = yaml.safe_load((REPO / "plans" / "local-canary.yaml").read_text())
    return dict(shipped["analysis"]["error-rate"])


def held_plan(condition: str, weight: int, hold: str) -> Any:
    template = shipped_error_rate() | {"successCondition": condition}
    body = yaml.safe_dump({
        "analysis": {"error-rate": template},
        "breakerWarmup": "1s",
        "breakers": [{"analysis": "error-rate"}],
        "steps": [{"setWeight": weight}, {"pause": {"duration": hold}}],
    })
    return load_plan_text(HEAD + body, "held.yaml")


class RandomTraffic(Traffic):
    """Each request fails independently with its side's share (seeded), as real errors do."""

    def __init__(self, *args: Any, seed: int) -> None:
        super().__init__(*args)
        self.rng = random.Random(seed)
        self.failed: dict[str, int] = {}

    def flow(self) -> None:
        now = self.clock.now()
        seconds = (now - self._last).total_seconds()
        self._last = now
        total = sum(self.router.weights.values()) or 1
        for server, weight in self.router.weights.items():
            self._carry[server] += self.rate * seconds * weight / total
            n = int(self._carry[server])
            self._carry[server] -= n
            errors = sum(self.rng.random() < self.error_share[server] for _ in range(n))
            self.failed[server] = self.failed.get(server, 0) + errors
            self.haproxy.serve(server, n, errors=errors)


def test_the_quick_start_breaker_keeps_a_canary_as_good_as_stable_at_half_a_percent(
    builtin_ctx: Any, router: FakeRouter, clock: Any, haproxy: FakeHAProxyStats, store: Any
) -> None:
    # 5% of 100 req/s for 90 s, both sides failing 0.5% of requests at random: a 2 s window
    # holds ten canary requests, and one failure among them reads 10%
    shipped = shipped_error_rate()["successCondition"]
    traffic = RandomTraffic(router, clock, haproxy, seed=4)
    traffic.error_share = {"stable": 0.005, "canary": 0.005}
    engine = start_deploy(builtin_ctx, held_plan(shipped, 5, "90s"))
    assert drive(engine) == Phase.SUCCEEDED, engine.record.runtime.rollback_message
    assert traffic.failed["canary"] >= 2  # the seed's canary did fail, at random moments
    # readings that a bare `result < 0.05` fails (it rolled this canary back) passed here
    unlucky = [m for m in store.measurements(engine.record.id)
               if m.metric == "error-rate" and m.value is not None and m.value >= 0.05]
    assert unlucky and all(m.phase.value == "successful" for m in unlucky)


@pytest.mark.parametrize("weight", [5, 10])
def test_the_quick_start_breaker_rolls_back_a_canary_answering_5xx_within_a_second(
    builtin_ctx: Any, router: FakeRouter, clock: Any, haproxy: FakeHAProxyStats, recorder: Any,
    weight: int,
) -> None:
    shipped = shipped_error_rate()["successCondition"]
    traffic = RandomTraffic(router, clock, haproxy, seed=3)
    traffic.error_share = {"stable": 0.005, "canary": 0.005}
    faulted: list[Any] = []

    def fault_after_ten_seconds() -> None:  # a healthy canary turns bad mid-step
        if not faulted and (readings := recorder.of("measurement")) and (
            (readings[-1].time - readings[0].time).total_seconds() >= 10
        ):
            traffic.error_share["canary"] = 1.0
            faulted.append(clock.now())
        traffic.flow()

    haproxy.on_read = fault_after_ten_seconds
    engine = start_deploy(builtin_ctx, held_plan(shipped, weight, "2m"))
    assert drive(engine) == Phase.ROLLED_BACK
    tripped = recorder.of("breaker_tripped")[0]
    assert faulted and (tripped.time - faulted[0]).total_seconds() <= 1.0


def slow_breaker_plan() -> Any:
    """The built-in breaker measured every 5 s: errors must not wait for the interval."""
    template = shipped_error_rate() | {"interval": "5s"}
    body = yaml.safe_dump({
        "analysis": {"error-rate": template},
        "breakerWarmup": "1s",
        "breakers": [{"analysis": "error-rate"}],
        "steps": [{"setWeight": 10}, {"pause": {"duration": "60s"}}],
    })
    return load_plan_text(HEAD + body, "slow-breaker.yaml")


def test_new_canary_errors_make_the_builtin_breaker_measure_at_once_not_at_its_interval(
    builtin_ctx: Any, router: FakeRouter, clock: Any, haproxy: FakeHAProxyStats,
    traffic: Traffic, recorder: Any,
) -> None:
    faulted: list[Any] = []

    def fault_after_twelve_seconds() -> None:  # at a moment of its own, not at a read
        readings = recorder.of("measurement")
        if not faulted and readings:
            fault_at = readings[0].time + timedelta(seconds=12.1)
            if clock.now() >= fault_at:
                traffic.flow(until=fault_at)  # healthy until the fault
                traffic.error_share["canary"] = 1.0
                faulted.append(fault_at)
        traffic.flow()

    haproxy.on_read = fault_after_twelve_seconds
    engine = start_deploy(builtin_ctx, slow_breaker_plan())
    assert drive(engine) == Phase.ROLLED_BACK
    tripped = recorder.of("breaker_tripped")[0]
    # 10 canary req/s: the third failure 0.2-0.3 s after the fault, then one 50 ms look;
    # at its 5 s interval the breaker would have waited up to 3 s more
    assert faulted and (tripped.time - faulted[0]).total_seconds() <= 0.4


def test_a_canary_without_errors_gets_no_measurement_beyond_its_interval(
    builtin_ctx: Any, traffic: Traffic, store: Any
) -> None:
    engine = start_deploy(builtin_ctx, slow_breaker_plan())
    assert drive(engine) == Phase.SUCCEEDED
    readings = [m for m in store.measurements(engine.record.id) if m.metric == "error-rate"]
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in pairwise(readings)]
    assert len(readings) >= 10 and min(gaps) >= 5.0


def test_errors_during_the_breaker_warm_up_do_not_start_it_early(
    builtin_ctx: Any, traffic: Traffic, recorder: Any
) -> None:
    traffic.error_share["canary"] = 1.0  # failing from its first request
    engine = start_deploy(builtin_ctx, slow_breaker_plan())
    assert drive(engine) == Phase.ROLLED_BACK
    verified = next(e.time for e in recorder.of("weight_verified") if e.data["weight"] == 10)
    first = recorder.of("measurement")[0]
    # breakerWarmup 1 s, the template's initialDelay 500 ms: the first reading waits 1 s
    assert (first.time - verified).total_seconds() >= 1.0


# the plan ---------------------------------------------------------------------------------


def test_builtin_checks_default_to_250ms_readings_over_2s_on_haproxy() -> None:
    template = plan().analysis["errors"]
    assert (template.interval, template.window) == (0.25, 2.0)
    assert template.source is None and template.query is None


def test_builtin_conditions_may_use_canary_and_stable_but_query_ones_may_not() -> None:
    plan("canary.errorRate < 0.05 && canary.requests > 0.0")
    with pytest.raises(PlanError, match="unknown name 'stable'"):
        make_plan(
            "steps: [{setWeight: 10}]\n",
            PLAN_HEAD.replace("result < 0.01", "result < stable.errorRate"),
        )


def test_a_reading_field_that_does_not_exist_is_refused_at_validate() -> None:
    with pytest.raises(PlanError, match="no field 'p99'"):
        plan("canary.p99 < 0.3")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("    builtin: errorRate\n    source: prom\n", "remove source, query, judge and args"),
        ("    builtin: p99\n", "builtin"),
        ("    interval: 1s\n", "give source and query (or a judge), or builtin"),
    ],
)
def test_builtin_templates_are_checked_when_the_plan_loads(change: str, message: str) -> None:
    text = BUILTIN.replace("CONDITION", "result < 0.05").replace("    builtin: errorRate\n", change)
    with pytest.raises(PlanError, match=re.escape(message)):
        load_plan_text(text, "builtin.yaml")


def test_a_router_without_counters_cannot_have_builtin_checks() -> None:
    text = BUILTIN.replace("CONDITION", "result < 0.05").replace(
        "  router: haproxy\n  haproxy: {socket: /tmp/none.sock, backend: demo, stable: stable,"
        " canary: canary}\n",
        "  router: exec\n  exec: {getWeight: [w], setWeight: [w, '{weight}']}\n",
    )
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "builtin.yaml")
    assert "builtin.yaml:10: analysis.errors.builtin: builtin checks read the router's own " in (
        str(caught.value.problems)
    )


# preflight: custom breaker queries must depend on the canary ------------------------------

CUSTOM = """\
metricSources:
  prom: {provider: prometheus, url: "http://127.0.0.1:9"}
analysis:
  errors:
    source: prom
    query: 'QUERY'
    successCondition: result < 0.05
breakers:
  - analysis: errors
steps:
  - setWeight: 10
"""


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("vector(0)", "uses `vector(0)`, a constant standing in for missing data"),
        (
            '(sum(rate(http_responses_total{server="{{canary}}",code="5XX"}[10s])) or vector(0))'
            ' / sum(rate(http_responses_total{server="{{canary}}"}[10s]))',
            "uses `vector(0)`",
        ),
        ("sum(rate(http_errors_total[10s]))", "does not name the canary"),
    ],
)
def test_preflight_refuses_a_breaker_query_that_cannot_trip(
    make_ctx: Any, router: FakeRouter, query: str, message: str
) -> None:
    text = HEAD + CUSTOM.replace("QUERY", query)
    with pytest.raises(PreflightError, match=re.escape(message)):
        start_deploy(make_ctx(), load_plan_text(text, "custom.yaml"))
    assert not [c for c in router.calls if c[0] == "set"]


def test_preflight_accepts_a_breaker_query_naming_the_canary_literally(
    make_ctx: Any, metrics: FakeMetrics
) -> None:
    text = HEAD + CUSTOM.replace("QUERY", 'rate(errors{server="canary"}[1m])')
    engine = start_deploy(make_ctx(), load_plan_text(text, "custom.yaml"))
    assert engine.record.phase == Phase.PROGRESSING


# the built-in policy -----------------------------------------------------------------------


def _rules(text: str) -> list[str]:
    from shipsafe.policy import Request, builtin_policy, findings_for_plan

    found = findings_for_plan(load_plan_text(text, "p.yaml"), builtin_policy(), Request())
    return [f.rule for f in found]


PRODUCTION = HEAD.replace("environment: staging", "environment: production")


def test_production_requires_a_builtin_error_rate_breaker() -> None:
    custom = PRODUCTION + CUSTOM.replace("QUERY", 'rate(errors{server="{{canary}}"}[1m])')
    assert "requireBuiltinBreaker" in _rules(custom)
    builtin = BUILTIN.replace("CONDITION", "result < 0.05").replace(
        "environment: staging", "environment: production"
    )
    assert "requireBuiltinBreaker" not in _rules(builtin)


def test_a_custom_breaker_adds_to_the_builtin_one_and_never_replaces_it() -> None:
    both = PRODUCTION + CUSTOM.replace(
        "QUERY", 'rate(errors{server="{{canary}}"}[1m])'
    ).replace(
        "breakers:\n", "  builtin-errors:\n    builtin: errorRate\n"
        "    successCondition: result < 0.05\nbreakers:\n  - analysis: builtin-errors\n"
    )
    assert "requireBuiltinBreaker" not in _rules(both)
    # the built-in check only in an analysis step, not watching as a breaker: not enough
    analysis_only = both.replace("  - analysis: builtin-errors\n", "") + (
        "  - analysis: {templates: [builtin-errors]}\n"
    )
    assert "requireBuiltinBreaker" in _rules(analysis_only)


def test_other_environments_may_use_custom_breakers_alone() -> None:
    custom = HEAD + CUSTOM.replace("QUERY", 'rate(errors{server="{{canary}}"}[1m])')
    assert "requireBuiltinBreaker" not in _rules(custom)


def test_validate_refuses_a_constant_breaker_in_any_environment() -> None:
    assert "breakers.dependsOnCanary" in _rules(HEAD + CUSTOM.replace("QUERY", "vector(0)"))


def test_replay_leaves_out_builtin_checks_a_capture_cannot_answer() -> None:
    from shipsafe.replay import without_builtin

    text = BUILTIN.replace("CONDITION", "result < 0.05") + "  - analysis: {templates: [errors]}\n"
    replayed = without_builtin(load_plan_text(text, "builtin.yaml"))
    assert "errors" not in replayed.analysis and not replayed.breakers
    # the analysis step of only built-in checks is gone; the other steps are as they were
    assert replayed.steps == plan().steps


def test_alarm_breakers_are_judged_by_their_own_definitions() -> None:
    alarms = HEAD + (
        "metricSources:\n  cw: {provider: cloudwatch}\nanalysis:\n  alarms:\n    source: cw\n"
        "    query: ALARMS(checkout-5xx)\n    successCondition: result == 0\n"
        "breakers:\n  - analysis: alarms\nsteps:\n  - setWeight: 10\n"
    )
    assert "breakers.dependsOnCanary" not in _rules(alarms)


def test_a_dry_run_builtin_breaker_does_not_satisfy_production() -> None:
    builtin = BUILTIN.replace("CONDITION", "result < 0.05").replace(
        "environment: staging", "environment: production"
    )
    dry = builtin.replace("    initialDelay: 1s\n", "    initialDelay: 1s\n    dryRun: true\n")
    assert "requireBuiltinBreaker" not in _rules(builtin)
    assert "requireBuiltinBreaker" in _rules(dry)
