"""Webhook delivery through an injected httpx transport (httpx.MockTransport) and sleep:
what reaches the hook, what is retried, what is reported, with no server and no waiting.
tests/test_notify.py runs the same notifier against a real HTTP server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shipsafe.engine.control import start_deploy
from shipsafe.engine.driver import drive
from shipsafe.notify import WebhookNotifier
from shipsafe.records import Phase
from tests.conftest import make_plan


class Hook:
    """A webhook endpoint as an httpx transport: answers `statuses` in turn (then 200), or
    raises `error` (httpx's own) for every request."""

    def __init__(self, statuses: list[int] | None = None, error: Exception | None = None):
        self.statuses = statuses or []
        self.error = error
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


def deploy(make_ctx: Any, notifier: WebhookNotifier, hooks: str) -> Phase:
    ctx = make_ctx()
    ctx.subscribers.append(notifier)
    plan = make_plan(f"notifications:\n{hooks}steps:\n  - setWeight: 10\n")
    phase = drive(start_deploy(ctx, plan))
    notifier.close()
    return phase


def notifier_for(store: Any, hook: Hook, **kw: Any) -> tuple[WebhookNotifier, list[float]]:
    sleeps: list[float] = []
    notifier = WebhookNotifier(
        store, transport=httpx.MockTransport(hook), sleep=sleeps.append, **kw
    )
    return notifier, sleeps


def test_each_event_the_hook_asks_for_is_posted_as_json(make_ctx: Any, store: Any) -> None:
    hook = Hook()
    notifier, _ = notifier_for(store, hook)
    hooks = "  - webhook: {url: 'https://hooks.test/deploys', events: [rollout_finished]}\n"
    assert deploy(make_ctx, notifier, hooks) == Phase.SUCCEEDED
    assert [str(r.url) for r in hook.requests] == ["https://hooks.test/deploys"]
    body = hook.bodies()[0]
    assert body["event"]["type"] == "rollout_finished"
    assert body["target"] == "production/checkout 2.4.0"
    assert notifier.delivered == 1 and notifier.failed == 0


def test_a_5xx_is_retried_with_backoff_then_delivered(make_ctx: Any, store: Any) -> None:
    hook = Hook(statuses=[503, 502])
    notifier, sleeps = notifier_for(store, hook, attempts=3)
    hooks = "  - webhook: {url: 'https://hooks.test/x', events: [rollout_finished]}\n"
    assert deploy(make_ctx, notifier, hooks) == Phase.SUCCEEDED
    assert len(hook.requests) == 3
    assert sleeps == pytest.approx([0.2, 0.4])  # waited through the injected sleep only
    assert notifier.delivered == 1 and notifier.failed == 0


def test_a_4xx_is_reported_without_retrying(make_ctx: Any, store: Any) -> None:
    hook = Hook(statuses=[404])
    errors: list[str] = []
    notifier, sleeps = notifier_for(store, hook, on_error=errors.append)
    hooks = "  - webhook: {url: 'https://hooks.test/x', events: [rollout_finished]}\n"
    assert deploy(make_ctx, notifier, hooks) == Phase.SUCCEEDED
    assert len(hook.requests) == 1 and sleeps == []
    assert notifier.failed == 1 and "HTTP 404" in errors[0]


def test_an_unreachable_hook_never_escapes_nor_shows_its_secret_url(
    make_ctx: Any, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_HOOK", "https://hooks.test/T000/s3cr3t-token")
    hook = Hook(error=httpx.ConnectError("[Errno 111] Connection refused"))
    errors: list[str] = []
    notifier, _ = notifier_for(store, hook, on_error=errors.append, attempts=2)
    hooks = "  - webhook: {urlEnv: CHAT_HOOK, events: [rollout_finished]}\n"
    assert deploy(make_ctx, notifier, hooks) == Phase.SUCCEEDED
    assert len(hook.requests) == 2  # a transport error is worth one more try
    assert notifier.failed == 1
    assert "ConnectError" in errors[0] and "$CHAT_HOOK" in errors[0]
    assert "s3cr3t" not in errors[0]
