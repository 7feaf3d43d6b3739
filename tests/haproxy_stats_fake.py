"""A fake HAProxy runtime API answering `show stat` like HAProxy 2.6 does: CSV with a `# `
header, one line per server, cumulative counters that a test (or a fake clock) makes grow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# the columns shipsafe reads, among others HAProxy sends (order as in 2.6)
COLUMNS = [
    "pxname", "svname", "qcur", "scur", "stot", "econ", "eresp", "weight", "status",
    "req_tot", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other",
    "rtime", "ttime",
]  # fmt: skip


@dataclass
class Server:
    requests: int = 0  # answered (req_tot)
    errors: int = 0  # of them 5xx (hrsp_5xx)
    refused: int = 0  # connection errors (econ): in neither count
    rtime_ms: int = 10


class FakeHAProxyStats:
    """Callable transport: command -> answer. `traffic(seconds)` lets requests flow."""

    def __init__(self, backend: str = "demo", servers: tuple[str, ...] = ("stable", "canary")):
        self.backend = backend
        self.servers = {name: Server() for name in servers}
        self.commands: list[str] = []
        self.answer_override: str | None = None
        self.on_read: Callable[[], None] | None = None  # e.g. advance counters with a clock

    def serve(self, server: str, requests: int, errors: int = 0, refused: int = 0) -> None:
        s = self.servers[server]
        s.requests += requests
        s.errors += errors
        s.refused += refused

    def __call__(self, command: str) -> str:
        self.commands.append(command)
        if self.answer_override is not None:
            return self.answer_override
        if self.on_read is not None:
            self.on_read()
        if command.split()[:3] != ["show", "stat", self.backend]:
            return "No such proxy.\n\n"
        lines = ["# " + ",".join(COLUMNS) + ","]
        for name, s in self.servers.items():
            row = {c: "0" for c in COLUMNS}
            row.update(
                pxname=self.backend,
                svname=name,
                req_tot=str(s.requests),
                hrsp_2xx=str(s.requests - s.errors),
                hrsp_5xx=str(s.errors),
                econ=str(s.refused),
                rtime=str(s.rtime_ms),
                status="UP",
            )
            lines.append(",".join(row[c] for c in COLUMNS) + ",")
        return "\n".join(lines) + "\n\n"
