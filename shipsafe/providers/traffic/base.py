"""The traffic router Protocol: what every router (haproxy, aws-alb, ...) must do.

A router splits a service's traffic between a stable and a canary target. Weights are
whole percentages 0-100 of traffic to the canary. Every router passes the contract suite in
tests/contract/test_router_contract.py: set -> get round trip, state -> restore round trip,
idempotent set.
"""

from __future__ import annotations

from typing import Any, Protocol


class TrafficRouter(Protocol):
    name: str

    def check(self) -> None:
        """Verify the target exists and is usable (servers, groups, alias present).

        Raises ConfigurationError (exit 2, nothing changed) when it is misconfigured and
        ProviderError when it cannot be reached.
        """
        ...

    def get_weight(self) -> int:
        """The canary's share of traffic in percent, read from the router itself."""
        ...

    def set_weight(self, canary_percent: int) -> None:
        """Send `canary_percent` of traffic to the canary. Idempotent."""
        ...

    def read_state(self) -> dict[str, Any]:
        """Everything `restore` needs to put the router back exactly as it is now (JSON)."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Put the router back into a state from `read_state`. Idempotent."""
        ...

    def config(self) -> dict[str, Any]:
        """The router's configuration (JSON), stored with the snapshot to rebuild it later."""
        ...
