"""The input vectors of Kayenta's own unit tests (data/kayenta_vectors.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "kayenta_vectors.json"


@cache
def _all() -> dict[str, dict[str, dict[str, list[float]]]]:
    return json.loads(DATA.read_text())


def vectors(suite: str, test: str) -> dict[str, list[float]]:
    """The arrays of one upstream test: `canary`, `baseline` or `values`."""
    return _all()[suite][test]
