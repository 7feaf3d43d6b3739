"""Prometheus for the rig: scrapes HAProxy's exporter and both demo services every second,
with a fresh TSDB directory; can be stopped and started again mid-test (same data)."""

from __future__ import annotations

import math
import urllib.parse
from pathlib import Path
from typing import Any

from integration.rig import web
from integration.rig.processes import ManagedProcess, find_binary
from integration.rig.waiting import wait_until

SCRAPE_INTERVAL = "1s"

CONFIG = """\
global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: haproxy
    static_configs:
      - targets: ["127.0.0.1:{haproxy_metrics_port}"]
  - job_name: demo
    static_configs:
      - targets: ["127.0.0.1:{stable_port}"]
        labels: {{server: stable}}
      - targets: ["127.0.0.1:{canary_port}"]
        labels: {{server: canary}}
"""


class Prometheus:
    def __init__(
        self,
        workdir: Path,
        port: int,
        haproxy_metrics_port: int,
        stable_port: int,
        canary_port: int,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config_path = workdir / "prometheus.yml"
        self.data_dir = workdir / "prometheus-data"
        self.config_path.write_text(
            CONFIG.format(
                interval=SCRAPE_INTERVAL,
                haproxy_metrics_port=haproxy_metrics_port,
                stable_port=stable_port,
                canary_port=canary_port,
            )
        )
        binary = find_binary("prometheus") or "prometheus"
        self.process = ManagedProcess(
            "prometheus",
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            workdir / "prometheus.log",
        )

    def start(self, timeout: float = 30.0) -> None:
        self.process.start()
        wait_until(self._ready, f"prometheus ready on :{self.port}", timeout)

    def _ready(self) -> bool:
        self.process.check_alive()
        status, _ = web.get(f"{self.url}/-/ready", timeout=1)
        return status == 200

    def stop(self) -> None:
        self.process.stop()

    @property
    def running(self) -> bool:
        return self.process.alive

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; the raw `data.result` vector."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        answer = web.get_json(url, timeout=3)
        if answer.get("status") != "success":
            raise RuntimeError(f"prometheus: {promql}: {answer}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, promql: str) -> float | None:
        """One number (None for an empty answer or NaN); several series is an error."""
        result = self.query(promql)
        if not result:
            return None
        if len(result) > 1:
            raise RuntimeError(f"prometheus: {promql} gave {len(result)} series")
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def wait_for_targets(self, timeout: float = 30.0) -> None:
        """Every target scraped successfully at least once and its samples queryable."""

        def all_up() -> bool:
            up = self.query("up")
            return len(up) == 3 and all(sample["value"][1] == "1" for sample in up)

        wait_until(all_up, "prometheus to scrape haproxy and both demo services", timeout, 0.25)
