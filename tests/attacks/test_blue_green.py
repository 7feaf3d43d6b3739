"""Bypass 6b of issue 10: renaming `metadata.service` to deploy into the protected blue.
Blue protection keys on the target's identity (HAProxy socket and backend), so a plan for
the same backend under another service name is refused during the rollback window.

The target here is an HAProxy runtime API on a unix socket the agent may use (a fake one,
served by the test) and an HTTP metrics endpoint answering a low error rate."""

from __future__ import annotations

import json
import os
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.attacks.conftest import Site, rollout_id
from tests.haproxy_runtime_fake import FakeRuntime


class _Runtime(socketserver.StreamRequestHandler):
    runtime: FakeRuntime

    def handle(self) -> None:
        line = self.rfile.readline().decode()
        self.wfile.write(self.runtime.answer(line).encode())


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"0.001"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def haproxy(site: Site) -> Iterator[tuple[Path, FakeRuntime, str]]:
    run = site.root / "run"
    run.mkdir(mode=0o755)
    sock = run / "haproxy.sock"
    runtime = FakeRuntime(backend="checkout", weights={"v1": 100, "v2": 0})
    handler = type("Handler", (_Runtime,), {"runtime": runtime})
    server = socketserver.ThreadingUnixStreamServer(str(sock), handler)
    os.chmod(sock, 0o666)
    metrics = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (server, metrics)]
    for thread in threads:
        thread.start()
    yield sock, runtime, f"http://127.0.0.1:{metrics.server_address[1]}"
    for s in (server, metrics):
        s.shutdown()
        s.server_close()


def _plan(site: Site, sock: Path, metrics: str, *, stable: str, canary: str, service: str,
          name: str) -> str:
    db = site.work / "app.db"
    if not db.exists():
        db.write_text("orders: 2\n")
        os.chown(db, site.rt.uid, site.rt.gid)
    probe = json.dumps([site.rt.python, "-c", "print('2.3.9')"])
    text = (
        "apiVersion: shipsafe/v1\nkind: Plan\n"
        f"metadata: {{name: checkout, service: {service}, environment: production}}\n"
        'release: {version: "2.4.0"}\n'
        "target:\n  router: haproxy\n"
        f"  haproxy: {{socket: {sock}, backend: checkout, stable: {stable}, canary: {canary}}}\n"
        f"metricSources:\n  web: {{provider: http, url: \"{metrics}\"}}\n"
        "analysis:\n  errors:\n    source: web\n    query: errors\n"
        "    successCondition: result < 0.01\n    interval: 1s\n    count: 1\n"
        f"strategy:\n  blueGreen: {{blueIdentity: {probe}}}\n"
        f"dataSnapshots:\n  db: {{provider: file, path: {db}}}\n"
        "steps:\n  - analysis: {templates: [errors]}\n  - snapshot: {data: [db]}\n"
        "  - approval: {}\n  - cutover: {blueHealth: [errors]}\n"
        "  - analysis: {templates: [errors]}\n"
    )
    path = site.work / name
    path.write_text(text)
    os.chown(path, site.rt.uid, site.rt.gid)
    return str(path)


def test_renaming_the_service_does_not_deploy_into_the_protected_blue(
    site: Site, haproxy: tuple[Path, FakeRuntime, str]
) -> None:
    sock, runtime, metrics = haproxy
    first = _plan(site, sock, metrics, stable="v1", canary="v2", service="checkout",
                  name="green.yaml")
    started = site.human("alice", "deploy", first, "--detach")
    assert started.returncode == 4, started.stdout + started.stderr
    rid = rollout_id(started)
    approved = site.human("bob", "approve", rid)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert runtime.weights == {"v1": 0, "v2": 100}  # green serves; v1 is blue, the way back
    writes = len([c for c in runtime.commands if c.startswith("set")])
    # the agent plans the next release into v1 under another service name
    renamed = _plan(site, sock, metrics, stable="v2", canary="v1", service="checkout-next",
                    name="renamed.yaml")
    done = site.agent("deploy", renamed, "--detach")
    assert done.returncode == 6, done.stdout + done.stderr
    assert runtime.weights == {"v1": 0, "v2": 100}
    assert len([c for c in runtime.commands if c.startswith("set")]) == writes
    refused = [r for r in site.audit("deploy_refused") if r["rollout_id"] == rollout_id(done)]
    (finding,) = [f for f in refused[0]["data"]["findings"] if f["rule"] == "blueProtected"]
    assert rid in finding["message"]
