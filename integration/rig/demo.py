"""A running demo service version (stable or canary), seen from the rig."""

from __future__ import annotations

import sys
from pathlib import Path

from integration.rig import web
from integration.rig.processes import ManagedProcess
from integration.rig.waiting import wait_until

SCRIPT = Path(__file__).with_name("demo_service.py")


class DemoService:
    def __init__(self, name: str, port: int, workdir: Path) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = ManagedProcess(
            f"demo-{name}",
            [sys.executable, "-I", str(SCRIPT), "--name", name, "--port", str(port)],
            workdir / f"demo-{name}.log",
        )

    def start(self, timeout: float = 10.0) -> None:
        self.process.start()
        wait_until(self._healthy, f"demo service {self.name} on :{self.port}", timeout)

    def _healthy(self) -> bool:
        self.process.check_alive()
        status, _ = web.get(f"{self.url}/healthz", timeout=1)
        return status == 200

    def stop(self) -> None:
        self.process.stop()

    def set_faults(self, error_share: float = 0.0, latency_ms: float = 0.0) -> dict[str, float]:
        """Switch faults on the running service (no restart). Both 0 switches them off."""
        result: dict[str, float] = web.post_json(
            f"{self.url}/admin/faults", {"errorShare": error_share, "latencyMs": latency_ms}
        )
        return result

    def faults(self) -> dict[str, float]:
        result: dict[str, float] = web.get_json(f"{self.url}/admin/faults")
        return result
