"""An event as the audit log records it: its JSON form, secrets redacted, without the
rollout's own event number (the chain numbers records itself).

A leaf module: the log (file.py), the anchor's matching (anchor.py) and the repair
(repair.py) all compare records with the store's events through this one function.
"""

from __future__ import annotations

from typing import Any

from shipsafe.records import Event
from shipsafe.redact import redact


def event_record(event: Event) -> dict[str, Any]:
    body = event.model_dump(mode="json", exclude_none=True)
    body.pop("seq", None)  # the rollout's event number; the audit chain has its own
    return dict(redact(body))
