"""Waiting for a cloud snapshot to become usable: poll, give up on a failed state, bound the
wait. One loop for every provider; each says how to read its API's answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipsafe.errors import ProviderError


def wait_until_ready(
    describe: Callable[[], dict[str, Any]],
    state_of: Callable[[dict[str, Any]], str],
    ready: str,
    failed: Callable[[dict[str, Any], str], str | None],
    *,
    what: str,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
    progress: Callable[[dict[str, Any]], str] = lambda snap: "",
) -> dict[str, Any]:
    """Poll `describe` until `state_of` says `ready`. `failed(snap, state)` returns a message
    when the snapshot will never be ready; a wait past `timeout` is an error too (the snapshot
    is then not verified, so nothing irreversible may follow)."""
    deadline = monotonic() + timeout
    while True:
        snap = describe()
        state = state_of(snap)
        if state == ready:
            return snap
        message = failed(snap, state)
        if message:
            raise ProviderError(f"{what} {message}")
        if monotonic() >= deadline:
            raise ProviderError(
                f"{what} still {state or 'unknown'}{progress(snap)} after {timeout:g}s "
                "(it may yet finish; it is not verified)"
            )
        sleep(interval)
