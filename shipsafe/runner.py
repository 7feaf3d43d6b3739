"""Running the commands a plan names (migrations, blue's identity probe): argument lists,
never a shell, with a timeout, output captured for the audit log.

The engine calls a CommandRunner it is given (EngineContext.commands); tests hand it this
real runner with real subprocesses, or a fake.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

# How much output is kept per run (the tail: where errors are); the rest is cut.
OUTPUT_LIMIT = 8192

# Set for every command shipsafe runs, so a deploy started from inside a rollout knows it.
PARENT_ENV = "SHIPSAFE_PARENT_ROLLOUT"


@dataclass(frozen=True)
class RunResult:
    exit_code: int | None  # None: it did not finish (timeout) or could not start
    output: str  # stdout and stderr together, the last OUTPUT_LIMIT characters
    timed_out: bool = False
    error: str = ""  # why it could not start

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.timed_out:
            return "timed out"
        return f"exit {self.exit_code}"


class CommandRunner(Protocol):
    def run(self, argv: list[str], *, timeout: float, env: Mapping[str, str]) -> RunResult:
        """Run argv (no shell) with `env` added to the environment; never raises for the
        command's own failure: a non-zero exit, a timeout or a missing binary is a result."""
        ...


def _tail(text: str) -> str:
    if len(text) <= OUTPUT_LIMIT:
        return text
    return f"[... {len(text) - OUTPUT_LIMIT} characters cut ...]\n" + text[-OUTPUT_LIMIT:]


class SubprocessRunner:
    def run(self, argv: list[str], *, timeout: float, env: Mapping[str, str]) -> RunResult:
        full_env = {**os.environ, **env}
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                env=full_env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.output.decode("utf-8", "replace") if isinstance(exc.output, bytes) else ""
            return RunResult(None, _tail(out), timed_out=True)
        except OSError as exc:  # not found, not executable
            return RunResult(None, "", error=f"cannot run {argv[0]}: {exc.strerror or exc}")
        return RunResult(done.returncode, _tail(done.stdout.decode("utf-8", "replace")))
