"""The composite GitHub Action, its steps run as a plain script against the rig: a bad
release is rolled back, the step fails with exit 3, and the outputs, the job summary and the
JUnit file say so."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from integration.rig import Rig

ACTION = Path(__file__).resolve().parents[1] / ".github" / "actions" / "shipsafe"
EXPRESSION = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}")


def run_action(inputs: dict[str, str], workspace: Path) -> tuple[int, str, dict[str, str]]:
    """Run the action's `run:` steps in order the way a runner does (bash, the step's env
    with `${{ inputs.X }}` filled in); `uses:` steps (setup-python) are the runner's job."""
    action = yaml.safe_load((ACTION / "action.yml").read_text())
    given = {k: v.get("default", "") for k, v in action["inputs"].items()} | inputs
    missing = [k for k, v in action["inputs"].items() if v.get("required") and k not in given]
    assert not missing, missing
    outputs_file = workspace / "github-output"
    base = dict(os.environ) | {
        "GITHUB_ACTION_PATH": str(ACTION),
        "GITHUB_OUTPUT": str(outputs_file),
        "GITHUB_STEP_SUMMARY": str(workspace / "step-summary.md"),
        "RUNNER_TEMP": str(workspace / "runner-temp"),
        # the install step reuses a venv that already holds shipsafe: this test's own
        "SHIPSAFE_VENV": sys.prefix,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    (workspace / "runner-temp").mkdir(exist_ok=True)
    output = ""
    code = 0
    for step in action["runs"]["steps"]:
        if "run" not in step:
            continue
        env = base | {
            k: EXPRESSION.sub(lambda m: given[m.group(1)], str(v))
            for k, v in (step.get("env") or {}).items()
        }
        done = subprocess.run(
            ["bash", "-c", step["run"]], cwd=workspace, env=env, capture_output=True,
            text=True, timeout=240,
        )
        output += done.stdout + done.stderr
        code = done.returncode
        if code != 0:
            break
    outputs = dict(
        line.split("=", 1) for line in outputs_file.read_text().splitlines() if "=" in line
    ) if outputs_file.exists() else {}
    return code, output, outputs


@pytest.mark.integration
def test_the_action_rolls_a_bad_release_back_and_fails_with_exit_3(
    rig: Rig, tmp_path: Path
) -> None:
    rig.canary.set_faults(error_share=0.3)
    plan = rig.write_plan(name="action-plan.yaml", RIG_RELEASE="0.0.0")
    code, output, outputs = run_action(
        {
            "plan": str(plan),
            "version": "1.2.0",
            "set": "metadata.labels.commit=abc123\n  metadata.labels.run=42\n",
            "state": str(tmp_path / "state.db"),
            "timeout": "3m",
            "junit": "junit.xml",
        },
        tmp_path,
    )
    assert code == 3, output
    assert "::error title=shipsafe rolled back::" in output
    assert outputs["exit-code"] == "3"
    assert outputs["phase"] == "rolled_back"
    assert outputs["rollout-id"].startswith("demo-")
    assert '"version": "1.2.0"' in output  # --set release.version from the version input
    assert "metadata.labels.run=42 (--set)" in output
    summary = (tmp_path / "step-summary.md").read_text()
    assert "demo 1.2.0 → local: rolled back" in summary
    assert re.search(r"\*\*Cause:\*\* (breaker|analysis) ", summary), summary
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert int(suite.get("failures", "0")) >= 2
    assert rig.haproxy.weights() == {"stable": 100, "canary": 0}
