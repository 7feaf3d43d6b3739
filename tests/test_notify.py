"""Webhooks hear about rollouts, from whichever process drives them, without holding them up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shipsafe.engine.control import start_deploy, submit_command
from shipsafe.engine.driver import drive
from shipsafe.notify import WebhookNotifier
from shipsafe.records import CommandKind, Phase
from tests.conftest import BOB, make_plan
from tests.fakes import FakeMetrics


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: Any = self.server
        server.received.append((self.path, body))
        status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[Any]:
    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    httpd.received, httpd.statuses = [], []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def plan_with_hooks(hooks: str, steps: str = "  - setWeight: 10\n  - approval: {}\n") -> Any:
    return make_plan(
        "breakers:\n  - analysis: error-rate\n"
        f"notifications:\n{hooks}"
        f"steps:\n{steps}"
    )


def test_a_breaker_trip_and_its_rollback_reach_the_webhook(
    make_ctx: Any, store: Any, metrics: FakeMetrics, hook_server: Any
) -> None:
    metrics.answer = lambda q: 0.5 if "v2" in q else 0.0  # the canary fails, stable is fine
    notifier = WebhookNotifier(store)
    ctx = make_ctx()
    ctx.subscribers.append(notifier)
    plan = plan_with_hooks(f"  - webhook: {{url: '{hook_server.url}/deploys'}}\n")
    assert drive(start_deploy(ctx, plan)) == Phase.ROLLED_BACK
    notifier.close()
    types = [body["event"]["type"] for _, body in hook_server.received]
    # the breakers start 10 s after 10% is read back: by then the rollout awaits approval
    assert types == ["rollout_created", "phase_changed", "breaker_tripped", "rollout_finished"]
    assert hook_server.received[1][1]["event"]["data"]["to"] == "awaiting_approval"
    tripped = hook_server.received[2][1]
    assert tripped["target"] == "production/checkout 2.4.0"
    assert tripped["event"]["data"]["metric"] == "error-rate"


def test_an_on_call_rollback_from_another_process_notifies_the_same_hooks(
    make_ctx: Any, store: Any, metrics: FakeMetrics, hook_server: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CHAT_HOOK", hook_server.url + "/chat")
    plan = plan_with_hooks(
        "  - webhook: {urlEnv: CHAT_HOOK, format: slack, events: [awaiting_approval, "
        "rollout_finished]}\n"
    )
    engine = start_deploy(make_ctx(), plan)
    assert drive(engine, detach=True) == Phase.AWAITING_APPROVAL
    # the on-call engineer's process knows nothing but the store
    notifier = WebhookNotifier(store)
    ctx = make_ctx(actor=BOB)
    ctx.subscribers.append(notifier)
    submit_command(ctx, engine.record.id, CommandKind.ROLLBACK)
    notifier.close()
    texts = [body["text"] for path, body in hook_server.received]
    assert all(path == "/chat" for path, _ in hook_server.received)
    assert len(texts) == 1 and "production/checkout 2.4.0" in texts[0]
    assert "rollback by bob" in texts[0]


def test_a_failing_webhook_is_retried_then_reported_and_the_rollout_goes_on(
    make_ctx: Any, store: Any, hook_server: Any
) -> None:
    hook_server.statuses = [503, 503, 503, 200]  # the first event fails 3 times in a row
    errors: list[str] = []
    waits: list[float] = []  # the back-off between attempts, without waiting it out
    notifier = WebhookNotifier(store, on_error=errors.append, attempts=3, sleep=waits.append)
    ctx = make_ctx()
    ctx.subscribers.append(notifier)
    plan = plan_with_hooks(f"  - webhook: {{url: '{hook_server.url}'}}\n", "  - setWeight: 10\n")
    assert drive(start_deploy(ctx, plan)) == Phase.SUCCEEDED
    notifier.close()
    assert notifier.failed == 1 and "HTTP 503" in errors[0]
    assert notifier.delivered == 1  # rollout_finished still arrived
    assert len(hook_server.received) == 4
    assert len(waits) == 2 and 0 < waits[0] < waits[1]  # backed off twice, growing


def test_unknown_event_names_and_a_missing_url_are_plan_errors() -> None:
    from shipsafe.errors import PlanError

    with pytest.raises(PlanError, match="unknown event 'deployed'"):
        plan_with_hooks("  - webhook: {url: 'http://x', events: [deployed]}\n")
    with pytest.raises(PlanError, match="exactly one of url or urlEnv"):
        plan_with_hooks("  - webhook: {format: slack}\n")
