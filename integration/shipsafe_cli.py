"""The real `shipsafe` CLI as a subprocess, with JSON output read event by event.

Scenario tests talk to shipsafe only the way users and agents do: the command line, exit
codes and the JSON lines; they check HAProxy itself over its runtime API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integration.rig.waiting import StopWaiting, wait_until

Event = dict[str, Any]


def _env(state: Path, actor: str, extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SHIPSAFE_STATE": str(state),
            "SHIPSAFE_OUTPUT": "json",
            "SHIPSAFE_ACTOR": actor,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    keys = env.get("SHIPSAFE_TEST_KEYS")  # integration/conftest.py: each actor's own key
    if keys and (Path(keys) / f"{actor}.key").exists():
        env["SHIPSAFE_KEY"] = str(Path(keys) / f"{actor}.key")
    env.update(extra or {})
    return env


def _parse(line: str) -> Event | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        parsed: Event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return parsed


class Running:
    """A `shipsafe` process still running; its JSON lines are collected as they come."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.events: list[Event] = []
        self.other_lines: list[str] = []
        self._lock = threading.Lock()
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stdout = self.popen.stdout
        assert stdout is not None
        with stdout:  # closed when shipsafe's output ends
            for line in stdout:
                event = _parse(line)
                with self._lock:
                    if event is None:
                        self.other_lines.append(line.rstrip())
                    else:
                        event["_seen"] = time.monotonic()
                        self.events.append(event)

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    def wait_for(self, predicate: Callable[[Event], bool], what: str, timeout: float) -> Event:
        """The first event for which `predicate` holds (waiting for it if need be)."""

        def found() -> Event | None:
            for event in self.snapshot():
                if predicate(event):
                    return event
            if self.popen.poll() is not None:
                self._reader.join(timeout=2)
                for event in self.snapshot():
                    if predicate(event):
                        return event
                raise StopWaiting(
                    f"shipsafe exited {self.popen.returncode} before {what}:\n{self.transcript()}"
                )
            return None

        return wait_until(found, what, timeout, 0.02)

    def wait_for_type(self, type_: str, timeout: float, **data: Any) -> Event:
        def matches(event: Event) -> bool:
            if event.get("type") != type_:
                return False
            got = event.get("data") or {}
            return all(got.get(k) == v for k, v in data.items())

        return self.wait_for(matches, f"a {type_} event {data or ''}", timeout)

    def wait(self, timeout: float) -> Finished:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"shipsafe still running after {timeout:g}s:\n{self.transcript()}"
            ) from None
        self._reader.join(timeout=5)
        return Finished(self.popen.returncode, self.snapshot(), self.other_lines)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=10)
        self._reader.join(timeout=5)

    def transcript(self) -> str:
        lines = [json.dumps({k: v for k, v in e.items() if k != "_seen"}) for e in self.snapshot()]
        return "\n".join(lines[-40:] + self.other_lines[-20:])


class Finished:
    def __init__(self, code: int, events: list[Event], other_lines: list[str]) -> None:
        self.code = code
        self.events = events
        self.other_lines = other_lines

    def of_type(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.get("type") == type_]

    @property
    def result(self) -> Event:
        results = [e for e in self.events if e.get("kind") == "result"]
        assert results, f"no result line in:\n{self.transcript()}"
        return results[-1]

    @property
    def rollout_id(self) -> str:
        return str(self.result["rollout_id"])

    def transcript(self) -> str:
        lines = [json.dumps({k: v for k, v in e.items() if k != "_seen"}) for e in self.events]
        return "\n".join(lines[-40:] + self.other_lines[-20:])


class ShipsafeCLI:
    """`python -m shipsafe ...` against one state file, as one actor."""

    def __init__(
        self, state: Path, actor: str = "integration", env: dict[str, str] | None = None
    ) -> None:
        self.state = state
        self.actor = actor
        self.extra_env = dict(env or {})

    def as_actor(self, actor: str) -> ShipsafeCLI:
        return ShipsafeCLI(self.state, actor, self.extra_env)

    def start(self, *args: str, env: dict[str, str] | None = None) -> Running:
        argv = [sys.executable, "-m", "shipsafe", *args]
        return Running(argv, _env(self.state, self.actor, {**self.extra_env, **(env or {})}))

    def run(self, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> Finished:
        return self.start(*args, env=env).wait(timeout)

    def deploy(self, plan: Path, *args: str, env: dict[str, str] | None = None) -> Running:
        return self.start("deploy", str(plan), *args, env=env)
