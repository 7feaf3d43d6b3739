"""The human output under a real terminal (tmux, captured with capture-pane): an incident
timeline with one clock, one live line per check updated in place (never appended), and
after a rollback no live line left behind."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.rig import Rig

STAMP = re.compile(r"^\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z) ")
CHECK_LINE = re.compile(r"^\s+error-rate\s+[▁▂▃▄▅▆▇█·]+\s")


class Terminal:
    """A tmux server of our own (its own socket): one window, 200x60."""

    def __init__(self) -> None:
        self.socket = f"shipsafe-test-{uuid.uuid4().hex[:8]}"

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True, text=True, timeout=10, check=True,
        )
        return done.stdout

    def run(self, argv: list[str], env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = f"env {exports} {shlex.join(argv)}; echo EXIT=$?; sleep 600"
        self.tmux("new-session", "-d", "-s", "t", "-x", "200", "-y", "60", command)

    def screen(self) -> list[str]:
        # -J joins the lines tmux wrapped at the window width back into the lines printed
        captured = self.tmux("capture-pane", "-p", "-J", "-t", "t")
        return [line.rstrip() for line in captured.splitlines()]

    def until_exit(self, timeout: float) -> tuple[int, list[str], list[list[str]]]:
        """Capture the pane until the command ends; every capture on the way is kept."""
        seen: list[list[str]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            done = [line for line in screen if line.startswith("EXIT=")]
            if done:
                return int(done[0].removeprefix("EXIT=")), screen, seen
            seen.append(screen)
            time.sleep(0.25)
        raise AssertionError(f"no exit after {timeout}s:\n" + "\n".join(self.screen()))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    try:
        yield term
    finally:
        term.close()


def deploy(term: Terminal, plan: Path, state: Path) -> tuple[int, list[str], list[list[str]]]:
    bindir = str(Path(sys.executable).parent)
    term.run(
        [str(Path(bindir) / "shipsafe"), "deploy", str(plan), "--state", str(state)],
        {"PATH": f"{bindir}:{os.environ.get('PATH', '')}", "NO_PROXY": "127.0.0.1,localhost",
         "SHIPSAFE_ACTOR": "oncall"},
    )
    return term.until_exit(180)


def timeline(screen: list[str]) -> list[str]:
    return [line for line in screen if line and not line.startswith("EXIT=")]


@pytest.mark.integration
def test_a_promoted_release_reads_as_a_timeline_with_live_check_lines(
    rig: Rig, terminal: Terminal, tmp_path: Path
) -> None:
    plan = rig.write_plan(name="good.yaml", RIG_RELEASE="1.1.0")
    code, screen, during = deploy(terminal, plan, tmp_path / "state.db")
    assert code == 0, "\n".join(screen)
    live = [s for s in during if any(CHECK_LINE.match(line) for line in s)]
    assert live, "no live check line was ever on screen"
    # in place: one error-rate line on screen at any time, however many measurements
    assert all(sum(bool(CHECK_LINE.match(line)) for line in s) == 1 for s in live)
    lines = timeline(screen)
    events = [line for line in lines if STAMP.match(line)]
    assert len(events) >= 20 and len(lines) <= 45, "\n".join(lines)
    # measurements are folded: the check lines come once, at the end, after the outcome
    assert [bool(CHECK_LINE.match(line)) for line in lines].count(True) == 1
    assert lines[-1].endswith("1.1.0 promoted")
    assert not [line for line in events if re.search(r"error-rate = ", line)]


@pytest.mark.integration
def test_a_rollback_leaves_the_cause_once_and_no_live_line_behind(
    rig: Rig, terminal: Terminal, tmp_path: Path
) -> None:
    rig.canary.set_faults(error_share=0.3)
    plan = rig.write_plan(name="bad.yaml", RIG_RELEASE="1.2.0")
    code, screen, _ = deploy(terminal, plan, tmp_path / "state.db")
    assert code == 3, "\n".join(screen)
    lines = timeline(screen)
    # the cause (a breaker's trip or a step's failed analysis) is said where it happened,
    # not again when the rollout ends
    assert "rolled_back - " in lines[-1], "\n".join(lines)
    cause = lines[-1].split("rolled_back - ", 1)[1]
    assert 1 <= sum(cause in line for line in lines[:-1]) <= 2, "\n".join(lines)
    assert [line for line in lines if " ■ " in line][-1].endswith("■ rolled back")
    assert sum("error-rate failing:" in line for line in lines) == 1
    # a live headline ("demo-...  progressing  step ...") never stays in the scrollback
    assert not [line for line in lines if "  progressing  step" in line], "\n".join(lines)
    assert lines[-1].startswith("demo-") and "rolled_back - " in lines[-1]
    assert all(STAMP.match(line) for line in lines if not line.startswith(("  ", "demo-")))
    assert rig.haproxy.weights() == {"stable": 100, "canary": 0}
