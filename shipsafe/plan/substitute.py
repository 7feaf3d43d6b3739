"""Values a pipeline gives a plan: `--set release.version=2.4.1` and `${VAR}` from the
environment - in a few named fields only.

Only the fields in SETTABLE take either. A query, a command, a URL or a condition never does:
a value from a pipeline must not change what is measured or run. `${VAR}` elsewhere stays as
written. Both are applied before the plan is validated, so the digest covers the result, and
each substitution is listed (`applied`) for the digest line and the rollout's record.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipsafe.errors import PlanError, UsageError

# path -> what it is; `metadata.labels.*` is any label
SETTABLE: dict[str, str] = {
    "release.version": "the version being rolled out",
    "release.artifact": "image, package or commit of the release",
    "metadata.labels.*": "a label (any key)",
}

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}$")


@dataclass
class Substitutions:
    """What the command line asked for: `--set` pairs and the environment to expand from."""

    sets: dict[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    applied: list[str] = field(default_factory=list)

    @classmethod
    def from_options(
        cls, pairs: list[str] | None, environ: Mapping[str, str] | None = None
    ) -> Substitutions:
        sets: dict[str, str] = {}
        for pair in pairs or []:
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise UsageError(f"--set {pair!r}: expected KEY=VALUE, e.g. release.version=2.4.1")
            _check_settable(key)
            sets[key] = value
        return cls(sets=sets, environ=dict(os.environ) if environ is None else environ)

    def apply(self, data: dict[str, Any], source: str, line_of: Any = None) -> None:
        """Expand `${VAR}` in the settable fields of `data`, then apply `--set`, in place."""
        self.applied = []
        for path, value in list(_settable_values(data)):
            if not isinstance(value, str) or "${" not in value:
                continue
            if ".".join(path) in self.sets:
                continue  # --set wins; its field's ${VAR} is never read
            missing = [m for m in _VAR.findall(value) if m not in self.environ]
            if missing:
                line = line_of(path) if line_of else None
                where = f"{source}:{line}" if line else source
                dotted = ".".join(map(str, path))
                raise PlanError(
                    f"{where}: {dotted}: ${{{missing[0]}}} is not set in the environment "
                    f"(export it, or --set {dotted}=VALUE)"
                )
            expanded = _VAR.sub(lambda m: self.environ[m.group(1)], value)
            _put(data, path, expanded)
            self.applied.append(f"{'.'.join(map(str, path))}={expanded} (from {value})")
        for key, value in self.sets.items():
            _put(data, tuple(key.split(".", 2)), value)
            self.applied.append(f"{key}={value} (--set)")


def _check_settable(key: str) -> None:
    if key in SETTABLE:
        return
    label = key.removeprefix("metadata.labels.")
    if label != key and _LABEL_KEY.match(label):
        return
    raise UsageError(
        f"--set {key}: not a field a pipeline may set; these may: {', '.join(SETTABLE)} "
        "(never queries, commands or conditions)"
    )


def _settable_values(data: dict[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    release = data.get("release")
    if isinstance(release, dict):
        for key in ("version", "artifact"):
            if key in release:
                found.append((("release", key), release[key]))
    metadata = data.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    if isinstance(labels, dict):
        for key, value in labels.items():
            found.append((("metadata", "labels", str(key)), value))
    return found


def _put(data: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
