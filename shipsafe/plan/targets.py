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

    id: str | None = Field(
        None, description="names this router for the policy's `targets` (its identity)"
    )
    get_weight: list[str] = Field(min_length=1)
    set_weight: list[str] = Field(min_length=1)
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _placeholder(self) -> ExecTarget:
        if not any("{weight}" in arg for arg in self.set_weight):
            raise ValueError("setWeight must contain {weight} in one of its arguments")
        return self


class AwsAlbTarget(PlanModel):
    """An ALB listener's default action, or one listener rule, forwarding to two target
    groups with weights (ForwardConfig). Other actions of the listener or rule are kept."""

    listener_arn: str = Field(
        pattern=r"^arn:aws[\w-]*:elasticloadbalancing:",
        description="the listener whose default action forwards the traffic",
    )
    rule_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[\w-]*:elasticloadbalancing:",
        description="a rule of that listener to drive instead of its default action",
    )
    stable_target_group_arn: str = Field(pattern=r"^arn:aws[\w-]*:elasticloadbalancing:")
    canary_target_group_arn: str = Field(pattern=r"^arn:aws[\w-]*:elasticloadbalancing:")
    region: str | None = Field(None, description="default: the region in the listener ARN")

    @model_validator(mode="after")
    def _two_groups(self) -> AwsAlbTarget:
        if self.stable_target_group_arn == self.canary_target_group_arn:
            raise ValueError("stable and canary must be different target groups")
        return self

    @property
    def stable(self) -> str:
        """`targetgroup/NAME/ID`: the TargetGroup dimension of CloudWatch's ALB metrics."""
        return _arn_resource(self.stable_target_group_arn)

    @property
    def canary(self) -> str:
        return _arn_resource(self.canary_target_group_arn)


class AwsLambdaTarget(PlanModel):
    """A Lambda alias shifting a share of invocations from the stable version to the canary
    version (AdditionalVersionWeights); promote points the alias at the canary version."""

    function_name: str = Field(min_length=1, description="function name or ARN")
    alias: str = Field(min_length=1, description="the alias callers invoke, e.g. live")
    stable: str = Field(pattern=r"^[0-9]+$", description="the version the alias serves now")
    canary: str = Field(pattern=r"^[0-9]+$", description="the published version to roll out")
    region: str | None = None

    @model_validator(mode="after")
    def _two_versions(self) -> AwsLambdaTarget:
        if self.stable == self.canary:
            raise ValueError("stable and canary must be different versions")
        return self


class AwsRoute53Target(PlanModel):
    """Two weighted record sets (same name and type, different SetIdentifier)."""

    hosted_zone_id: str = Field(min_length=1)
    record_name: str = Field(min_length=1, description="e.g. app.example.com")
    record_type: Literal["A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", "NS", "PTR", "SPF"] = "A"
    stable: str = Field(min_length=1, description="SetIdentifier of the stable record")
    canary: str = Field(min_length=1, description="SetIdentifier of the canary record")
    wait_for_sync: bool = Field(True, description="wait until each change is INSYNC")
    sync_timeout: Duration = Field(120.0, description="how long to wait for INSYNC")

    @model_validator(mode="after")
    def _two_records(self) -> AwsRoute53Target:
        if self.stable == self.canary:
            raise ValueError("stable and canary must be different SetIdentifiers")
        return self


def _arn_resource(arn: str) -> str:
    return arn.split(":", 5)[-1]


# router name in plans -> (key of its configuration under `target`, model)
ROUTER_CONFIGS: dict[str, tuple[str, type[PlanModel]]] = {
    "haproxy": ("haproxy", HAProxyTarget),
    "exec": ("exec", ExecTarget),
    "aws-alb": ("awsAlb", AwsAlbTarget),
    "aws-lambda": ("awsLambda", AwsLambdaTarget),
    "aws-route53": ("awsRoute53", AwsRoute53Target),
}


class Target(PlanModel):
    router: Literal["haproxy", "exec", "aws-alb", "aws-lambda", "aws-route53"]
    haproxy: HAProxyTarget | None = None
    exec: ExecTarget | None = None
    aws_alb: AwsAlbTarget | None = None
    aws_lambda: AwsLambdaTarget | None = None
    aws_route53: AwsRoute53Target | None = None

    @model_validator(mode="after")
    def _config_matches_router(self) -> Target:
        wanted, _ = ROUTER_CONFIGS[self.router]
        if getattr(self, self._attribute(wanted)) is None:
            raise ValueError(f"router {self.router!r} needs its settings under target.{wanted}")
        extra = [
            key
            for _, (key, _m) in ROUTER_CONFIGS.items()
            if key != wanted and getattr(self, self._attribute(key))
        ]
        if extra:
            raise ValueError(
                f"target.{extra[0]} does not belong to router {self.router!r}; remove it"
            )
        return self

    @classmethod
    def _attribute(cls, key: str) -> str:
        """The attribute holding the settings written under `target.<key>` (camelCase)."""
        for name, info in cls.model_fields.items():
            if (info.alias or name) == key:
                return name
        raise KeyError(key)

    def router_config(self) -> dict[str, Any]:
        key, _ = ROUTER_CONFIGS[self.router]
        value = getattr(self, self._attribute(key))
        return dict(value.model_dump(mode="json", by_alias=True))

    @property
    def stable_name(self) -> str:
        cfg = getattr(self, self._attribute(ROUTER_CONFIGS[self.router][0]))
        return str(getattr(cfg, "stable", "stable"))

    @property
    def canary_name(self) -> str:
        cfg = getattr(self, self._attribute(ROUTER_CONFIGS[self.router][0]))
        return str(getattr(cfg, "canary", "canary"))
