"""AWS Application Load Balancer: weighted forwarding between two target groups.

The router drives one action list: a listener's default actions, or one listener rule's
actions. Its forward action becomes a ForwardConfig with the stable and canary target groups
weighted 100-p and p (ALB takes 0-999 per group); every other action of the list
(authenticate, ordering, stickiness) is kept as it was. The snapshot is the whole action
list as ALB returns it, so a restore puts back exactly what was there, including a plain
`TargetGroupArn` forward. Every write is read back.
"""

from __future__ import annotations

import copy
from typing import Any

from shipsafe.errors import ConfigurationError, ProviderError
from shipsafe.plan.targets import AwsAlbTarget
from shipsafe.providers import aws_common


def _region_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


class AwsAlbRouter:
    name = "aws-alb"

    def __init__(self, target: AwsAlbTarget, client: Any = None) -> None:
        self.target = target
        self.region = target.region or _region_of(target.listener_arn) or None
        self._client = client

    @property
    def elb(self) -> Any:
        if self._client is None:
            self._client = aws_common.client("elbv2", self.region)
        return self._client

    @property
    def _where(self) -> str:
        if self.target.rule_arn:
            return f"aws-alb rule {self.target.rule_arn}"
        return f"aws-alb listener {self.target.listener_arn}"

    # reading ------------------------------------------------------------------------------
    def _actions(self, checking: bool = False) -> list[dict[str, Any]]:
        t = self.target
        with aws_common.aws_errors(self._where, checking):
            if t.rule_arn:
                rules = self.elb.describe_rules(RuleArns=[t.rule_arn])["Rules"]
                if not rules:
                    raise _missing(f"{self._where} not found", checking)
                return list(rules[0].get("Actions") or [])
            listeners = self.elb.describe_listeners(ListenerArns=[t.listener_arn])["Listeners"]
            if not listeners:
                raise _missing(f"{self._where} not found", checking)
            return list(listeners[0].get("DefaultActions") or [])

    def _forward(self, actions: list[dict[str, Any]]) -> int:
        found = [i for i, a in enumerate(actions) if a.get("Type") == "forward"]
        if len(found) != 1:
            types = ", ".join(str(a.get("Type")) for a in actions) or "none"
            raise ProviderError(
                f"{self._where}: expected one forward action, found actions: {types}"
            )
        return found[0]

    def _group_weights(self, action: dict[str, Any]) -> dict[str, int]:
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            return {str(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
        if action.get("TargetGroupArn"):
            return {str(action["TargetGroupArn"]): 1}
        raise ProviderError(f"{self._where}: the forward action names no target group")

    def weights(self) -> dict[str, int]:
        actions = self._actions()
        weights = self._group_weights(actions[self._forward(actions)])
        self._only_ours(weights)
        return weights

    def _only_ours(self, weights: dict[str, int], checking: bool = False) -> None:
        ours = {self.target.stable_target_group_arn, self.target.canary_target_group_arn}
        others = sorted(set(weights) - ours)
        if others:
            raise _missing(
                f"{self._where} forwards to {others[0]}, which is neither the stable nor the "
                "canary target group of the plan",
                checking,
            )

    def get_weight(self) -> int:
        w = self.weights()
        stable = w.get(self.target.stable_target_group_arn, 0)
        canary = w.get(self.target.canary_target_group_arn, 0)
        if stable + canary == 0:
            raise ProviderError(f"{self._where}: both target groups have weight 0")
        return round(100 * canary / (stable + canary))

    def read_state(self) -> dict[str, Any]:
        return {
            "listenerArn": self.target.listener_arn,
            "ruleArn": self.target.rule_arn,
            "actions": self._actions(),
        }

    def config(self) -> dict[str, Any]:
        body = self.target.model_dump(mode="json", by_alias=True)
        body["region"] = self.region
        return dict(body)

    # checks -------------------------------------------------------------------------------
    def check(self) -> None:
        t = self.target
        if t.rule_arn and not _rule_of_listener(t.rule_arn, t.listener_arn):
            raise ConfigurationError(
                f"aws-alb: rule {t.rule_arn} does not belong to listener {t.listener_arn}"
            )
        actions = self._actions(checking=True)
        try:
            forward = actions[self._forward(actions)]
            weights = self._group_weights(forward)
        except ProviderError as exc:
            raise ConfigurationError(str(exc)) from None
        self._only_ours(weights, checking=True)
        arns = [t.stable_target_group_arn, t.canary_target_group_arn]
        with aws_common.aws_errors("aws-alb target groups", checking=True):
            found = self.elb.describe_target_groups(TargetGroupArns=arns)["TargetGroups"]
        missing = set(arns) - {g["TargetGroupArn"] for g in found}
        if missing:
            raise ConfigurationError(f"aws-alb: target group {sorted(missing)[0]} not found")

    # writing ------------------------------------------------------------------------------
    def _write(self, actions: list[dict[str, Any]], what: str) -> None:
        t = self.target
        actions = [_writable(a) for a in actions]
        with aws_common.aws_errors(f"{self._where}: {what}"):
            if t.rule_arn:
                self.elb.modify_rule(RuleArn=t.rule_arn, Actions=actions)
            else:
                self.elb.modify_listener(ListenerArn=t.listener_arn, DefaultActions=actions)

    def set_weight(self, canary_percent: int) -> None:
        if isinstance(canary_percent, bool) or not 0 <= int(canary_percent) <= 100:
            raise ProviderError(f"aws-alb: canary weight {canary_percent}% is outside 0-100")
        p = int(canary_percent)
        actions = copy.deepcopy(self._actions())
        i = self._forward(actions)
        self._only_ours(self._group_weights(actions[i]))
        old = actions[i]
        forward_config: dict[str, Any] = {
            "TargetGroups": [
                {"TargetGroupArn": self.target.stable_target_group_arn, "Weight": 100 - p},
                {"TargetGroupArn": self.target.canary_target_group_arn, "Weight": p},
            ]
        }
        stickiness = (old.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
        if stickiness:
            forward_config["TargetGroupStickinessConfig"] = stickiness
        new: dict[str, Any] = {"Type": "forward", "ForwardConfig": forward_config}
        if "Order" in old:
            new["Order"] = old["Order"]
        actions[i] = new
        self._write(actions, f"set canary weight {p}%")
        actual = self.get_weight()
        if actual != p:
            raise ProviderError(f"{self._where}: set canary {p}% but it reads {actual}%")

    def restore(self, state: dict[str, Any]) -> None:
        actions = state.get("actions")
        if (
            not isinstance(actions, list)
            or state.get("listenerArn") != self.target.listener_arn
            or state.get("ruleArn") != self.target.rule_arn
        ):
            raise ProviderError(f"{self._where}: the snapshot does not describe this target")
        self._write(copy.deepcopy(actions), "restore")


def _writable(action: dict[str, Any]) -> dict[str, Any]:
    """An action as DescribeListeners returns it, made acceptable to ModifyListener.

    ALB never returns an OIDC client secret; writing the action back needs
    UseExistingClientSecret so the stored secret is kept.
    """
    oidc = action.get("AuthenticateOidcConfig")
    if isinstance(oidc, dict) and "ClientSecret" not in oidc:
        action = dict(action)
        action["AuthenticateOidcConfig"] = {**oidc, "UseExistingClientSecret": True}
    return action


def _rule_of_listener(rule_arn: str, listener_arn: str) -> bool:
    # listener:      ...:listener/app/NAME/LB_ID/LISTENER_ID
    # listener rule: ...:listener-rule/app/NAME/LB_ID/LISTENER_ID/RULE_ID
    rule = rule_arn.replace(":listener-rule/", ":listener/", 1)
    return rule.rsplit("/", 1)[0] == listener_arn


def _missing(message: str, checking: bool) -> ProviderError | ConfigurationError:
    return ConfigurationError(message) if checking else ProviderError(message)


def build(config: dict[str, Any], name: str) -> AwsAlbRouter:
    return AwsAlbRouter(aws_common.validated(AwsAlbTarget, config, name))
