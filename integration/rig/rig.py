"""The whole rig: two demo service versions, HAProxy, a socket gate, Prometheus and load.

    with Rig() as rig:                       # or rig.start() ... rig.stop()
        plan = rig.write_plan()              # plans/local-canary.yaml, made concrete
        rig.canary.set_faults(error_share=0.3)
        rig.haproxy.weights()                # {"stable": 100, "canary": 0}
        rig.load.tally()                     # answers and errors per server
        rig.start_preview()                  # blue/green: green gets preview requests directly

Everything listens on 127.0.0.1 only, on ports chosen free at start, and lives in one
temporary directory that `stop` removes. `stop` runs at exit too (atexit), and every child
has a parent-death signal, so failures, Ctrl-C and even SIGKILL of the owner leave nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from integration.rig import plans
from integration.rig.demo import DemoService
from integration.rig.haproxy import CANARY, STABLE, HAProxy
from integration.rig.loadgen import LoadGenerator
from integration.rig.ports import free_ports
from integration.rig.prometheus import Prometheus
from integration.rig.socket_gate import SocketGate
from integration.rig.waiting import wait_until

# how far back the plans' queries look; a test starts only when this much history is clean
QUERY_WINDOW_SECONDS = 10
# a request slower than this counts as slow when waiting for a clean history
SLOW_SECONDS = 0.1
# requests a second of green's preview (blue/green): sent straight to the canary service
PREVIEW_RATE = 20.0


class Rig:
    def __init__(self, load_rate: float = 100.0, workdir: Path | None = None) -> None:
        self.load_rate = load_rate
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="shipsafe-rig-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        (http_port, metrics_port, runtime_port, stable_port, canary_port, prom_port) = free_ports(6)
        self.stable = DemoService(STABLE, stable_port, self.workdir)
        self.canary = DemoService(CANARY, canary_port, self.workdir)
        self.haproxy = HAProxy(
            self.workdir, http_port, metrics_port, runtime_port, stable_port, canary_port
        )
        self.gate = SocketGate(self.workdir / "gate.sock", self.haproxy.socket)
        self.prometheus = Prometheus(
            self.workdir, prom_port, metrics_port, stable_port, canary_port
        )
        self.load = LoadGenerator("127.0.0.1", http_port, rate=load_rate)
        # blue/green: green (the canary server) is judged on its preview before cutover,
        # requests sent to it directly, not through HAProxy (users never see them); off
        # until a scenario starts it, and reset() stops it again
        self.preview = LoadGenerator("127.0.0.1", canary_port, rate=PREVIEW_RATE, workers=2)
        # the data a blue/green release snapshots before cutover (plans: ${RIG_ORDERS_DB})
        self.orders_db = self.workdir / "orders.db"
        self._started = False

    # life cycle ------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> Rig:
        atexit.register(self.stop)
        self._started = True
        try:
            _create_orders_db(self.orders_db)
            self.stable.start()
            self.canary.start()
            self.haproxy.start()
            self.gate.start()
            self.prometheus.start()
            self.load.start()
            self.prometheus.wait_for_targets(timeout)
            self.wait_for_traffic_data(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything and remove the work dir. Idempotent; safe at any point."""
        if not self._started:
            return
        self._started = False
        atexit.unregister(self.stop)
        self.load.stop()
        self.preview.stop()
        for part in (self.prometheus, self.gate, self.haproxy, self.canary, self.stable):
            with contextlib.suppress(Exception):  # keep stopping the others
                part.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # readiness -------------------------------------------------------------------------
    def wait_for_traffic_data(self, timeout: float = 30.0) -> None:
        """Prometheus has rates of stable's answers from HAProxy and from the demo service
        itself (shipsafe's preflight runs the plan's queries against stable)."""
        queries = (
            'sum(rate(haproxy_server_http_responses_total{proxy="demo",server="stable"}[5s]))',
            'sum(rate(demo_requests_total{server="stable"}[5s]))',
        )
        wait_until(
            lambda: all((self.prometheus.value(query) or 0) > 0 for query in queries),
            "prometheus to have rates of stable's answers (haproxy and demo service)",
            timeout,
            0.25,
        )

    def canary_history_is_clean(self) -> bool:
        """No canary 5xx and no slow canary request in the plans' query window."""
        window = f"{QUERY_WINDOW_SECONDS + 5}s"
        errors = self.prometheus.value(
            f'sum(increase(haproxy_server_http_responses_total{{proxy="demo",server="canary",'
            f'code="5xx"}}[{window}])) or vector(0)'
        )
        slow = self.prometheus.value(
            f'sum(increase(demo_request_duration_seconds_count{{server="canary"}}[{window}]))'
            f' - sum(increase(demo_request_duration_seconds_bucket{{server="canary",'
            f'le="{SLOW_SECONDS}"}}[{window}])) or vector(0)'
        )
        return (errors or 0) == 0 and (slow or 0) == 0

    def canary_is_idle(self) -> bool:
        """The canary answered nothing in the plans' query window (earlier rollouts' traffic
        no longer dilutes what the next rollout measures)."""
        window = f"{QUERY_WINDOW_SECONDS + 2}s"
        answered = self.prometheus.value(
            f'sum(increase(haproxy_server_http_responses_total{{proxy="demo",server="canary"}}'
            f"[{window}])) or vector(0)"
        )
        return (answered or 0) == 0

    def wait_canary_idle(self, timeout: float = 60.0) -> None:
        wait_until(self.canary_is_idle, "no canary answers in the query window", timeout, 0.5)

    def preview_is_ready(self) -> bool:
        """Prometheus sees green's preview answers, and none was a 5xx in the query window
        (the canary service's own counters: preview requests never pass HAProxy)."""
        window = f"{QUERY_WINDOW_SECONDS + 5}s"
        answered = self.prometheus.value(
            'sum(rate(demo_requests_total{server="canary"}[5s])) or vector(0)'
        )
        errors = self.prometheus.value(
            f'sum(increase(demo_requests_total{{server="canary",code=~"5.."}}[{window}]))'
            " or vector(0)"
        )
        return (answered or 0) > 0 and (errors or 0) == 0

    def start_preview(self, timeout: float = 60.0) -> None:
        """Send green its preview traffic and wait until Prometheus has clean rates of it."""
        self.preview.start()
        wait_until(self.preview_is_ready, "green's preview answers in prometheus", timeout, 0.25)

    def reset(self, timeout: float = 60.0, clean_history: bool = True) -> None:
        """Back to the starting point between scenarios: no faults, stable 100 / canary 0,
        the gate open, no preview, Prometheus running, and no trace of earlier faults in
        the window (unless `clean_history` is False: for a scenario that makes the canary
        fail on purpose, where earlier failures only make its breaker trip sooner)."""
        self.gate.accept()
        self.preview.stop()
        self.stable.set_faults()
        self.canary.set_faults()
        self.haproxy.reset()
        if not self.prometheus.running:
            self.prometheus.start()
            self.prometheus.wait_for_targets(timeout)
        if not self.load.running:
            self.load.start()
        self.wait_for_traffic_data(timeout)
        if not clean_history:
            return
        wait_until(
            self.canary_history_is_clean,
            "no canary errors or slow requests in prometheus' recent history",
            timeout,
            0.5,
        )

    # plans -----------------------------------------------------------------------------
    def plan_values(self, **overrides: str) -> dict[str, str]:
        """Values for the `${RIG_...}` placeholders in plans/*.yaml."""
        values = {
            "RIG_HAPROXY_SOCKET": str(self.haproxy.socket),
            "RIG_PROMETHEUS_PORT": str(self.prometheus.port),
            "RIG_RELEASE": "1.1.0",
            "RIG_STABLE_PORT": str(self.stable.port),
            "RIG_ORDERS_DB": str(self.orders_db),
        }
        values.update(overrides)
        return values

    def plan(self, template: Path = plans.LOCAL_CANARY, **overrides: str) -> dict[str, Any]:
        """A plan template made concrete, as data (tests adjust steps before writing it)."""
        return plans.load_rendered(template, self.plan_values(**overrides))

    def write_plan(
        self,
        plan: dict[str, Any] | None = None,
        name: str = "plan.yaml",
        template: Path = plans.LOCAL_CANARY,
        **overrides: str,
    ) -> Path:
        """Write a plan into the work dir: `plan` as given, or the template made concrete."""
        dest = self.workdir / name
        if plan is None:
            return plans.write_plan(
                plans.render_file(template, self.plan_values(**overrides)), dest
            )
        return plans.write_plan(plan, dest)

    def describe(self) -> dict[str, str]:
        return {
            "workdir": str(self.workdir),
            "haproxy http": f"http://127.0.0.1:{self.haproxy.http_port}/",
            "haproxy runtime socket": str(self.haproxy.socket),
            "haproxy runtime address": self.haproxy.address,
            "haproxy metrics": f"http://127.0.0.1:{self.haproxy.metrics_port}/metrics",
            "prometheus": self.prometheus.url,
            "stable": self.stable.url,
            "canary": self.canary.url,
            "orders db": str(self.orders_db),
        }


def _create_orders_db(path: Path) -> None:
    """A small SQLite database standing for the data blue and green share."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT)")
        if conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0:
            conn.executemany("INSERT INTO orders (item) VALUES (?)", [("tea",), ("scones",)])
        conn.commit()
    finally:
        conn.close()
