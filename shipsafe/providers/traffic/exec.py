"""A router driven by your own commands, for routers shipsafe has no module for (nginx,
Envoy, a service mesh CLI...). Argument lists run without a shell; `{weight}` in `setWeight`
is replaced by the canary percent; `getWeight` prints the canary percent on stdout.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.plan.targets import ExecTarget


class ExecRouter:
    name = "exec"

    def __init__(self, target: ExecTarget) -> None:
        self.target = target

    def _run(self, argv: list[str]) -> str:
        env = dict(os.environ)
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self.target.timeout,
                env=env,
                check=False,
            )
        except FileNotFoundError as exc:
            raise ConfigurationError(f"exec router: command not found: {argv[0]}") from exc
        except PermissionError as exc:
            raise ConfigurationError(
                f"exec router: cannot run {argv[0]}: permission denied"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise ProviderError(
                f"exec router: {argv[0]} did not finish within {self.target.timeout:g}s"
            ) from exc
        if done.returncode != 0:
            err = (done.stderr or done.stdout).strip().splitlines()
            raise ProviderError(
                f"exec router: {argv[0]} exited {done.returncode}"
                + (f": {err[-1][:200]}" if err else "")
            )
        return done.stdout

    def check(self) -> None:
        self.get_weight()

    def get_weight(self) -> int:
        out = self._run(self.target.get_weight).strip()
        try:
            weight = int(float(out.split()[0]))
        except (ValueError, IndexError) as exc:
            raise ProviderError(
                f"exec router: getWeight printed {out[:40]!r}, not a canary percent"
            ) from exc
        if not 0 <= weight <= 100:
            raise ProviderError(f"exec router: getWeight printed {weight}, outside 0-100")
        return weight

    def set_weight(self, canary_percent: int) -> None:
        if not 0 <= canary_percent <= 100:
            raise ProviderError(f"exec router: canary weight {canary_percent}% is outside 0-100")
        argv = [arg.replace("{weight}", str(canary_percent)) for arg in self.target.set_weight]
        self._run(argv)

    def read_state(self) -> dict[str, Any]:
        return {"weight": self.get_weight()}

    def restore(self, state: dict[str, Any]) -> None:
        weight = state.get("weight")
        if not isinstance(weight, int):
            raise ProviderError(f"exec router: snapshot has no weight: {state}")
        self.set_weight(weight)

    def config(self) -> dict[str, Any]:
        return dict(self.target.model_dump(mode="json", by_alias=True))


def build(config: dict[str, Any], name: str) -> ExecRouter:
    return ExecRouter(ExecTarget.model_validate(config))
