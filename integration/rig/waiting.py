"""Wait on a condition, not on a clock: poll until true or fail with what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The awaited condition did not hold in time (an AssertionError, so tests fail with it)."""


class StopWaiting(Exception):
    """Raised by a condition that can never become true (e.g. the process it waits on died)."""


def wait_until(
    condition: Callable[[], T],
    what: str,
    timeout: float = 30.0,
    interval: float = 0.05,
) -> T:
    """Call `condition` until it returns something truthy; return that value.

    Exceptions raised by `condition` count as "not yet" (the last one is shown on timeout),
    except StopWaiting, which ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except StopWaiting:
            raise
        except Exception as exc:  # not yet: the thing we wait for may still be starting
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)
