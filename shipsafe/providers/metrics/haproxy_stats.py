"""HAProxy's own per-server counters, read with `show stat` over the runtime API.

`show stat BACKEND 4 -1` answers one CSV line per server of the backend (the header starts
with `# `) in about half a millisecond. The counters are cumulative since HAProxy started:

    req_tot          HTTP requests the server answered
    hrsp_5xx         of them, answers 500-599
    econ, eresp      requests that never got an answer: the connection to the server failed
                     (users got a 503) or the answer broke off (a 502). HAProxy counts them
                     in neither req_tot nor hrsp_5xx (measured on 2.6.12), so they are added
                     to both requests and errors here.
    rtime            mean response time in ms over the server's last 1024 requests

The transport is a seam: `RuntimeSocket` is the real one (one command per connection, a short
timeout, no retry: a failed read is an error measurement, and the next read is 250 ms away);
tests hand in a function that answers like HAProxy does.
"""

from __future__ import annotations

import csv
import io
import re
import socket
from collections.abc import Callable
from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError, TransientProviderError
from shipsafe.providers.metrics.counters import Counters

# One runtime API command -> its raw answer. Raises ProviderError.
Transport = Callable[[str], str]

_NAME = re.compile(r"^[A-Za-z0-9._:-]+$")
_NUMBERS = ("req_tot", "hrsp_5xx", "econ", "eresp")


class RuntimeSocket:
    """The runtime API over a unix socket path or a TCP host:port: one command a connection."""

    def __init__(self, socket_path: str | None, address: str | None, timeout: float) -> None:
        self.socket_path = socket_path
        self.address = address
        self.timeout = timeout

    @property
    def endpoint(self) -> str:
        return self.socket_path or self.address or "?"

    def __call__(self, command: str) -> str:
        try:
            if self.socket_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.socket_path)
                except BaseException:
                    sock.close()
                    raise
            else:
                host, _, port = (self.address or "").rpartition(":")
                sock = socket.create_connection((host, int(port)), timeout=self.timeout)
        except (OSError, ValueError) as exc:
            raise TransientProviderError(
                f"haproxy runtime API {self.endpoint} unreachable: "
                f"{getattr(exc, 'strerror', None) or exc}"
            ) from exc
        try:
            sock.settimeout(self.timeout)
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError as exc:
            raise TransientProviderError(
                f"haproxy runtime API {self.endpoint}: {exc.strerror or exc}"
            ) from exc
        finally:
            sock.close()
        return b"".join(chunks).decode(errors="replace")


class HAProxyStats:
    """Reads the cumulative counters of two servers of one backend."""

    cumulative = True  # counters grow from HAProxy's start: readings are deltas of them

    def __init__(self, transport: Transport, backend: str, servers: tuple[str, str]) -> None:
        for value in (backend, *servers):
            if not _NAME.match(value):
                raise ConfigurationError(f"haproxy: {value!r} is not a valid name")
        self.transport = transport
        self.backend = backend
        self.servers = servers

    @property
    def command(self) -> str:
        return f"show stat {self.backend} 4 -1"

    def read(self, window_seconds: float) -> dict[str, Counters]:
        """Every named server's counters now (`window_seconds` is for windowed readers)."""
        answer = self.transport(self.command)
        rows = _rows(answer, self.backend)
        found: dict[str, Counters] = {}
        for row in rows:
            if row.get("pxname") == self.backend and row.get("svname") in self.servers:
                found[row["svname"]] = _counters(row, self.backend)
        missing = [s for s in self.servers if s not in found]
        if missing:
            raise ConfigurationError(
                f"haproxy: server {missing[0]!r} is not in backend {self.backend!r} "
                f"(show stat lists {', '.join(r.get('svname', '?') for r in rows) or 'none'})"
            )
        return found


def _rows(answer: str, backend: str) -> list[dict[str, str]]:
    text = answer.strip()
    if not text.startswith("# "):
        first = text.splitlines()[0] if text else "no answer"
        if "No such proxy" in text:
            raise ConfigurationError(f"haproxy: no backend {backend!r} ({first})")
        raise ProviderError(f"haproxy: show stat {backend}: {first[:200]}")
    reader = csv.DictReader(io.StringIO(text[2:]))
    if reader.fieldnames is None or not set(_NUMBERS) <= set(reader.fieldnames):
        raise ProviderError(f"haproxy: show stat {backend}: the answer lacks {', '.join(_NUMBERS)}")
    return list(reader)


def _counters(row: dict[str, Any], backend: str) -> Counters:
    where = f"haproxy: show stat {backend}/{row.get('svname')}"
    values: dict[str, int] = {}
    for name in _NUMBERS:
        raw = (row.get(name) or "").strip()
        if not raw.isdigit():
            hint = " (is the backend in mode http?)" if name == "hrsp_5xx" else ""
            raise ProviderError(f"{where}: {name} is {raw!r}, not a count{hint}")
        values[name] = int(raw)
    rtime = (row.get("rtime") or "").strip()
    failed = values["econ"] + values["eresp"]
    return Counters(
        requests=values["req_tot"] + failed,
        errors=values["hrsp_5xx"] + failed,
        latency=int(rtime) / 1000 if rtime.isdigit() else None,
    )


def build_reader(target: dict[str, Any], transport: Transport | None = None) -> HAProxyStats:
    """A reader for a plan's `target.haproxy` settings (its socket or address)."""
    stable, canary = str(target["stable"]), str(target["canary"])
    if transport is None:
        transport = RuntimeSocket(
            target.get("socket"), target.get("address"), float(target.get("timeout") or 2.0)
        )
    return HAProxyStats(transport, str(target["backend"]), (stable, canary))
