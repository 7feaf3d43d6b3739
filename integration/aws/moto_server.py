"""moto's server on a loopback port, in this process, answering one request at a time.

ThreadedMotoServer serves each request in its own thread, and moto checks a DynamoDB
ConditionExpression and writes the item in two unlocked steps: two shipsafe processes racing
for one lock could both win there, which real DynamoDB never allows. One request at a time
(werkzeug's non-threaded server, HTTP/1.0: a connection per request) keeps the race honest.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        app = DomainDispatcherApplication(create_backend_app)
        self._server: Any = make_server(host, port, app, threaded=False, request_handler=Quiet)
        self.host = host
        self.port = int(self._server.port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def reset(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
