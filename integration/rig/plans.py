"""Plans for the rig: the files in plans/ hold `${RIG_...}` placeholders for what is only
known at run time (socket path, ports); the rig writes a concrete copy into its work dir.

Only `${RIG_NAME}` forms are placeholders, so PromQL braces, shipsafe's own `{{canary}}`
variables and any other `$` pass through untouched. Substitution is strict: a `${RIG_...}`
the rig has no value for is an error, never left in a plan.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
LOCAL_CANARY = REPO / "plans" / "local-canary.yaml"
LOCAL_BLUE_GREEN = REPO / "plans" / "local-blue-green.yaml"


PLACEHOLDER = re.compile(r"\$\{(RIG_[A-Z0-9_]+)\}")


def render_text(template: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values))
            raise KeyError(f"plan placeholder ${{{name}}} has no value; the rig knows {known}")
        return values[name]

    return PLACEHOLDER.sub(value, template)


def render_file(template: Path, values: dict[str, str]) -> str:
    return render_text(template.read_text(encoding="utf-8"), values)


def load_rendered(template: Path, values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(render_file(template, values))
    return data


def write_plan(plan: dict[str, Any] | str, dest: Path) -> Path:
    text = plan if isinstance(plan, str) else yaml.safe_dump(plan, sort_keys=False)
    dest.write_text(text, encoding="utf-8")
    return dest
