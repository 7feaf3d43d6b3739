"""The driver's lease on the target's lock, and the fence on router writes.

Why a heartbeat thread: the lease must say whether the driving *process* is alive, not how
long its current step takes. A step can block for a long time in one provider call (router
retries, a slow breaker query, a slow `exec` router); renewing only between ticks let the
lease run out mid-step and another process take over while this one was still going to
write. So a thread with its own store connection renews every `lease_seconds / 3`,
whatever the main thread is doing, as long as the main thread is not stuck (it marks
`alive()` every tick; a main thread silent for `stall_seconds` is left to expire).

Why that is not enough on its own: a process can be frozen (SIGSTOP, swap, a paused VM)
with a router write about to be sent, and its lease runs out meanwhile. So every write is
fenced: each store write carries the lock's epoch (the store refuses a stale one), and each
router write is preceded by `guard()`: the epoch read from the store and still ours, and at
least `margin` of the lease left by this process's own monotonic clock — a router write
started now ends before the lease can expire, and a takeover only happens after expiry
(it "waits the old epoch out") and then bumps the epoch (revokes it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from shipsafe.clock import Clock
from shipsafe.errors import LeaseLost, LockedError, ProviderError, ShipsafeError
from shipsafe.providers.metrics.base import MetricSource
from shipsafe.providers.snapshots.base import DataSnapshotProvider
from shipsafe.providers.traffic.base import TrafficRouter
from shipsafe.store.base import CoordinationStore, Fence

# a main thread that has not ticked for this long is stuck: its lease is left to expire
STALL_SECONDS = 120.0


class Lease:
    """One driver's hold on its lock. `beat()` renews once (the heartbeat thread calls it
    every `interval`; without a thread the driver calls it every tick)."""

    def __init__(
        self,
        store: CoordinationStore,
        fence: Fence | None,
        holder: str,
        lease_seconds: float,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        self.store = store
        self.fence = fence
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.monotonic = monotonic
        self.stall_seconds = max(stall_seconds, 4 * lease_seconds)
        # a router write needs this much lease left: it ends before the lease can run out
        self.margin = lease_seconds / 3
        self.interval = lease_seconds / 3
        started = monotonic()
        # the lease was just taken (acquire_lock) or renewed: count from a moment ago
        self.deadline = started + lease_seconds - self.margin / 2
        self.last_alive = started
        self.lost: str | None = None
        self.renewals = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # renewing -----------------------------------------------------------------------------
    def beat(self) -> None:
        """Renew once. A stale epoch or another holder: `lost` is set for good. A store that
        does not answer: nothing changes (the deadline runs on; guard() refuses in time)."""
        if self.fence is None or self.lost is not None:
            return
        with self._lock:
            if self.monotonic() - self.last_alive > self.stall_seconds:
                return  # the driver is stuck: let the lease run out so others can act
            sent = self.monotonic()
            try:
                self.store.renew_lock(
                    self.fence.key, self.holder, self.clock.now(), self.lease_seconds
                )
            except (LeaseLost, LockedError) as exc:
                self.lost = str(exc)
                return
            except ShipsafeError:
                return  # the store hiccuped: try again at the next beat
            # counted from before the request: the store's expiry is at least this late
            self.deadline = sent + self.lease_seconds
            self.renewals += 1

    def alive(self) -> None:
        """The main thread made progress (called every tick)."""
        self.last_alive = self.monotonic()

    # the heartbeat thread -----------------------------------------------------------------
    def start(self) -> None:
        if self.fence is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="shipsafe-lease", daemon=True)
        self._thread.start()

    @property
    def heartbeat_running(self) -> bool:
        return self._thread is not None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
            if self.lost is not None:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease_seconds)
            self._thread = None

    # checks -------------------------------------------------------------------------------
    def check(self) -> None:
        """LeaseLost once another process took the lease (seen by the heartbeat)."""
        if self.lost is not None:
            raise LeaseLost(self.lost)

    def guard(self) -> None:
        """Before a router write: the lease still ours, with `margin` left to finish it."""
        self.check()
        if self.fence is None:
            return
        if self.deadline - self.monotonic() < self.margin:
            self.beat()  # the heartbeat fell behind (a slow store): renew here, once
            self.check()
            left = self.deadline - self.monotonic()
            if left < self.margin:
                raise LeaseLost(
                    f"the lease on {self.fence.key} could not be renewed (it has {left:.1f}s "
                    f"left, a router write needs {self.margin:.1f}s): this process stops "
                    "writing before another may take over"
                )


def _signal_pending() -> str | None:
    from shipsafe.interrupts import INTERRUPTS

    return INTERRUPTS.requested


class FencedRouter:
    """A router whose writes (set_weight, restore) each pass `guard` first. A
    router that retries by itself calls `before_write` before every attempt.

    Once a signal has asked for a rollback, no forward write (set_weight) is sent
    any more, even later in the same tick: it fails as a provider error, the tick ends, and
    the driver begins the rollback at its next safe point. Restores always go."""

    def __init__(
        self,
        inner: TrafficRouter,
        guard: Callable[[], None],
        retry_budget: Callable[[], float | None] = lambda: None,
        stop_forward: Callable[[], str | None] = _signal_pending,
    ) -> None:
        self.inner = inner
        self.guard = guard
        self.retry_budget = retry_budget
        self.stop_forward = stop_forward
        self.name = inner.name
        if hasattr(inner, "before_write"):
            inner.before_write = guard

    def _bound(self) -> None:
        """A router that retries by itself retries no longer than the budget of the moment
        (the breaker interval while breakers are watched: they must not wait for it)."""
        if hasattr(self.inner, "retry_budget"):
            self.inner.retry_budget = self.retry_budget()

    def _forward(self) -> None:
        why = self.stop_forward()
        if why is not None:
            raise ProviderError(f"not sent: {why} asked for a rollback")
        self.guard()
        self._bound()

    def check(self) -> None:
        self.inner.check()

    def get_weight(self) -> int:
        self._bound()
        return self.inner.get_weight()

    def read_state(self) -> dict[str, Any]:
        self._bound()
        return self.inner.read_state()

    def config(self) -> dict[str, Any]:
        return self.inner.config()

    def set_weight(self, canary_percent: int) -> None:
        self._forward()
        self.inner.set_weight(canary_percent)

    def restore(self, state: dict[str, Any]) -> None:
        self.guard()
        self._bound()
        self.inner.restore(state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FencedProviders:
    """The engine's provider factory with every router fenced by `guard` and its retries
    bounded by `retry_budget`."""

    def __init__(
        self,
        inner: Any,
        guard: Callable[[], None],
        retry_budget: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.inner = inner
        self.guard = guard
        self.retry_budget = retry_budget

    def router(self, name: str, config: dict[str, Any]) -> TrafficRouter:
        return FencedRouter(self.inner.router(name, config), self.guard, self.retry_budget)

    def metric_source(self, name: str, config: dict[str, Any]) -> MetricSource:
        result: MetricSource = self.inner.metric_source(name, config)
        return result

    def data_snapshot(self, name: str, config: dict[str, Any]) -> DataSnapshotProvider:
        result: DataSnapshotProvider = self.inner.data_snapshot(name, config)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
