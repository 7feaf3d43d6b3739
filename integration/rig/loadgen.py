"""A steady stream of requests through HAProxy, counting what users got, per server.

Requests are paced on one shared schedule (`rate` per second, spread over a few worker
threads with keep-alive connections), so a slow server delays a worker, not the schedule of
the others. Each answer is attributed to the server named in its `X-Server` header; an
answer without one (HAProxy's own 503, a reset connection) is counted under "haproxy" or
"no answer". An error is a 5xx or no answer at all: what a user would call a failure.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field

NO_ANSWER = "no answer"
PROXY = "haproxy"


@dataclass
class Tally:
    """Answers and errors per server over a time span."""

    answers: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.answers.values())

    @property
    def total_errors(self) -> int:
        return sum(self.errors.values())

    def share(self, server: str) -> float:
        return self.answers.get(server, 0) / self.total if self.total else 0.0

    def __str__(self) -> str:
        parts = [
            f"{server}: {n} answers, {self.errors.get(server, 0)} errors"
            for server, n in sorted(self.answers.items())
        ]
        return "; ".join(parts) or "no requests"


class LoadGenerator:
    def __init__(
        self,
        host: str,
        port: int,
        rate: float = 100.0,
        workers: int = 8,
        timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.rate = rate
        self.workers = workers
        self.timeout = timeout
        self._results: list[tuple[float, str, bool]] = []  # (monotonic time, server, error)
        self._lock = threading.Lock()
        self._next_slot = 0
        self._start_time = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # running -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._start_time = time.monotonic()
        self._next_slot = 0
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"loadgen-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        self._threads = []

    @property
    def running(self) -> bool:
        return bool(self._threads)

    def _take_slot(self) -> float:
        with self._lock:
            slot = self._next_slot
            self._next_slot += 1
        return self._start_time + slot / self.rate

    def _work(self) -> None:
        conn: http.client.HTTPConnection | None = None
        try:
            while not self._stop.is_set():
                due = self._take_slot()
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                server, error, keep = self._one(conn)
                if not keep:
                    conn.close()
                    conn = None
                with self._lock:
                    self._results.append((time.monotonic(), server, error))
        finally:
            if conn is not None:
                conn.close()

    @staticmethod
    def _one(conn: http.client.HTTPConnection) -> tuple[str, bool, bool]:
        """(server, is an error, connection reusable)."""
        try:
            conn.request("GET", "/")
            answer = conn.getresponse()
            answer.read()
        except (OSError, http.client.HTTPException):
            return NO_ANSWER, True, False
        server = answer.getheader("X-Server") or PROXY
        return server, answer.status >= 500, not answer.will_close

    # counting ------------------------------------------------------------------------------
    @staticmethod
    def now() -> float:
        """A mark on the load generator's clock, for `tally(since=...)`."""
        return time.monotonic()

    def tally(self, since: float | None = None, until: float | None = None) -> Tally:
        with self._lock:
            results = list(self._results)
        out = Tally()
        for when, server, error in results:
            if (since is not None and when < since) or (until is not None and when > until):
                continue
            out.answers[server] = out.answers.get(server, 0) + 1
            if error:
                out.errors[server] = out.errors.get(server, 0) + 1
        return out

    def wait_for_requests(self, count: int, since: float, timeout: float = 10.0) -> Tally:
        """Block until `count` answers arrived after `since` (the rate is steady)."""
        from integration.rig.waiting import wait_until

        return wait_until(
            lambda: (t := self.tally(since=since)).total >= count and t,
            f"{count} answers from the load generator",
            timeout,
        )
