"""One JSON object a line, for agents and CI: every event, then one final `result` line."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from shipsafe.records import Event
from shipsafe.redact import redact


class JsonLinesRenderer:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        line = event.to_json_dict()
        if isinstance(line.get("data"), dict) and "traceback" in line["data"]:
            # an internal error's traceback stays in the store (shipsafe status shows it)
            line["data"] = {k: v for k, v in line["data"].items() if k != "traceback"}
        self.write({"kind": "event", **line})

    def write(self, obj: dict[str, Any]) -> None:
        try:
            self.stream.write(json.dumps(redact(obj), default=str, sort_keys=False) + "\n")
            self.stream.flush()
        except BrokenPipeError:  # the reader went away; the rollout must not stop for that
            from shipsafe.render.human import silence_stdout

            silence_stdout()

    def result(
        self,
        rollout_id: str | None,
        phase: str | None,
        exit_code: int,
        message: str,
        error: str | None = None,
    ) -> None:
        """The last line of every run. `error`: the refusal's stable code, when it failed."""
        line: dict[str, Any] = {
            "kind": "result",
            "rollout_id": rollout_id,
            "phase": phase,
            "exit_code": exit_code,
            "message": message,
        }
        if error is not None:
            line["error"] = error
        self.write(line)

    def error(
        self,
        message: str,
        exit_code: int,
        rollout_id: str | None = None,
        *,
        code: str = "internal",
        **where: str | int,
    ) -> None:
        """One problem: its stable `error` code, and `file`/`line`/`field` when known."""
        line: dict[str, Any] = {
            "kind": "error",
            "error": code,
            "exit_code": exit_code,
            "message": message,
            **where,
        }
        if rollout_id:
            line["rollout_id"] = rollout_id
        self.write(line)
