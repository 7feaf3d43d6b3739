"""The demo service: one version of a tiny HTTP app, with its own Prometheus metrics and
faults switchable at run time. Standard library only; run as a script:

    python demo_service.py --name canary --port 8081

    GET  /                any path: the app; answers `X-Server: <name>`
    GET  /metrics         demo_requests_total{code}, demo_request_duration_seconds histogram
    GET  /healthz         200 "ok" (not counted)
    GET  /admin/faults    the current faults as JSON
    POST /admin/faults    {"errorShare": 0.3, "latencyMs": 200}: switch faults, no restart

Errors are spread evenly (every n-th request) rather than drawn at random, so a given share
gives the same count on every run and benchmarks are comparable. /metrics, /healthz and
/admin are not counted.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CODES = ("200", "500")  # exported from the start at 0, so rate() has a series to work on


class Faults:
    """A share of 5xx answers and added latency, changed under a lock while serving."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.error_share = 0.0
        self.latency_ms = 0.0
        self._served = 0

    def set(self, error_share: float, latency_ms: float) -> None:
        if not 0.0 <= error_share <= 1.0 or latency_ms < 0:
            raise ValueError("errorShare is 0..1 and latencyMs >= 0")
        with self.lock:
            self.error_share = error_share
            self.latency_ms = latency_ms
            self._served = 0

    def as_json(self) -> dict[str, float]:
        with self.lock:
            return {"errorShare": self.error_share, "latencyMs": self.latency_ms}

    def next_request(self) -> tuple[bool, float]:
        """(answer with 5xx?, seconds to add) for the next request."""
        with self.lock:
            n = self._served
            self._served += 1
            share = self.error_share
            fail = math.floor((n + 1) * share) > math.floor(n * share)
            return fail, self.latency_ms / 1000.0


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = dict.fromkeys(CODES, 0)
        self.bucket_counts = [0] * len(BUCKETS)
        self.duration_sum = 0.0
        self.duration_count = 0

    def observe(self, code: int, seconds: float) -> None:
        with self.lock:
            key = str(code)
            self.requests[key] = self.requests.get(key, 0) + 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.bucket_counts[i] += 1
            self.duration_sum += seconds
            self.duration_count += 1

    def exposition(self) -> str:
        with self.lock:
            lines = [
                "# HELP demo_requests_total Requests answered, by status code.",
                "# TYPE demo_requests_total counter",
            ]
            lines += [f'demo_requests_total{{code="{c}"}} {n}' for c, n in self.requests.items()]
            lines += [
                "# HELP demo_request_duration_seconds Time to answer a request.",
                "# TYPE demo_request_duration_seconds histogram",
            ]
            for bound, count in zip(BUCKETS, self.bucket_counts, strict=True):
                lines.append(f'demo_request_duration_seconds_bucket{{le="{bound}"}} {count}')
            lines.append(f'demo_request_duration_seconds_bucket{{le="+Inf"}} {self.duration_count}')
            lines.append(f"demo_request_duration_seconds_sum {self.duration_sum}")
            lines.append(f"demo_request_duration_seconds_count {self.duration_count}")
        return "\n".join(lines) + "\n"


def make_handler(name: str, faults: Faults, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive with HAProxy
        disable_nagle_algorithm = True  # else every proxied request waits ~40 ms
        server_version = "shipsafe-demo"

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the load generator sends hundreds of requests a second

        def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("X-Server", name)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, metrics.exposition().encode(), "text/plain; version=0.0.4")
            elif self.path == "/healthz":
                self._send(200, b"ok\n")
            elif self.path == "/admin/faults":
                self._send(200, json.dumps(faults.as_json()).encode(), "application/json")
            else:
                self._serve_app()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path != "/admin/faults":
                self._send(404, b"not found\n")
                return
            try:
                wanted = json.loads(body or b"{}")
                faults.set(float(wanted.get("errorShare", 0)), float(wanted.get("latencyMs", 0)))
            except (ValueError, TypeError, AttributeError) as exc:
                self._send(400, f"{exc}\n".encode())
                return
            self._send(200, json.dumps(faults.as_json()).encode(), "application/json")

        def _serve_app(self) -> None:
            started = time.perf_counter()
            fail, delay = faults.next_request()
            if delay:
                time.sleep(delay)
            code = 500 if fail else 200
            body = f"{name}: {'injected failure' if fail else 'hello'}\n".encode()
            self._send(code, body)
            metrics.observe(code, time.perf_counter() - started)

    return Handler


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="server name, sent as X-Server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    server = DemoServer((args.host, args.port), make_handler(args.name, Faults(), Metrics()))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
