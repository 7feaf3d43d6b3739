"""Property: random faults at random ticks (bad readings, provider errors, a provider's own
bug, router refusals and bugs) never end in a promotion after a failed check, nor in exit 1 once
traffic moved; a rollout that rolled back leaves the router as the snapshot was.

The engine runs against fakes (tests/fakes.py) on a fake clock: the i-th query about the
canary gets the i-th drawn answer (healthy once the list runs out); the router refuses the
drawn operations a drawn number of times.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipsafe.clock import FakeClock
from shipsafe.engine.context import EngineContext
from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.errors import ExitCode, ProviderError, ShipsafeError, TransientProviderError
from shipsafe.records import MeasurementPhase, Phase
from shipsafe.store.sqlite import SQLiteStore
from tests.conftest import ALICE, make_plan
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter

HEAD = """\
apiVersion: shipsafe/v1
kind: Plan
metadata: {name: checkout, service: checkout, environment: staging}
release: {version: "2.4.0"}
target:
  router: haproxy
  haproxy: {socket: /tmp/none.sock, backend: checkout, stable: v1, canary: v2}
metricSources:
  prom: {provider: prometheus, url: "http://127.0.0.1:9"}
analysis:
  error-rate:
    source: prom
    query: errors{server="{{canary}}"}
    successCondition: result < 0.01
    interval: 5s
    count: 2
breakers:
  - analysis: error-rate
steps:
  - setWeight: 10
  - analysis: {templates: [error-rate]}
  - setWeight: 40
  - pause: {duration: 1m}
  - setWeight: 70
"""

# the store fsyncs every write; on tmpfs that costs nothing (150 rollouts: 40 s -> 2.5 s)
FAST_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None

HEALTHY = 0.001
ANSWERS = st.sampled_from([
    HEALTHY, HEALTHY, HEALTHY, 0.5, math.nan, math.inf, -math.inf, None,
    ProviderError("prometheus: HTTP 500"), TransientProviderError("prometheus: timed out"),
    TypeError("'NoneType' object is not subscriptable"),  # a provider's own bug
])
ROUTER_FAULTS = st.dictionaries(
    st.sampled_from(["set", "get"]),
    st.tuples(st.sampled_from([ProviderError("socket refused"),
                               TransientProviderError("socket timed out"),
                               # a router's own bug: the driver's invariant rolls back
                               # (reason internal_error) instead of exiting 1
                               RuntimeError("router bug")]),
              st.integers(1, 40)),
    max_size=2,
)


class BoundedClock(FakeClock):
    """A fake clock that fails the test if a rollout outlives a simulated day."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        assert sum(self.slept) < 86400, "the rollout never ended"


class ScriptedMetrics(FakeMetrics):
    def __init__(self, answers: list[Any]) -> None:
        super().__init__(self._answer)
        self.script = list(answers)
        self.canary_queries = 0

    def _answer(self, query: str) -> float | None:
        if '"v1"' in query:  # preflight runs every query against the stable target
            return HEALTHY
        i = self.canary_queries
        self.canary_queries += 1
        answer = self.script[i] if i < len(self.script) else HEALTHY
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]


@settings(
    max_examples=max(10, settings.default.max_examples // 3),  # CI: 400; locally ~33
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(answers=st.lists(ANSWERS, max_size=30), router_faults=ROUTER_FAULTS)
def test_random_faults_never_promote_after_a_failed_check_nor_exit_1_after_traffic_moved(
    answers: list[Any], router_faults: dict[str, tuple[Exception, int]]
) -> None:
    router = FakeRouter()
    metrics = ScriptedMetrics(answers)
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as tmp:
        store = SQLiteStore.open(Path(tmp) / "state.db")
        try:
            ctx = EngineContext(store=store, clock=BoundedClock(), actor=ALICE,
                                providers=FakeProviders(router, metrics))
            engine = start_deploy(ctx, make_plan("", head=HEAD))
            for op, (error, times) in router_faults.items():  # faults start after preflight
                router.fail[op], router.fail_times[op] = error, times
            code, phase = _drive(engine)
            measurements = store.measurements(engine.record.id)
        finally:
            store.close()
    moved = any(call[0] == "set" and call[1] > 0 for call in router.calls)
    # a failed check, by the plan's terms (not by what the engine recorded): a reading the
    # engine took that does not meet `result < 0.01`, is not a number, or is no data
    read = answers[: metrics.canary_queries]
    failed = [a for a in read
              if a is None or (isinstance(a, float) and not (math.isfinite(a) and a < 0.01))]
    recorded = [m for m in measurements if m.phase is MeasurementPhase.FAILED]
    assert bool(failed) == bool(recorded), (failed, [m.message for m in recorded])
    assert not (moved and code == ExitCode.INTERNAL), (phase, code)
    if failed:
        assert phase != Phase.SUCCEEDED, failed
        assert router.weights["canary"] < 100 or phase == Phase.ROLLBACK_FAILED
    if phase == Phase.ROLLED_BACK:
        assert router.weights == {"stable": 100, "canary": 0}
    if phase == Phase.SUCCEEDED:
        assert router.weights == {"stable": 0, "canary": 100}
        assert not failed


def _drive(engine: Any) -> tuple[int, Phase | None]:
    """The exit code the CLI would give, and the phase the rollout ended in."""
    try:
        phase = drive(engine, detach=True)
    except ShipsafeError as exc:
        return exc.exit_code, None
    except Exception:  # what the CLI reports as an internal error
        return ExitCode.INTERNAL, None
    codes = {Phase.SUCCEEDED: ExitCode.OK, Phase.ROLLED_BACK: ExitCode.ROLLED_BACK,
             Phase.ABORTED: ExitCode.ROLLED_BACK, Phase.ROLLBACK_FAILED: ExitCode.ROLLBACK_FAILED}
    return codes.get(phase, ExitCode.WAITING), phase
