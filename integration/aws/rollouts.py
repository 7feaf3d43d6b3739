"""Plans from plans/aws-*.yaml made concrete for the moto server, and shipsafe run on them."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from integration.shipsafe_cli import Finished, Running

PLANS = Path(__file__).resolve().parents[2] / "plans"
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render_plan(
    name: str,
    values: dict[str, str],
    out: Path,
    *,
    service: str | None = None,
    pause: str | None = "1s",
    interval: str = "1s",
) -> Path:
    """plans/<name>.yaml with its ${...} filled in, its waits shortened for a test run."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"plans/{name}.yaml needs ${{{key}}}")
        return values[key]

    text = _PLACEHOLDER.sub(fill, (PLANS / f"{name}.yaml").read_text())
    plan: dict[str, Any] = yaml.safe_load(text)
    if service:
        plan["metadata"]["service"] = service
    for template in plan.get("analysis", {}).values():
        template["interval"] = interval
        template.pop("initialDelay", None)
    for snap in plan.get("dataSnapshots", {}).values():
        snap["pollInterval"] = "1s"
    for step in plan["steps"]:
        if "pause" in step and pause is not None:
            step["pause"] = {"duration": pause}
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


class Shipsafe:
    """`python -m shipsafe` against one DynamoDB table on the moto server."""

    def __init__(self, env: dict[str, str], table: str, audit_log: Path) -> None:
        self.env = {
            **env,
            "SHIPSAFE_STATE": f"dynamodb://{table}",
            "SHIPSAFE_OUTPUT": "json",
            "SHIPSAFE_AUDIT_LOG": str(audit_log),
        }

    def start(self, *args: str, actor: str = "deployer") -> Running:
        env = {**self.env, "SHIPSAFE_ACTOR": actor}
        return Running([sys.executable, "-m", "shipsafe", *args], env)

    def run(self, *args: str, actor: str = "deployer", timeout: float = 90) -> Finished:
        return self.start(*args, actor=actor).wait(timeout)

    def init_store(self) -> Finished:
        argv = [sys.executable, "-m", "shipsafe", "store", "init"]
        return Running(argv, self.env).wait(60)
