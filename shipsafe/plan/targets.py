"""Where traffic is routed: one configuration model per router, chosen by `target.router`.

Models only (no SDK imports) so that `shipsafe validate` and `shipsafe schema` stay fast; the
routers that use them live in shipsafe/providers/traffic/.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from shipsafe.plan.base import Duration, PlanModel


class HAProxyTarget(PlanModel):
    """Two servers of one HAProxy backend, driven over the runtime API."""

    socket: str | None = Field(None, description="path of the admin-level stats socket")
    address: str | None = Field(None, description="host:port of a TCP runtime API")
    backend: str
    stable: str = Field(description="server name of the stable release in the backend")
    canary: str = Field(description="server name of the new release in the backend")
    timeout: Duration = Field(2.0, description="per-command socket timeout")
    retry_for: Duration = Field(
        10.0, description="how long transient socket errors are retried before failing"
    )

    @model_validator(mode="after")
    def _one_endpoint(self) -> HAProxyTarget:
        if (self.socket is None) == (self.address is None):
            raise ValueError("give exactly one of socket (unix path) or address (host:port)")
        if self.stable == self.canary:
            raise ValueError("stable and canary must be different servers")
        return self


class ExecTarget(PlanModel):
    """A router driven by your own commands (argument lists, run without a shell).

    `getWeight` prints the canary percent on stdout; `setWeight` gets `{weight}` replaced by
    the canary percent.
    """

    get_weight: list[str] = Field(min_length=1)
    set_weight: list[str] = Field(min_length=1)
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _placeholder(self) -> ExecTarget:
        if not any("{weight}" in arg for arg in self.set_weight):
            raise ValueError("setWeight must contain {weight} in one of its arguments")
        return self


# router name in plans -> (key of its configuration under `target`, model)
ROUTER_CONFIGS: dict[str, tuple[str, type[PlanModel]]] = {
    "haproxy": ("haproxy", HAProxyTarget),
    "exec": ("exec", ExecTarget),
}


class Target(PlanModel):
    router: Literal["haproxy", "exec"]
    haproxy: HAProxyTarget | None = None
    exec: ExecTarget | None = None

    @model_validator(mode="after")
    def _config_matches_router(self) -> Target:
        wanted, _ = ROUTER_CONFIGS[self.router]
        if getattr(self, wanted) is None:
            raise ValueError(f"router {self.router!r} needs its settings under target.{wanted}")
        extra = [
            key for _, (key, _m) in ROUTER_CONFIGS.items() if key != wanted and getattr(self, key)
        ]
        if extra:
            raise ValueError(
                f"target.{extra[0]} does not belong to router {self.router!r}; remove it"
            )
        return self

    def router_config(self) -> dict[str, Any]:
        key, _ = ROUTER_CONFIGS[self.router]
        value = getattr(self, key)
        return dict(value.model_dump(mode="json", by_alias=True))

    @property
    def stable_name(self) -> str:
        cfg = getattr(self, ROUTER_CONFIGS[self.router][0])
        return str(getattr(cfg, "stable", "stable"))

    @property
    def canary_name(self) -> str:
        cfg = getattr(self, ROUTER_CONFIGS[self.router][0])
        return str(getattr(cfg, "canary", "canary"))
