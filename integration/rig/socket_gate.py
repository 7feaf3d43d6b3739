"""A unix-socket relay in front of HAProxy's runtime API that can refuse connections.

Plans that should meet a flaky runtime API point at `gate.path` instead of HAProxy's own
socket. `refuse_for(seconds)` makes connects fail with ECONNREFUSED (the path stays, bound
but not listening: exactly what a restarting HAProxy looks like), then listening resumes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path


class SocketGate:
    def __init__(self, path: Path, upstream: Path) -> None:
        self.path = path
        self.upstream = upstream
        self.relayed = 0  # connections passed through
        self.refusing_since: float | None = None
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._placeholder: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        self._listen()
        self._thread = threading.Thread(target=self._serve, name="socket-gate", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed under us by refuse_for
                continue
            self.relayed += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        """One runtime API exchange: the command up, the answer down, then close."""
        with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            client.settimeout(5)
            upstream.settimeout(5)
            try:
                upstream.connect(str(self.upstream))
                request = b""
                while not request.endswith(b"\n"):
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    request += chunk
                upstream.sendall(request)
                while chunk := upstream.recv(65536):
                    client.sendall(chunk)
            except OSError:
                pass  # the client sees a closed connection, as with a dying HAProxy

    def refuse(self) -> None:
        """From now on, connects are refused (until `accept`)."""
        with self._lock:
            if self._listener is None:
                return
            self._listener.close()
            self._listener = None
            os.unlink(self.path)
            placeholder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            placeholder.bind(str(self.path))  # bound, never listening: ECONNREFUSED
            self._placeholder = placeholder
            self.refusing_since = time.monotonic()

    def accept(self) -> None:
        with self._lock:
            if self._placeholder is not None:
                self._placeholder.close()
                self._placeholder = None
            if self._listener is None:
                self._listen()
            self.refusing_since = None

    def refuse_for(self, seconds: float) -> None:
        """Refuse now, accept again after `seconds` (in the background)."""
        self.refuse()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(seconds, self.accept)
        self._timer.daemon = True
        self._timer.start()

    @property
    def refusing(self) -> bool:
        return self.refusing_since is not None

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            for sock in (self._listener, self._placeholder):
                if sock is not None:
                    sock.close()
            self._listener = self._placeholder = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
