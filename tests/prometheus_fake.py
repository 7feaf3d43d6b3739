"""A fake Prometheus HTTP API behind a requests adapter (the Prometheus source's transport):
`answers` maps a query to the JSON body (and status) Prometheus would send; an exception in
`answers` is raised as the transport's own (requests') error."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter


def vector(*values: float, metric: dict[str, str] | None = None) -> dict[str, Any]:
    """An instant vector answer with one sample a value."""
    result = [
        {"metric": {**(metric or {}), "i": str(i)}, "value": [1700000000, str(v)]}
        for i, v in enumerate(values)
    ]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class FakePrometheus(BaseAdapter):
    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.answers: dict[str, Any] = answers or {"vector(1)": vector(1)}
        self.seen: list[tuple[str, dict[str, list[str]]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(str(request.url))
        params = parse_qs(url.query)
        if isinstance(request.body, str | bytes) and request.body:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            params.update(parse_qs(body))
        self.seen.append((url.path, params))
        answer = self.answers.get(params.get("query", [""])[0])
        if isinstance(answer, BaseException):
            raise answer
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        if answer is None:
            status, body = 400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass
