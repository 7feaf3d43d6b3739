"""Success and failure conditions in CEL, the expression language Kubernetes uses for this.

Never `eval`: expressions are parsed and evaluated by cel-python, in a context that holds
only `result` (the measured number, a double). celpy is imported on first use because it
costs about 0.15 s.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any


class ConditionError(ValueError):
    """The expression does not parse, names something other than `result`, or is not bool."""


@lru_cache(maxsize=1)
def _environment() -> Any:
    import celpy

    return celpy.Environment()


@lru_cache(maxsize=256)
def _program(expression: str) -> Any:
    import celpy

    env = _environment()
    try:
        ast = env.compile(expression)
    except celpy.CELParseError as exc:
        column = getattr(exc, "column", None)
        where = f" at column {column}" if column else ""
        raise ConditionError(f"invalid expression {expression!r}: syntax error{where}") from exc
    return env.program(ast)


def evaluate(expression: str, result: float) -> bool:
    """Evaluate a condition over `result`. Raises ConditionError."""
    import celpy
    from celpy import celtypes

    program = _program(expression)
    try:
        value = program.evaluate({"result": celtypes.DoubleType(result)})
    except celpy.CELEvalError as exc:
        raise ConditionError(f"cannot evaluate {expression!r}: {_eval_message(exc)}") from exc
    if isinstance(value, celpy.CELEvalError):
        raise ConditionError(f"cannot evaluate {expression!r}: {_eval_message(value)}")
    if not isinstance(value, celtypes.BoolType):
        raise ConditionError(f"{expression!r} must be true or false, it gave {value!r}")
    return bool(value)


def check(expression: str) -> None:
    """Compile the expression and try it on sample values, so a plan fails at load time."""
    for sample in (0.0, 1.0, 0.5, math.inf):
        evaluate(expression, sample)


def _eval_message(exc: Any) -> str:
    args = getattr(exc, "args", ())
    text = str(args[0]) if args else str(exc)
    if "undeclared reference to" in text:
        name = text.split("undeclared reference to", 1)[1].split("(", 1)[0].strip().strip("'")
        return f"unknown name {name!r} (conditions can use only `result`)"
    return text.splitlines()[0][:200]
