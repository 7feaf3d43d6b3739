"""Success and failure conditions in CEL, the expression language Kubernetes uses for this.

Never `eval`: expressions are parsed and evaluated by `common-expression-language` (Rust
bindings of the cel-rust interpreter) in a context that holds only `result`, the measured
number (a double), and, for the built-in checks that read the router's own counters, the
`canary` and `stable` readings side by side (maps of numbers, see READING_FIELDS). Its
package `__init__` also imports an interactive REPL (prompt_toolkit,
~0.13 s), so the compiled module is loaded on its own; if that layout ever changes we fall
back to the plain import. Compiling and evaluating take well under a millisecond.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from shipsafe.errors import ConditionError

VARIABLES = frozenset({"result"})
# a built-in check's condition may also compare the canary with the stable target
SIDES = ("canary", "stable")
READING_FIELDS = ("requests", "errors", "errorRate", "errorRateLow", "latency")
READING_VARIABLES = VARIABLES | frozenset(SIDES)


@lru_cache(maxsize=1)
def _cel() -> ModuleType:
    spec = importlib.util.find_spec("cel")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = Path(folder) / f"cel{suffix}"
                if path.exists():
                    if "cel.cel" in sys.modules:
                        return sys.modules["cel.cel"]
                    loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(path))
                    ext_spec = importlib.util.spec_from_file_location(
                        "cel.cel", path, loader=loader
                    )
                    if ext_spec is None:
                        break
                    module = importlib.util.module_from_spec(ext_spec)
                    loader.exec_module(module)
                    return module
    return importlib.import_module("cel")  # pragma: no cover - the package's own way


@lru_cache(maxsize=256)
def _program(expression: str, names: frozenset[str] = VARIABLES) -> Any:
    try:
        program = _cel().compile(expression)
    except ValueError as exc:
        raise ConditionError(f"invalid expression {expression!r}: {_parse_message(exc)}") from None
    unknown = sorted(set(program.variables()) - names)
    if unknown:
        allowed = ", ".join(f"`{n}`" for n in sorted(names))
        raise ConditionError(
            f"invalid expression {expression!r}: unknown name {unknown[0]!r} "
            f"(conditions can use only {allowed})"
        )
    return program


def evaluate(
    expression: str, result: float, context: dict[str, dict[str, float]] | None = None
) -> bool:
    """Evaluate a condition over `result` (and, for built-in checks, the `canary` and
    `stable` readings in `context`). Raises ConditionError, whatever goes wrong inside the
    interpreter (a missing map key, an overflow, a NaN compared)."""
    names = READING_VARIABLES if context else VARIABLES
    program = _program(expression, names)
    variables: dict[str, Any] = {"result": float(result)}
    for side in SIDES:
        if context:
            variables[side] = {k: float(v) for k, v in context.get(side, {}).items()}
    try:
        value = program.execute(variables)
    except KeyError as exc:
        fields = ", ".join(READING_FIELDS)
        raise ConditionError(
            f"cannot evaluate {expression!r}: no field {exc} in a reading (fields: {fields})"
        ) from None
    except Exception as exc:  # the interpreter raises KeyError, IndexError... at run time
        raise ConditionError(f"cannot evaluate {expression!r}: {_first_line(exc)}") from None
    if not isinstance(value, bool):
        raise ConditionError(f"{expression!r} must be true or false, it gave {value!r}")
    return value


def check(expression: str, readings: bool = False) -> None:
    """Compile the expression and try it on sample values, so a plan fails at load time.
    `readings`: the condition of a built-in check, which may use `canary` and `stable`."""
    for sample in (0.5, 1.0):
        context = sample_readings(sample) if readings else None
        evaluate(expression, sample, context)


def sample_readings(value: float) -> dict[str, dict[str, float]]:
    return {side: {name: value for name in READING_FIELDS} for side in SIDES}


def _parse_message(exc: Exception) -> str:
    text = str(exc)
    # "Failed to parse expression 'x <': ERROR: <input>:1:9: Syntax error: mismatched ..."
    if "Syntax error" in text:
        where = text.split("<input>:", 1)[-1].split(":", 2)
        column = where[1] if len(where) > 2 else "?"
        return f"syntax error at column {column}"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
