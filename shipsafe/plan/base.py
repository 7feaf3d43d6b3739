"""Shared building blocks of the plan models: strict base model, durations, names."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
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


def first_error(exc: ValidationError) -> str:
    """The first problem pydantic found, as one line: `where.it.is: what is wrong`."""
    first = exc.errors()[0]
    return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"


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


# Durations that are windows rather than waits; a policy's maxDuration does not cap them.
NOT_WAITS = frozenset({"rollback_window", "window"})


def waits(model: BaseModel, path: tuple[str | int, ...] = ()) -> list[tuple[str, float]]:
    """Every duration the plan makes the driver wait (pauses, intervals, initial delays,
    timeouts), as (dotted path, seconds): what a policy's maxDuration caps."""
    out: list[tuple[str, float]] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = field.alias or name
        if _is_duration(field.annotation, field.metadata):
            if value is not None and name not in NOT_WAITS:
                out.append((_dotted((*path, key)), float(value)))
            continue
        for sub_path, item in _children(value, (*path, key)):
            out += waits(item, sub_path)
    return out


def _children(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, BaseModel):
        return [(path, value)]
    if isinstance(value, list):
        return [((*path, i), v) for i, v in enumerate(value) if isinstance(v, BaseModel)]
    if isinstance(value, dict):
        return [((*path, str(k)), v) for k, v in value.items() if isinstance(v, BaseModel)]
    return []


def _is_duration(annotation: Any, metadata: list[Any]) -> bool:
    from typing import get_args

    if any(isinstance(m, BeforeValidator) and m.func is _duration for m in metadata):
        return True
    return any(
        _is_duration(arg, list(getattr(arg, "__metadata__", ()))) for arg in get_args(annotation)
    )


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
