"""The AWS CLI (`aws`, from the awscli package) as an independent witness: the tests read
what shipsafe did through it, never through shipsafe's own code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def _aws_command() -> list[str]:
    beside = Path(sys.executable).with_name("aws")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("aws")
    if found:
        return [found]
    return [sys.executable, "-m", "awscli"]


class AwsCli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.argv = _aws_command()

    def __call__(self, *args: str) -> Any:
        # --endpoint-url as well as AWS_ENDPOINT_URL: awscli 1.45's rds commands ignored the
        # variable (they went to https://rds.amazonaws.com/)
        endpoint = ["--endpoint-url", self.env["AWS_ENDPOINT_URL"]]
        done = subprocess.run(
            [*self.argv, *args, *endpoint, "--output", "json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None
