"""The one registry of providers: plan names -> modules, imported only when used.

Every provider module exposes `build(config: dict, name: str) -> provider`. Unknown names
are rejected when the plan is loaded (the plan models list the same names), never silently
replaced by a default.
"""

from __future__ import annotations

import importlib
from typing import Any

from shipsafe.errors import ConfigurationError
from shipsafe.providers.metrics.base import MetricSource
from shipsafe.providers.snapshots.base import DataSnapshotProvider
from shipsafe.providers.traffic.base import TrafficRouter

ROUTERS: dict[str, str] = {
    "haproxy": "shipsafe.providers.traffic.haproxy",
    "exec": "shipsafe.providers.traffic.exec",
    "aws-alb": "shipsafe.providers.traffic.aws_alb",
    "aws-lambda": "shipsafe.providers.traffic.aws_lambda",
    "aws-route53": "shipsafe.providers.traffic.aws_route53",
}

METRIC_SOURCES: dict[str, str] = {
    "prometheus": "shipsafe.providers.metrics.prometheus",
    "cloudwatch": "shipsafe.providers.metrics.cloudwatch",
    "http": "shipsafe.providers.metrics.http",
    # the built-in checks (`builtin: errorRate`): not written in plans, built by the engine
    "router": "shipsafe.providers.metrics.router_counters",
}

DATA_SNAPSHOTS: dict[str, str] = {
    "file": "shipsafe.providers.snapshots.file",
    "aws-rds": "shipsafe.providers.snapshots.aws_rds",
    "aws-ebs": "shipsafe.providers.snapshots.aws_ebs",
}


def _build(kind: str, table: dict[str, str], name: str, config: dict[str, Any], label: str) -> Any:
    module_name = table.get(name)
    if module_name is None:
        known = ", ".join(sorted(table)) or "(none)"
        raise ConfigurationError(f"unknown {kind} {name!r}; known: {known}")
    module = importlib.import_module(module_name)
    return module.build(config, label)


class Registry:
    """The ProviderFactory the CLI uses. Tests pass their own factory of fakes instead."""

    def router(self, name: str, config: dict[str, Any]) -> TrafficRouter:
        router: TrafficRouter = _build("router", ROUTERS, name, config, name)
        return router

    def metric_source(self, name: str, config: dict[str, Any]) -> MetricSource:
        provider = str(config.get("provider", ""))
        source: MetricSource = _build("metric provider", METRIC_SOURCES, provider, config, name)
        return source

    def data_snapshot(self, name: str, config: dict[str, Any]) -> DataSnapshotProvider:
        provider = str(config.get("provider", ""))
        snap: DataSnapshotProvider = _build(
            "data snapshot provider", DATA_SNAPSHOTS, provider, config, name
        )
        return snap
