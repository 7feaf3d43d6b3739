"""`status` as an incident summary: the cause in the header, the canary weight live or
recorded (and which), 0% after a rollback, one clock, per-check sparklines, --tail."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shipsafe.errors import ProviderError
from tests.fakes import FakeProviders
from tests.test_cli import FAST, json_lines, run, write_plan

STAMP = re.compile(r"^\d\d:\d\d:\d\dZ ")


def rolled_back(env: Path, fakes: FakeProviders) -> str:
    fakes.metrics_instance.answer = 0.25
    result = run("deploy", write_plan(env, FAST), "-o", "json")
    assert result.exit_code == 3
    return str(json_lines(result.output)[0]["rollout_id"])


def test_the_header_names_the_cause_and_the_canary_is_0_after_a_rollback(
    env: Path, fakes: FakeProviders
) -> None:
    rolled_back(env, fakes)
    fakes.router_instance.fail["get"] = ProviderError("socket refused")
    result = run("status", "checkout", "--utc")
    assert result.exit_code == 0, result.output
    header = result.output.split("  history")[0]
    assert re.search(r"cause\s+breaker error-rate tripped", header)
    assert re.search(
        r"canary\s+0% \(recorded at \d\d:\d\d:\d\dZ; restored to the snapshot; "
        r"haproxy did not answer: ProviderError: socket refused\)", header
    ), header


def test_the_canary_is_read_live_when_the_router_answers(
    env: Path, fakes: FakeProviders
) -> None:
    result = run("deploy", write_plan(env, "steps:\n  - setWeight: 10\n  - pause: {}\n"),
                 "--detach")
    assert result.exit_code == 4
    fakes.router_instance.weights = {"stable": 70, "canary": 30}  # someone moved it since
    shown = run("status", "checkout")
    assert re.search(r"canary\s+30% \(live: read from haproxy now\)", shown.output), shown.output
    doc = json.loads(run("status", "checkout", "-o", "json").output)
    assert doc["canary"]["weight"] == 30 and doc["canary"]["source"] == "live"


def test_each_check_is_one_line_with_its_sparkline_and_history_has_no_measurement_lines(
    env: Path, fakes: FakeProviders
) -> None:
    run("deploy", write_plan(env, FAST))
    result = run("status", "checkout", "--utc")
    checks = result.output.split("  checks")[1].split("  history")[0].strip().splitlines()
    assert len(checks) == 1 and checks[0].split()[0] == "error-rate"
    assert re.search(r"[▁▂▃▄▅▆▇█]+ +0\.001 ✓ +\d+ measured, 0 failed", checks[0])
    history = result.output.split("  history")[1].strip().splitlines()
    assert history and all(STAMP.match(line) for line in history), history
    # measurements ("error-rate: 0.001 meets ...") live in checks; a notice may name the check
    assert not any("error-rate:" in line for line in history)


def test_tail_shows_only_the_last_lines_of_the_history(env: Path, fakes: FakeProviders) -> None:
    rolled_back(env, fakes)
    full = run("status", "checkout").output.split("  history")[1].strip().splitlines()
    result = run("status", "checkout", "--tail", "3")
    _, _, rest = result.output.partition("  history")
    lines = rest.strip().splitlines()
    assert lines[0] == f"(last 3 of {len(full)} lines)"
    assert lines[1:] == full[-3:]
