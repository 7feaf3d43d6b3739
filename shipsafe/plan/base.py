"""Shared building blocks of the plan models: strict base model, durations, names."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from shipsafe.durations import parse_duration


class PlanModel(BaseModel):
    """Every plan model: camelCase keys, unknown keys are errors, immutable once loaded."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )


def _duration(value: Any) -> float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_duration(value)
    raise ValueError("a duration is a string like 30s, 5m or 1h")


DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"

# Seconds, written in a plan as `30s`, `5m`, `1h` (a bare number is seconds).
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: 30s, 5m, 1h, 1h30m, 250ms",
        }
    ),
]

# Names users write and shipsafe uses in keys, lock names and file names.
Name = Annotated[
    str,
    Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"),
]

# Percent of traffic to the canary.
Weight = Annotated[int, Field(ge=0, le=100)]
