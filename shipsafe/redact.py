"""Keep secrets out of logs, audit records and JSON output."""

from __future__ import annotations

import re
from typing import Any

_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|credential|authorization|api[_-]?key|private|signature)", re.I
)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)

REDACTED = "***"


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` with secret-looking keys masked and URL credentials removed."""
    if key and _SECRET_KEY.search(key) and not isinstance(value, dict | list):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _URL_USERINFO.sub(lambda m: m.group("scheme") + REDACTED + "@", value)
    return value
