"""HAProxy for the rig: one frontend, one backend (stable + canary, roundrobin), the runtime
API on a unix socket and on a loopback TCP port (both admin level), and the built-in
Prometheus exporter on its own frontend.

`weights()` reads the servers' weights over the runtime API with its own few lines of socket
code, so tests check HAProxy itself, not shipsafe's router talking to itself.
"""

from __future__ import annotations

import socket
from pathlib import Path

from integration.rig.processes import ManagedProcess, find_binary
from integration.rig.waiting import wait_until

BACKEND = "demo"
STABLE = "stable"
CANARY = "canary"
INITIAL_WEIGHTS = {STABLE: 100, CANARY: 0}

CONFIG = """\
global
    log stderr format raw local0 warning
    stats socket {socket} mode 600 level admin
    stats socket ipv4@127.0.0.1:{runtime_port} level admin
    stats timeout 10s

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend web
    bind 127.0.0.1:{http_port}
    default_backend {backend}

backend {backend}
    balance roundrobin
    server {stable} 127.0.0.1:{stable_port} weight {stable_weight}
    server {canary} 127.0.0.1:{canary_port} weight {canary_weight}

frontend metrics
    bind 127.0.0.1:{metrics_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request return status 404
"""


class HAProxy:
    def __init__(
        self,
        workdir: Path,
        http_port: int,
        metrics_port: int,
        runtime_port: int,
        stable_port: int,
        canary_port: int,
    ) -> None:
        self.http_port = http_port
        self.metrics_port = metrics_port
        self.runtime_port = runtime_port
        self.socket = workdir / "haproxy-admin.sock"
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(
            CONFIG.format(
                socket=self.socket,
                runtime_port=runtime_port,
                http_port=http_port,
                metrics_port=metrics_port,
                backend=BACKEND,
                stable=STABLE,
                canary=CANARY,
                stable_port=stable_port,
                canary_port=canary_port,
                stable_weight=INITIAL_WEIGHTS[STABLE],
                canary_weight=INITIAL_WEIGHTS[CANARY],
            )
        )
        binary = find_binary("haproxy") or "haproxy"
        self.process = ManagedProcess(
            "haproxy", [binary, "-db", "-f", str(self.config_path)], workdir / "haproxy.log"
        )

    @property
    def address(self) -> str:
        """host:port of the TCP runtime API."""
        return f"127.0.0.1:{self.runtime_port}"

    def start(self, timeout: float = 10.0) -> None:
        self.process.start()
        wait_until(self._answers, f"haproxy runtime API at {self.socket}", timeout)

    def _answers(self) -> bool:
        self.process.check_alive()
        return "Name: HAProxy" in self.command("show info")

    def stop(self) -> None:
        self.process.stop()

    def command(self, command: str, timeout: float = 2.0) -> str:
        """One runtime API command over the unix socket; the raw answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def weight(self, server: str) -> int:
        answer = self.command(f"get weight {BACKEND}/{server}").strip()
        try:
            return int(answer.split()[0])
        except (IndexError, ValueError):
            raise RuntimeError(f"haproxy: get weight {server}: {answer!r}") from None

    def weights(self) -> dict[str, int]:
        """{"stable": w, "canary": w} as HAProxy has them now."""
        return {STABLE: self.weight(STABLE), CANARY: self.weight(CANARY)}

    def set_weights(self, weights: dict[str, int]) -> None:
        """Put weights back between tests (the rig's own reset, not shipsafe's)."""
        for server, weight in weights.items():
            answer = self.command(f"set weight {BACKEND}/{server} {weight}").strip()
            if answer:
                raise RuntimeError(f"haproxy: set weight {server} {weight}: {answer}")

    def reset(self) -> None:
        self.set_weights(INITIAL_WEIGHTS)
