"""Every check (a metric, measured by the breakers and by step analyses alike) folded into
one summary line: its readings as a sparkline, the last value, counts and the condition.
A measurement is printed as a line of its own only when its check changes state."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text

from shipsafe.records import Event

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], width: int = 24) -> str:
    """The last `width` readings as bars scaled between their min and max; `·` is no data."""
    shown = values[-width:]
    numbers = [v for v in shown if v is not None and v == v]
    if not numbers:
        return "·" * len(shown)
    # from 0 (or below): tiny noise around a small value must not look like a swing
    low, high = min([*numbers, 0.0]), max(numbers)
    span = high - low
    out = []
    for v in shown:
        if v is None or v != v:
            out.append("·")
        elif span == 0:
            out.append(BARS[0] if high == 0 else BARS[3])
        else:
            out.append(BARS[min(int((v - low) / span * (len(BARS) - 1) + 0.5), len(BARS) - 1)])
    return "".join(out)


def shown(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


@dataclass
class Check:
    name: str
    condition: str = ""
    values: list[float | None] = field(default_factory=list)
    measured: int = 0
    failed: int = 0
    errors: int = 0
    state: str = "pending"  # the last measurement's phase
    runs: set[str] = field(default_factory=set)

    def line(self) -> Text:
        ok = self.state == "successful"
        out = Text(f"  {self.name:<14} ")
        out.append(sparkline(self.values), style="cyan")
        out.append(f" {shown(self.values[-1] if self.values else None):>8} ")
        out.append("✓" if ok else "✗", style="green" if ok else "red")
        out.append(
            f"  {self.measured} measured, {self.failed} failed"
            + (f", {self.errors} errors" if self.errors else "")
            + (f"  ({self.condition})" if self.condition else "")
            + f"  [{', '.join(sorted(self.runs))}]",
            style="dim",
        )
        return out


class CheckBoard:
    def __init__(self) -> None:
        self.checks: dict[str, Check] = {}

    def update(self, event: Event) -> str | None:
        """Fold a measurement in; return a line to print when its check changed state
        (started failing, erroring, passing again), None when it only counted."""
        data = event.data
        name = str(data.get("metric"))
        check = self.checks.setdefault(name, Check(name))
        value = data.get("value")
        phase = str(data.get("phase"))
        check.values.append(value if isinstance(value, int | float) else None)
        check.measured += 1
        check.failed += phase == "failed"
        check.errors += phase == "error"
        check.condition = str(data.get("condition") or check.condition)
        check.runs.add("breaker" if data.get("run") == "breakers" else "step")
        before, check.state = check.state, phase
        if phase == before or (before == "pending" and phase == "successful"):
            return None
        where = "breaker" if data.get("run") == "breakers" else str(data.get("run", ""))
        cond = f" ({check.condition})" if check.condition else ""
        if phase == "successful":
            return f"{name} passing again: {shown(value)}{cond} [{where}]"
        verb = {"failed": "failing", "error": "erroring"}.get(phase, phase)
        detail = event.message.split(": ", 1)[-1] if event.message else ""
        return f"{name} {verb}: {shown(value)}{cond} [{where}]" + (
            f" - {detail}" if detail and phase == "error" else ""
        )

    def lines(self) -> list[Text]:
        return [c.line() for c in self.checks.values()]
