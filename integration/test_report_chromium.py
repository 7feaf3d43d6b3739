"""`shipsafe report` of a real rollback (the quick start's bad release on the rig), opened in
headless Chromium: it renders with no console message, no request leaves the file (the
browser's own network log says so), and the plot holds the series and the rollback marker
the store recorded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from integration.rig import Rig

BIN = Path(sys.executable).parent
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def shipsafe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {"NO_PROXY": "127.0.0.1,localhost", "SHIPSAFE_ACTOR": "oncall"}
    return subprocess.run([str(BIN / "shipsafe"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def chromium(page: Path, workdir: Path) -> tuple[str, str, list[dict[str, Any]]]:
    """The DOM after load, the browser's log, and the requests the page started."""
    netlog = workdir / "netlog.json"
    done = subprocess.run(
        ["chromium", *FLAGS, f"--user-data-dir={workdir / 'profile'}", "--enable-logging=stderr",
         "--v=0", f"--log-net-log={netlog}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    from_page = [
        e["params"] for e in log["events"]
        if names.get(e["type"]) == "URL_REQUEST_START_JOB"
        and "file://" in str(e.get("params", {}).get("network_isolation_key", ""))
    ]
    return done.stdout, done.stderr, from_page


@pytest.mark.integration
def test_the_report_of_a_rollback_renders_offline_with_its_series_and_marker(
    rig: Rig, tmp_path: Path
) -> None:
    rig.canary.set_faults(error_share=0.3)
    plan = rig.write_plan(name="bad.yaml", RIG_RELEASE="1.2.0")
    state = tmp_path / "state.db"
    deployed = shipsafe("deploy", str(plan), "--state", str(state), "-o", "json", cwd=tmp_path)
    assert deployed.returncode == 3, deployed.stdout[-2000:] + deployed.stderr
    made = shipsafe("report", "demo", "--state", str(state), "--out", "report.html",
                    "--png", "report.png", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    status = json.loads(shipsafe("status", "demo", "--state", str(state), "-o", "json",
                                 cwd=tmp_path).stdout)
    recorded = [e["data"] for e in status["events"] if e["type"] == "measurement"]

    dom, log, requests = chromium(tmp_path / "report.html", tmp_path)
    assert "CONSOLE" not in log, [line for line in log.splitlines() if "CONSOLE" in line]
    assert requests == [], requests  # nothing but the file itself
    assert "demo 1.2.0 → local: rolled back" in dom
    # the plot: the weight, each check's line, the failed readings, the marker of the trip
    # and of the restore, each an element of the rendered SVG
    for gid in ("series-weight", "series-error-rate", "threshold-error-rate",
                "marker-restored"):
        assert re.search(rf'<g id="{gid}"', dom), gid
    # what stopped it: a breaker's trip, or the failed analysis of a step
    assert re.search(r'<g id="marker-(breaker|failed)"', dom)
    failed = [d for d in recorded if d["metric"] == "error-rate" and d["phase"] == "failed"]
    group = re.search(r'<g id="failed-error-rate">(.*?)</g>\s*</g>', dom, re.S)
    assert group is not None and group.group(1).count("<use") == len(failed) > 0
    data = json.loads(re.search(r'id="shipsafe-data">(.*?)</script>', dom, re.S).group(1))  # type: ignore[union-attr]
    assert [r[1] for r in data["checks"]["error-rate"]["readings"]] == [
        d["value"] for d in recorded if d["metric"] == "error-rate"
    ]
    assert {m[1] for m in data["markers"]} & {"breaker", "failed"}
    assert data["weight"][-1][1] == 0  # traffic restored: the canary back at 0%
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"
