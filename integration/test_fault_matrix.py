"""The fault matrix: the real `shipsafe` CLI against real HAProxy and a fake Prometheus on
loopback whose answers about the canary go bad in every way we know (NaN, +-Inf, an empty
vector, `"data": null`, HTTP 500, too slow, an HTML page, two series). Each must end rolled
back (exit 3) with HAProxy back at the snapshot, never promoted and never exit 1. A healthy
answer, run first, promotes: the matrix can tell the difference.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from integration.rig.haproxy import HAProxy
from integration.rig.ports import free_ports
from integration.rig.processes import find_binary
from integration.shipsafe_cli import ShipsafeCLI

pytestmark = pytest.mark.integration

SNAPSHOT = {"stable": 100, "canary": 0}


def vector(*values: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"i": str(i)}, "value": [time.time(), v]}
                       for i, v in enumerate(values)],
        },
    }


# what the fake Prometheus answers about the canary: (status, content type, body, delay s)
FAULTS: dict[str, tuple[int, str, str, float]] = {
    "NaN": (200, "application/json", json.dumps(vector("NaN")), 0),
    "+Inf": (200, "application/json", json.dumps(vector("+Inf")), 0),
    "-Inf": (200, "application/json", json.dumps(vector("-Inf")), 0),
    "empty": (200, "application/json", json.dumps(vector()), 0),
    "null data": (200, "application/json", '{"status": "success", "data": null}', 0),
    "data a list": (200, "application/json", '{"status": "success", "data": [1]}', 0),
    "500": (500, "text/plain", "internal server error", 0),
    "slow": (200, "application/json", json.dumps(vector("0.001")), 3.0),
    "HTML": (200, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>", 0),
    "two series": (200, "application/json", json.dumps(vector("0.001", "0.002")), 0),
}
HEALTHY = (200, "application/json", json.dumps(vector("0.001")), 0.0)


class FakePrometheus:
    """/api/v1/query on loopback: the stable target always healthy (preflight asks about it);
    the canary answered as `canary` says."""

    def __init__(self) -> None:
        self.canary = HEALTHY
        owner = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query).get("query", [""])[0]
                status, kind, body, delay = owner.canary if "canary" in query else HEALTHY
                if delay:
                    time.sleep(delay)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePrometheus:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HAProxy]:
    if find_binary("haproxy") is None:
        pytest.fail("haproxy not installed: run `bash integration/install.sh` first",
                    pytrace=False)
    # the servers need not listen: no health checks, only weights are read and written
    proxy = HAProxy(tmp_path_factory.mktemp("haproxy"), *free_ports(5))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def prometheus() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        yield fake


def plan(haproxy: HAProxy, prometheus: FakePrometheus, where: Path) -> Path:
    data = {
        "apiVersion": "shipsafe/v1",
        "kind": "Plan",
        "metadata": {"name": "faults", "service": "demo", "environment": "local"},
        "release": {"version": "1.1.0"},
        "target": {"router": "haproxy", "haproxy": {
            "socket": str(haproxy.socket), "backend": "demo", "stable": "stable",
            "canary": "canary"}},
        "metricSources": {"prom": {"provider": "prometheus", "url": prometheus.url,
                                   "timeout": "1s"}},
        "analysis": {"error-rate": {
            "source": "prom", "query": 'errors{server="{{canary}}"}',
            "successCondition": "result < 0.05", "interval": "250ms", "count": 2,
            "consecutiveErrorLimit": 2}},
        "breakerWarmup": "250ms",
        "breakers": [{"analysis": "error-rate"}],
        "steps": [{"setWeight": 10}, {"analysis": {"templates": ["error-rate"]}},
                  {"setWeight": 50}],
    }
    path = where / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_healthy_canary_is_promoted(
    haproxy: HAProxy, prometheus: FakePrometheus, tmp_path: Path
) -> None:
    haproxy.reset()
    prometheus.canary = HEALTHY
    finished = ShipsafeCLI(tmp_path / "state.db").deploy(
        plan(haproxy, prometheus, tmp_path)).wait(timeout=60)
    assert finished.code == 0, finished.transcript()
    assert haproxy.weights() == {"stable": 0, "canary": 100}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_bad_answer_about_the_canary_rolls_back_and_never_promotes(
    haproxy: HAProxy, prometheus: FakePrometheus, tmp_path: Path, fault: str
) -> None:
    haproxy.reset()
    prometheus.canary = FAULTS[fault]
    finished = ShipsafeCLI(tmp_path / "state.db").deploy(
        plan(haproxy, prometheus, tmp_path)).wait(timeout=90)
    assert finished.code == 3, finished.transcript()  # rolled back: not 0, never 1
    assert haproxy.weights() == SNAPSHOT
    weights = [e["data"]["weight"] for e in finished.of_type("weight_set")]
    assert weights and max(weights) == 10, weights  # 50 and 100 were never set
    measured = [e["data"] for e in finished.of_type("measurement")]
    assert measured and all(m["phase"] in ("failed", "error") for m in measured), measured
    assert all(m["value"] is None or m["value"] == m["value"] for m in measured)  # no NaN
