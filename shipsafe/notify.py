"""Webhooks: tell people what a rollout does, so no rollout goes unwatched.

A subscriber like the renderers and the audit log. Which webhooks a rollout has comes from
the plan stored with it, so whichever process drives the rollout (the deploy, or an on-call
rollback from another machine) notifies the same hooks; SHIPSAFE_WEBHOOK_URL adds one for
every rollout. Delivery runs on a background thread with bounded retries: a slow or dead
webhook never holds up a tick, and never stops a rollout or its rollback.

The transport is a seam: `transport` (an httpx transport; default httpx's own) and `sleep`
(between retries) are injected, so tests deliver through `httpx.MockTransport` without
waiting, beside the tests against a real HTTP server.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from shipsafe.plan.notifications import PHASE_EVENTS, Notification, Webhook
from shipsafe.records import Event, EventType, Phase
from shipsafe.redact import redact
from shipsafe.store.base import RolloutStore

_ICON = {
    EventType.ROLLOUT_CREATED: ":rocket:",
    EventType.BREAKER_TRIPPED: ":zap:",
    EventType.ROLLBACK_FAILED: ":rotating_light:",
    EventType.APPROVAL_REFUSED: ":no_entry:",
    EventType.ROLLOUT_FINISHED: ":checkered_flag:",
    EventType.PHASE_CHANGED: ":hourglass:",
}
_STOP = object()


def wants(hook: Webhook, event: Event) -> bool:
    if event.type.value in hook.events:
        return True
    return event.type == EventType.PHASE_CHANGED and event.data.get("to") in (
        set(hook.events) & PHASE_EVENTS
    )


_OUTCOME_ICON = {
    Phase.SUCCEEDED: ":white_check_mark:",
    Phase.ROLLED_BACK: ":leftwards_arrow_with_hook:",
    Phase.ABORTED: ":leftwards_arrow_with_hook:",
    Phase.ROLLBACK_FAILED: ":rotating_light:",
}


def outcome(event: Event) -> Phase | None:
    """How the rollout ended, for the event that says it ended."""
    if event.type != EventType.ROLLOUT_FINISHED:
        return None
    try:
        return Phase(str(event.data.get("phase")))
    except ValueError:
        return None


def payload(hook: Webhook, event: Event, where: str) -> dict[str, Any]:
    from shipsafe.render.ci_reports import outcome_words

    body = redact(event.to_json_dict())
    ended = outcome(event)
    if hook.format == "slack":
        icon = _ICON.get(event.type, ":information_source:")
        text = event.message or event.type.value
        if ended is not None:  # the last message says the outcome in words, then why
            icon = _OUTCOME_ICON.get(ended, icon)
            words = outcome_words(ended)
            text = words if ended == Phase.SUCCEEDED else f"{words}: {text}"
            return {"text": f"{icon} *{where}* `{event.rollout_id}` *{redact(text)}*"}
        return {"text": f"{icon} *{where}* `{event.rollout_id}`: {redact(text)}"}
    out: dict[str, Any] = {"source": "shipsafe", "target": where, "event": body}
    if ended is not None:
        out["outcome"] = outcome_words(ended)
    return out


def env_hook(environ: dict[str, str] | None = None) -> Webhook | None:
    env = os.environ if environ is None else environ
    if not env.get("SHIPSAFE_WEBHOOK_URL"):
        return None
    fmt = env.get("SHIPSAFE_WEBHOOK_FORMAT", "json")
    return Webhook.model_validate(
        {"urlEnv": "SHIPSAFE_WEBHOOK_URL", "format": fmt if fmt in ("json", "slack") else "json"}
    )


class WebhookNotifier:
    def __init__(
        self,
        store: RolloutStore,
        on_error: Callable[[str], None] | None = None,
        timeout: float = 5.0,
        attempts: int = 3,
        extra: Webhook | None = None,
        transport: Any = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.transport = transport  # an httpx.BaseTransport; None: httpx's own
        self.sleep = sleep
        self.on_error = on_error
        self.timeout = timeout
        self.attempts = attempts
        self.extra = extra
        self._hooks: dict[str, tuple[str, list[Webhook]]] = {}
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    # subscriber ---------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        try:
            where, hooks = self._hooks_for(event.rollout_id)
            for hook in hooks:
                if wants(hook, event):
                    self._start()
                    self._queue.put((hook, payload(hook, event, where), where))
        except Exception as exc:
            self._fail(f"webhook: cannot notify {event.type.value}: {exc}")

    def _hooks_for(self, rollout_id: str) -> tuple[str, list[Webhook]]:
        if rollout_id not in self._hooks:
            hooks: list[Webhook] = [self.extra] if self.extra else []
            where = rollout_id
            try:
                record = self.store.get_rollout(rollout_id)
            except Exception:
                record = None
            if record is not None:
                where = f"{record.environment}/{record.service} {record.version}"
                for raw in record.plan.get("notifications", []) or []:
                    hooks.append(Notification.model_validate(raw).webhook)
            self._hooks[rollout_id] = (where, hooks)
        return self._hooks[rollout_id]

    # delivery -----------------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._deliver_all, daemon=True)
            self._thread.start()

    def _deliver_all(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
            while True:
                job = self._queue.get()
                if job is _STOP:
                    return
                hook, body, where = job
                self._deliver(client, hook, body, where)

    def _deliver(self, client: Any, hook: Webhook, body: dict[str, Any], where: str) -> None:
        import httpx
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        url = hook.url or os.environ.get(hook.url_env or "", "")
        if not url:
            self._fail(f"webhook: environment variable {hook.url_env} is not set")
            return

        def worth_retrying(exc: BaseException) -> bool:
            if isinstance(exc, httpx.HTTPStatusError):
                return exc.response.status_code >= 500 or exc.response.status_code == 429
            return isinstance(exc, httpx.TransportError)

        waiting: dict[str, Any] = {"sleep": self.sleep} if self.sleep is not None else {}
        try:
            for attempt in Retrying(
                retry=retry_if_exception(worth_retrying),
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=0.2, max=2.0),
                reraise=True,
                **waiting,
            ):
                with attempt:
                    client.post(url, json=body).raise_for_status()
            self.delivered += 1
        except httpx.HTTPError as exc:
            shown = str(redact(url if hook.url else f"${hook.url_env}"))
            detail = (
                f"HTTP {exc.response.status_code}"
                if isinstance(exc, httpx.HTTPStatusError)
                else type(exc).__name__
            )
            self._fail(f"webhook {shown} for {where}: {detail}")

    def _fail(self, message: str) -> None:
        self.failed += 1
        if self.on_error is not None:
            self.on_error(message)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout` seconds), then stop."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
