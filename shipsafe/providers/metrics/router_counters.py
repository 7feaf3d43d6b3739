"""Built-in checks (`builtin: errorRate` / `builtin: latency`): read from the router itself.

No query to get wrong: the router's own per-target counters say how many requests the canary
and the stable target answered, how many of them failed, and how long they took. One reading
carries both sides, taken from the same source at the same moment, so a condition can compare
them (`result < 0.05 || result <= stable.errorRate * 2.0`), and can ask for evidence rather
than one unlucky second (`canary.errorRateLow < 0.05`: fails only when the counts show the
canary's error rate above 5 %).

    HAProxy     `show stat` over the runtime API (shipsafe/providers/metrics/haproxy_stats.py):
                cumulative counters, read every 250 ms from preflight on (a background
                thread, and on every measurement); a reading is the difference between now
                and the read `window` seconds ago. While the engine waits between ticks it
                asks every 50 ms whether the canary's error count grew since the last
                reading (`errors_since_last_reading`), and measures a built-in errorRate
                breaker at once when it did.
    ALB, Lambda CloudWatch's documented metrics of the two target groups or the two versions
                behind the alias (cloudwatch_counters.py): sums over the window.

A reading in which the canary answered no request is no data (judged by the template's
`noData`: fail, or inconclusive), never success. A counter that goes backwards (HAProxy
reloaded without its server-state file) is an error, and the reading after it starts afresh.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError, TransientProviderError
from shipsafe.providers.metrics.base import MetricQuery, QueryResult
from shipsafe.providers.metrics.counters import CounterReader, Counters
from shipsafe.providers.metrics.error_bound import error_rate_low

CHECKS = ("errorRate", "latency")
# how often HAProxy's counters are read in the background (a read takes about 0.4 ms)
HAPROXY_READ_SECONDS = 0.25
# history kept beyond the longest window asked for
_SLACK_SECONDS = 5.0


def side(counters: Counters) -> dict[str, float]:
    """What a condition sees of one target: requests, errors, errorRate, errorRateLow (the
    lowest error rate its counts are consistent with, see error_bound.py), latency (s).
    A target that answered nothing reads 0 for each."""
    served = counters.requests > 0
    return {
        "requests": float(counters.requests),
        "errors": float(min(counters.errors, counters.requests)),
        "errorRate": min(counters.errors / counters.requests, 1.0) if served else 0.0,
        "errorRateLow": error_rate_low(counters.errors, counters.requests) if served else 0.0,
        "latency": float(counters.latency) if served and counters.latency is not None else 0.0,
    }


class RouterCounters:
    """The MetricSource of the built-in checks."""

    def __init__(
        self,
        reader: CounterReader,
        name: str,
        monotonic: Callable[[], float] = time.monotonic,
        sample_every: float | None = None,
    ) -> None:
        """`sample_every`: read the counters this often in the background (seconds), so that
        every window has a read at its start; None (tests): only when asked."""
        self.reader = reader
        self.name = name
        self._monotonic = monotonic
        self._history: list[tuple[float, dict[str, Counters]]] = []
        self._longest = 0.0
        self._lock = threading.Lock()
        self._sample_every = sample_every if reader.cumulative else None
        self._sampler: threading.Thread | None = None
        # each target's cumulative error count at the last reading (errors_since_last_reading)
        self._errors_at_reading: dict[str, float] = {}
        # a look that failed is not repeated before the next reading: a hung runtime API would
        # hold the driver for the reader's timeout on every look
        self._look_failed = False

    def check(self) -> None:
        """The router answers with both targets' counters; the first read is the baseline
        the first reading's deltas are taken from."""
        if self.reader.cumulative:
            counters = self.reader.read(0.0)
            with self._lock:
                self._remember(self._monotonic(), counters)
            self._start_sampler()
        else:
            self.reader.read(60.0)

    def _start_sampler(self) -> None:
        if self._sample_every is None or self._sampler is not None:
            return
        every, ref = self._sample_every, weakref.ref(self)

        def sample() -> None:  # holds no reference between reads: ends with its source
            while True:
                time.sleep(every)
                source = ref()
                if source is None:
                    return
                source._sample()
                del source

        self._sampler = threading.Thread(target=sample, name=f"{self.name} reads", daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        try:
            counters = self.reader.read(0.0)
        except Exception:  # the next measurement reads, and reports errors, for itself
            return
        at = self._monotonic()
        with self._lock:
            self._remember(at, counters)

    def query(self, query: MetricQuery) -> QueryResult:
        check = query.text.strip()
        if check not in CHECKS:
            raise ConfigurationError(
                f"{self.name}: unknown built-in check {check!r}; known: {', '.join(CHECKS)}"
            )
        stable, canary = self.reader.servers
        subject = str(query.args.get("subject", canary))
        if subject not in (stable, canary):
            raise ConfigurationError(f"{self.name}: {subject!r} is neither {stable} nor {canary}")
        totals, span = self._totals(max(query.window_seconds, 0.0))
        readings = {"canary": side(totals[canary]), "stable": side(totals[stable])}
        mine = readings["canary" if subject == canary else "stable"]
        sent = f"{self.name}: {check} of {subject} over {span:.2f}s"
        detail = "; ".join(
            f"{label} {int(r['errors'])}/{int(r['requests'])} failed, {r['latency']:.3f}s"
            for label, r in readings.items()
        )
        value: float | None = mine[check]
        if mine["requests"] == 0:
            value, detail = None, f"{subject} answered no request in {span:.2f}s; {detail}"
        elif check == "latency" and totals[subject].latency is None:
            value = None
        return QueryResult(value=value, sent=sent, detail=detail, readings=readings)

    def errors_since_last_reading(self, query: MetricQuery) -> bool:
        """Did the subject of `query` answer new errors since the last reading? One read of
        the counters (kept as a sample); False for summing readers (CloudWatch has no
        running count), before the first reading, and when the read fails (then no more looks
        until the next reading)."""
        canary = self.reader.servers[1]
        subject = str(query.args.get("subject", canary))
        with self._lock:
            seen = self._errors_at_reading.get(subject)
        if seen is None or not self.reader.cumulative or self._look_failed:
            return False
        try:
            counters = self.reader.read(0.0)
        except Exception:  # the next measurement reads, and reports errors, for itself
            self._look_failed = True
            return False
        at = self._monotonic()
        with self._lock:
            self._remember(at, counters)
        return subject in counters and counters[subject].errors > seen

    # cumulative counters: deltas over the window ----------------------------------------
    def _totals(self, window: float) -> tuple[dict[str, Counters], float]:
        if not self.reader.cumulative:
            return self.reader.read(window), window
        self._start_sampler()
        self._longest = max(self._longest, window)
        now_counters = self.reader.read(window)
        now = self._monotonic()
        with self._lock:
            self._errors_at_reading = {s: c.errors for s, c in now_counters.items()}
            self._look_failed = False
            return self._deltas(now_counters, now, window)

    def _deltas(
        self, now_counters: dict[str, Counters], now: float, window: float
    ) -> tuple[dict[str, Counters], float]:
        if not self._history:
            self._remember(now, now_counters)
            raise TransientProviderError(
                f"{self.name}: first read of the router's counters; readings start with the next"
            )
        base_time, base = self._baseline(now - window)
        if any(
            now_counters[s].requests < base[s].requests or now_counters[s].errors < base[s].errors
            for s in self.reader.servers
        ):
            self._history.clear()
            self._remember(now, now_counters)
            raise ProviderError(
                f"{self.name}: the router's counters went backwards (restarted or reloaded?); "
                "readings start afresh"
            )
        self._remember(now, now_counters)
        deltas = {
            s: Counters(
                requests=now_counters[s].requests - base[s].requests,
                errors=now_counters[s].errors - base[s].errors,
                latency=now_counters[s].latency,
            )
            for s in self.reader.servers
        }
        return deltas, now - base_time

    def _baseline(self, since: float) -> tuple[float, dict[str, Counters]]:
        """The newest read at or before `since`, or the oldest one if none is that old."""
        older = [entry for entry in self._history if entry[0] <= since]
        return older[-1] if older else self._history[0]

    def _remember(self, at: float, counters: dict[str, Counters]) -> None:
        # in time order (a background read may land between a read and its lock)
        i = len(self._history)
        while i and self._history[i - 1][0] > at:
            i -= 1
        self._history.insert(i, (at, counters))
        horizon = self._history[-1][0] - self._longest - _SLACK_SECONDS
        # keep the newest read older than the horizon: it is the baseline of a full window
        while len(self._history) > 2 and self._history[1][0] <= horizon:
            self._history.pop(0)


def build(config: dict[str, Any], name: str) -> RouterCounters:
    """config: {"router": plan router name, "target": its settings from the plan}."""
    router = str(config.get("router"))
    target = dict(config.get("target") or {})
    reader: CounterReader
    if router == "haproxy":
        from shipsafe.providers.metrics import haproxy_stats

        reader = haproxy_stats.build_reader(target)
        label = f"haproxy {target.get('backend')}"
        return RouterCounters(reader, label, sample_every=HAPROXY_READ_SECONDS)
    elif router in ("aws-alb", "aws-lambda"):
        from shipsafe.providers.metrics import cloudwatch_counters

        reader = cloudwatch_counters.build_reader(router, target)
        label = f"cloudwatch {router}"
    else:
        raise ConfigurationError(
            f"built-in checks read the router's own counters; router {router!r} has none"
        )
    return RouterCounters(reader, label)
