"""Child processes of the rig: started with a log file, stopped for sure.

Every child gets a parent-death signal (util-linux `setpriv --pdeathsig`, in every Debian),
so even a rig owner killed with SIGKILL leaves nothing running. Children run in their own
session: a Ctrl-C in the terminal reaches the owner only, which then stops them in order.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from integration.rig.waiting import StopWaiting


def find_binary(name: str) -> str | None:
    """`name` on PATH, or in the sbin/bin directories Debian installs to (not on a user's PATH)."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _with_parent_death_signal(argv: list[str]) -> list[str]:
    setpriv = find_binary("setpriv")
    if setpriv is None:  # not Linux/util-linux: the owner's cleanup is the only guard
        return argv
    return [setpriv, "--pdeathsig", "TERM", "--", *argv]


class ProcessExited(StopWaiting):
    """A rig process ended on its own; the message holds the end of its log."""


class ManagedProcess:
    """One child process with its output in `log_path`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        if self.alive:
            return
        with open(self.log_path, "ab") as log:
            self._popen = subprocess.Popen(
                _with_parent_death_signal(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env} if self.env else None,
                cwd=self.cwd,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def check_alive(self) -> None:
        """Raise with the end of its log if the process has exited."""
        if self._popen is None:
            raise ProcessExited(f"{self.name} was never started")
        code = self._popen.poll()
        if code is not None:
            raise ProcessExited(f"{self.name} exited with code {code}:\n{self.log_tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; reaps the child. Safe to call twice."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            try:
                popen.send_signal(signal.SIGTERM)
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        self._popen = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
