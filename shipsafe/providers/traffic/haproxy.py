"""HAProxy over its runtime API (stats socket at admin level, unix path or TCP).

Percent is mapped to absolute server weights: canary = p, stable = 100 - p (HAProxy takes
0-256; `50%` forms are relative to the configured weight and would leave a server configured
at 0 stuck there). Both weights are sent in one connection (`cmd; cmd`); HAProxy runs them one
after the other, within a millisecond, and does not undo the first when the second fails, so
both server names are checked before the first write. Any non-blank answer to `set weight` is
an error (HAProxy answers errors as text). Transient socket errors are retried with tenacity
for `retryFor`, or for `retry_budget` when the engine sets a shorter one (while breakers are
watched, a router call must not hold up their measurements); `before_write`, when set, is
called before every attempt of a write (the engine's fence: a stale driver sends nothing).

The transport is a seam: `socket_factory` (default: the configured unix path or TCP address)
returns a connected socket-like object (`sendall`, `recv`, `close`); tests hand in a fake
runtime API. Whatever it raises (OSError) is translated here like a real socket's error.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from shipsafe.errors import ConfigurationError, ProviderError, TransientProviderError
from shipsafe.plan.targets import HAProxyTarget

# how long preflight retries a refused or missing runtime socket
PREFLIGHT_RETRY_SECONDS = 2.0
_WEIGHT = re.compile(r"^\s*(\d+)")
_NAME = re.compile(r"^[A-Za-z0-9._:-]+$")


class HAProxyRouter:
    name = "haproxy"

    def __init__(
        self, target: HAProxyTarget, socket_factory: Callable[[], Any] | None = None
    ) -> None:
        for label, value in (
            ("backend", target.backend),
            ("stable", target.stable),
            ("canary", target.canary),
        ):
            if not _NAME.match(value):
                raise ConfigurationError(f"haproxy: {label} {value!r} is not a valid name")
        self.target = target
        self._socket_factory = socket_factory or self._open_socket
        self._retry_for = target.retry_for
        # HAProxy runs `cmd; cmd` one by one: with a misnamed server the other weight would
        # still change. Both servers are read once (which names the missing one) before the
        # first write.
        self._servers_verified = False
        # set by the engine (engine/lease.py): a shorter retry while breakers are watched,
        # and the fence checked before each write attempt
        self.retry_budget: float | None = None
        self.before_write: Callable[[], None] | None = None

    # transport ----------------------------------------------------------------------------
    def _endpoint(self) -> str:
        return self.target.socket or self.target.address or "?"

    def _open_socket(self) -> socket.socket:
        t = self.target
        if t.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(t.timeout)
                sock.connect(t.socket)
            except BaseException:
                sock.close()  # a refused connect would otherwise leak the socket
                raise
            return sock
        assert t.address is not None
        host, _, port = t.address.rpartition(":")
        sock = socket.create_connection((host, int(port)), timeout=t.timeout)
        sock.settimeout(t.timeout)
        return sock

    def _connect(self) -> Any:
        try:
            return self._socket_factory()
        except (
            FileNotFoundError,
            ConnectionRefusedError,
            ConnectionResetError,
            TimeoutError,
        ) as exc:
            raise TransientProviderError(
                f"haproxy runtime API {self._endpoint()} unreachable: {exc.strerror or exc}"
            ) from exc
        except PermissionError as exc:
            raise ProviderError(
                f"haproxy runtime API {self._endpoint()}: permission denied"
            ) from exc
        except (OSError, ValueError) as exc:
            raise ProviderError(f"haproxy runtime API {self._endpoint()}: {exc}") from exc

    def _once(self, command: str) -> str:
        sock = self._connect()
        try:
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError, TimeoutError) as exc:
            raise TransientProviderError(
                f"haproxy runtime API {self._endpoint()}: {exc.strerror or exc}"
            ) from exc
        except OSError as exc:
            raise ProviderError(f"haproxy runtime API {self._endpoint()}: {exc}") from exc
        finally:
            sock.close()
        return b"".join(chunks).decode(errors="replace")

    def command(self, command: str) -> str:
        """One runtime API command (or several joined by '; '), retried while transient."""
        retry_for = self._retry_for
        if self.retry_budget is not None:
            retry_for = min(retry_for, self.retry_budget)
        write = command.startswith("set ")
        retrying = Retrying(
            retry=retry_if_exception_type(TransientProviderError),
            stop=stop_after_delay(retry_for),
            wait=wait_exponential(multiplier=0.05, max=min(1.0, max(retry_for / 4, 0.05))),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                if write and self.before_write is not None:
                    self.before_write()
                return self._once(command)
        raise AssertionError("unreachable")  # pragma: no cover

    # reading ------------------------------------------------------------------------------
    def _server_weight(self, server: str) -> int:
        answer = self.command(f"get weight {self.target.backend}/{server}").strip()
        match = _WEIGHT.match(answer)
        if match is None:
            if "No such" in answer or "not found" in answer.lower():
                raise ConfigurationError(
                    f"haproxy: server {server!r} is not in backend {self.target.backend!r} "
                    f"({answer.splitlines()[0] if answer else 'no answer'})"
                )
            raise ProviderError(f"haproxy: get weight {server}: {answer or 'no answer'}")
        return int(match.group(1))

    def weights(self) -> dict[str, int]:
        weights = {
            self.target.stable: self._server_weight(self.target.stable),
            self.target.canary: self._server_weight(self.target.canary),
        }
        self._servers_verified = True
        return weights

    def get_weight(self) -> int:
        w = self.weights()
        stable, canary = w[self.target.stable], w[self.target.canary]
        if stable + canary == 0:
            raise ProviderError(
                f"haproxy: both {self.target.stable} and {self.target.canary} have weight 0"
            )
        return round(100 * canary / (stable + canary))

    def read_state(self) -> dict[str, Any]:
        return {"backend": self.target.backend, "weights": self.weights()}

    def config(self) -> dict[str, Any]:
        return dict(self.target.model_dump(mode="json", by_alias=True))

    # checks -------------------------------------------------------------------------------
    def check(self) -> None:
        """Both servers exist and accept dynamic weights (set each to its current weight).

        Before anything has changed, a socket that is not there is most likely a wrong path:
        retry only briefly, so the user hears so in seconds rather than after retryFor."""
        saved = self._retry_for
        self._retry_for = min(saved, PREFLIGHT_RETRY_SECONDS)
        try:
            weights = self.weights()
            for server, weight in weights.items():
                self._set({server: weight}, what="preflight")
        finally:
            self._retry_for = saved

    # writing ------------------------------------------------------------------------------
    def _set(self, weights: dict[str, int], what: str = "set weight") -> None:
        for server, weight in weights.items():
            if not 0 <= weight <= 256:
                raise ProviderError(f"haproxy: weight {weight} for {server} is outside 0-256")
        if not self._servers_verified:
            self.weights()  # raises ConfigurationError naming a server not in the backend
        command = "; ".join(
            f"set weight {self.target.backend}/{server} {weight}"
            for server, weight in weights.items()
        )
        answer = self.command(command).strip()
        if answer:
            first = answer.splitlines()[0]
            if "static" in answer.lower():
                raise ConfigurationError(
                    f"haproxy: backend {self.target.backend!r} refuses dynamic weights ({first});"
                    " use balance roundrobin or leastconn"
                )
            if "No such" in answer:
                raise ConfigurationError(f"haproxy: {first}")
            raise ProviderError(f"haproxy: {what}: {first}")

    def set_weight(self, canary_percent: int) -> None:
        if not 0 <= canary_percent <= 100:
            raise ProviderError(f"haproxy: canary weight {canary_percent}% is outside 0-100")
        self._set({self.target.canary: canary_percent, self.target.stable: 100 - canary_percent})

    def restore(self, state: dict[str, Any]) -> None:
        weights = state.get("weights")
        if not isinstance(weights, dict) or set(weights) != {
            self.target.stable,
            self.target.canary,
        }:
            raise ProviderError(f"haproxy: snapshot does not describe this backend: {state}")
        self._set({str(k): int(v) for k, v in weights.items()}, what="restore")


def build(config: dict[str, Any], name: str) -> HAProxyRouter:
    return HAProxyRouter(HAProxyTarget.model_validate(config))
