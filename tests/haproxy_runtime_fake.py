"""A fake HAProxy runtime API for `get weight` / `set weight`, answering as HAProxy 2.6 does
(`50 (initial 100)`, an empty line for a set, `No such server.`), behind the router's
socket factory: one socket-like object a connection, the command sent, then the answer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeRuntime:
    backend: str = "demo"
    weights: dict[str, int] = field(default_factory=lambda: {"stable": 100, "canary": 0})
    commands: list[str] = field(default_factory=list)

    def answer(self, line: str) -> str:
        out = []
        for command in line.strip().split("; "):
            self.commands.append(command)
            words = command.split()
            backend, _, server = (words[2] if len(words) > 2 else "").partition("/")
            if backend != self.backend:
                out.append("No such backend.\n")
            elif server not in self.weights:
                out.append("No such server.\n")
            elif words[:2] == ["get", "weight"]:
                out.append(f"{self.weights[server]} (initial 1)\n")
            elif words[:2] == ["set", "weight"] and len(words) == 4:
                self.weights[server] = int(words[3])
                out.append("\n")
            else:
                out.append("Unknown command.\n")
        return "".join(out)

    def connect(self) -> FakeSocket:
        return FakeSocket(self)


class FakeSocket:
    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime
        self.pending = b""
        self.closed = False

    def sendall(self, data: bytes) -> None:
        self.pending = self.runtime.answer(data.decode()).encode()

    def recv(self, size: int) -> bytes:
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk

    def close(self) -> None:
        self.closed = True
