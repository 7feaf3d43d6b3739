"""Shared fixtures: a fake clock, a SQLite store in a temp dir, fakes, a plan builder."""

from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.testing
from hypothesis import settings

from shipsafe.audit.file import FileAuditLog
from shipsafe.clock import FakeClock
from shipsafe.engine.context import EngineContext
from shipsafe.plan.loader import load_plan_text
from shipsafe.plan.models import Plan
from shipsafe.records import Actor, ActorKind, Event
from shipsafe.store.sqlite import SQLiteStore
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter

# property suites (tests/test_*_properties.py): CI=true explores 1,200 inputs per property
# (some take fewer); locally a quick pass. No example database: nothing is written to disk.
# CI's inputs are derandomized: the same 1,200 a run, so a landing is never decided by a draw
# (run `CI=true pytest tests` before landing to see exactly what CI will); the dev profile
# stays random and keeps exploring new inputs on every run.
settings.register_profile("ci", max_examples=1200, database=None, print_blob=True, derandomize=True)
settings.register_profile("dev", max_examples=100, database=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

# typer's CliRunner.invoke builds the whole click command tree from the Typer app on every
# call (about 18 ms for shipsafe's app; the suite invokes it several hundred times). The tree
# depends only on the commands the app registered at import, which no test changes, so each
# app's tree is built once; every invoke still gets its own click context, input and env.
typer.testing._get_command = functools.cache(typer.testing._get_command)  # type: ignore[attr-defined]

# Where tmp_path lives: in memory when the machine has room there. Nearly every test opens a
# SQLite store and an audit log in tmp_path, and each commit and append waits for fsync; on a
# disk shared with other work that wait was most of the suite's wall time (a third of its
# tests: 35 s on disk, 2.3 s in memory). Durability against power loss is not what these
# tests test; the store and the log make the same calls either way. PYTEST_DEBUG_TEMPROOT
# (pytest's own setting) or --basetemp, when given, win; pytest keeps its usual numbered
# directories (the last 3 runs, about 50 MB each) under <root>/pytest-of-<user>/.
MEMORY_TEMP = Path("/dev/shm")


def memory_temp() -> Path | None:
    """/dev/shm when it is writable with at least 1 GiB free, else None."""
    try:
        room = os.statvfs(MEMORY_TEMP)
    except OSError:
        return None
    if os.access(MEMORY_TEMP, os.W_OK | os.X_OK) and room.f_bavail * room.f_frsize >= 2**30:
        return MEMORY_TEMP
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest reads the temp root (it does so lazily)
def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return  # given by the caller, or by the xdist controller to its workers
    if (memory := memory_temp()) is not None:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(memory)


PLAN_HEAD = """\
apiVersion: shipsafe/v1
kind: Plan
metadata: {name: checkout, service: checkout, environment: production}
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
    count: 3
  latency:
    source: prom
    query: latency{server="{{canary}}"}
    successCondition: result < 0.3
    failureCondition: result > 0.5
    interval: 5s
    count: 2
    noData: inconclusive
"""


# the lock of PLAN_HEAD's target (its identity: router, socket, backend), whatever its labels
TARGET_LOCK = "target/haproxy:backend=checkout,socket=/tmp/none.sock"


def make_plan(body: str, head: str = PLAN_HEAD) -> Plan:
    """A plan: the shared head (target, sources, templates) plus breakers and steps."""
    return load_plan_text(head + textwrap.dedent(body), "test-plan.yaml")


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type.value for e in self.events]

    def of(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type.value == type_]


@pytest.fixture(autouse=True)
def private_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default store and audit log live in the user's XDG state directory: every test
    gets its own, so none ever writes into the real home."""
    home = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_machine_trust_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever /etc/shipsafe/trust.yaml holds on this machine, tests see none: where it
    exists SHIPSAFE_TRUST_ROOT may name only it, and tests set that to roots of their own."""
    monkeypatch.setattr("shipsafe.trust.root.DEFAULT_ROOT", str(tmp_path / "no-machine-root"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore.open(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def router() -> FakeRouter:
    return FakeRouter()


@pytest.fixture
def metrics() -> FakeMetrics:
    return FakeMetrics(0.0)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


ALICE = Actor(id="alice", kind=ActorKind.HUMAN, host="laptop")
BOB = Actor(id="bob", kind=ActorKind.HUMAN, host="oncall")


@pytest.fixture
def make_ctx(
    store: SQLiteStore,
    clock: FakeClock,
    router: FakeRouter,
    metrics: FakeMetrics,
    recorder: Recorder,
    tmp_path: Path,
) -> Any:
    """Build an engine context; each call is another 'process' (own holder) on one store."""

    def build(actor: Actor = ALICE, **kw: Any) -> EngineContext:
        audit = FileAuditLog(tmp_path / "audit.jsonl", store)
        return EngineContext(
            store=store,
            clock=clock,
            providers=FakeProviders(router, metrics),
            actor=actor,
            subscribers=[recorder, audit],
            **kw,
        )

    return build
