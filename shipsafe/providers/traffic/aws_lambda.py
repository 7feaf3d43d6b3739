"""AWS Lambda: an alias shifts a share of invocations to the canary version.

    canary 0%      alias -> stable, no routing config
    canary 1-99%   alias -> stable, AdditionalVersionWeights {canary: p/100}
    canary 100%    alias -> canary, no routing config

The snapshot is the alias's version and routing weights as Lambda returns them; restore
writes both back exactly. Lambda (and moto) accept weights it should not (moto took 1.5), so
shipsafe only ever writes p/100 with p in 1-99.
"""

from __future__ import annotations

from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.plan.targets import AwsLambdaTarget
from shipsafe.providers import aws_common


class AwsLambdaRouter:
    name = "aws-lambda"

    def __init__(self, target: AwsLambdaTarget, client: Any = None) -> None:
        self.target = target
        self._client = client

    @property
    def lam(self) -> Any:
        if self._client is None:
            self._client = aws_common.client("lambda", self.target.region)
        return self._client

    @property
    def _where(self) -> str:
        return f"aws-lambda alias {self.target.function_name}:{self.target.alias}"

    # reading ------------------------------------------------------------------------------
    def _alias(self, checking: bool = False) -> dict[str, Any]:
        with aws_common.aws_errors(self._where, checking):
            alias = self.lam.get_alias(
                FunctionName=self.target.function_name, Name=self.target.alias
            )
        return dict(alias)

    def read_state(self) -> dict[str, Any]:
        return _state(self.target, self._alias())

    def get_weight(self) -> int:
        return self._weight_of(self.read_state())

    def _weight_of(self, state: dict[str, Any]) -> int:
        t = self.target
        version, weights = state["functionVersion"], state["weights"]
        others = sorted(set(weights) - {t.canary})
        if others:
            raise ProviderError(
                f"{self._where} also routes to version {others[0]}, which is not the canary"
            )
        if version == t.canary:
            return 100
        if version != t.stable:
            raise ProviderError(
                f"{self._where} points at version {version}, neither stable ({t.stable}) nor "
                f"canary ({t.canary})"
            )
        return round(100 * float(weights.get(t.canary, 0.0)))

    def config(self) -> dict[str, Any]:
        body = self.target.model_dump(mode="json", by_alias=True)
        body["region"] = aws_common.client_region(self.lam)
        return dict(body)

    # checks -------------------------------------------------------------------------------
    def check(self) -> None:
        t = self.target
        state = _state(self.target, self._alias(checking=True))
        for label, version in (("stable", t.stable), ("canary", t.canary)):
            with aws_common.aws_errors(f"aws-lambda {label} version {version}", checking=True):
                self.lam.get_function_configuration(FunctionName=t.function_name, Qualifier=version)
        try:
            self._weight_of(state)
        except ProviderError as exc:
            raise ConfigurationError(str(exc)) from None

    # writing ------------------------------------------------------------------------------
    def _update(self, version: str, weights: dict[str, float], what: str) -> None:
        with aws_common.aws_errors(f"{self._where}: {what}"):
            self.lam.update_alias(
                FunctionName=self.target.function_name,
                Name=self.target.alias,
                FunctionVersion=version,
                RoutingConfig={"AdditionalVersionWeights": weights},
            )

    def set_weight(self, canary_percent: int) -> None:
        if isinstance(canary_percent, bool) or not 0 <= int(canary_percent) <= 100:
            raise ProviderError(f"aws-lambda: canary weight {canary_percent}% is outside 0-100")
        p, t = int(canary_percent), self.target
        if p == 0:
            self._update(t.stable, {}, "canary 0%")
        elif p == 100:
            self._update(t.canary, {}, "canary 100%")
        else:
            self._update(t.stable, {t.canary: p / 100}, f"canary {p}%")
        actual = self.get_weight()
        if actual != p:
            raise ProviderError(f"{self._where}: set canary {p}% but it reads {actual}%")

    def restore(self, state: dict[str, Any]) -> None:
        version, weights = state.get("functionVersion"), state.get("weights")
        if (
            state.get("functionName") != self.target.function_name
            or state.get("alias") != self.target.alias
            or not isinstance(version, str)
            or not isinstance(weights, dict)
        ):
            raise ProviderError(f"{self._where}: the snapshot does not describe this alias")
        self._update(version, {str(k): float(v) for k, v in weights.items()}, "restore")


def _state(target: AwsLambdaTarget, alias: dict[str, Any]) -> dict[str, Any]:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return {
        "functionName": target.function_name,
        "alias": target.alias,
        "functionVersion": str(alias["FunctionVersion"]),
        "weights": {str(k): float(v) for k, v in sorted(weights.items())},
    }


def build(config: dict[str, Any], name: str) -> AwsLambdaRouter:
    return AwsLambdaRouter(aws_common.validated(AwsLambdaTarget, config, name))
