"""Amazon CloudWatch: metrics through GetMetricData, and alarms as breakers.

A template's `query` is one of:

    ALARMS(name, name, ...)      how many of these alarms are in ALARM (metric or composite
                                 alarms). Use it as a breaker with `successCondition:
                                 result == 0`, as CodeDeploy users know alarms. An alarm that
                                 does not exist or cannot be read is an error. If none is in
                                 ALARM but some are INSUFFICIENT_DATA the answer is "no data"
                                 (fail closed), unless `args: {insufficientData: ok}`.
    METRIC(namespace, name, stat, Dim=Value, ...)
                                 one metric, written inline so that plan variables work in
                                 it, e.g. TargetGroup={{canary}} for the aws-alb router.
    an id of args.metrics        that metric.
    anything else                a metric-math expression (or a Metrics Insights SELECT)
                                 over the ids of args.metrics and over METRIC(...) written
                                 inline, e.g. FILL(METRIC(AWS/ApplicationELB,
                                 HTTPCode_Target_5XX_Count, Sum, TargetGroup={{canary}}), 0)
                                 / METRIC(AWS/ApplicationELB, RequestCount, Sum,
                                 TargetGroup={{canary}}); only the expression is returned.

`args` (all optional):

    metrics:  {id: {namespace, metricName, dimensions: {Name: Value}, stat, unit}}
    stat:     default statistic of those metrics (Average)
    period:   seconds per datapoint (default: the window, rounded up to whole minutes)
    reduce:   last | max | min | avg | sum over the datapoints in the window (default last)

The window is the template's `window` (default its interval), widened to at least one
period, ending now. No datapoints in it is "no data", never zero. Plan variables are
substituted in `query` only, not in `args`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shipsafe.errors import ProviderError
from shipsafe.plan.sources import CloudWatchSource
from shipsafe.providers import aws_common
from shipsafe.providers.metrics.base import MetricQuery, QueryResult, RangeResult

_ALARMS = re.compile(r"^\s*ALARMS\s*\((.*)\)\s*$", re.DOTALL)
_METRIC = re.compile(r"\bMETRIC\s*\(([^()]*)\)")
_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")
_INLINE_ID = re.compile(r"^inline[0-9]+$")
REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "last": lambda values: values[0],  # newest first (TimestampDescending)
    "max": max,
    "min": min,
    "avg": lambda values: sum(values) / len(values),
    "sum": sum,
}
ALARM_BATCH = 100  # DescribeAlarms takes at most 100 names


def _now() -> datetime:
    return datetime.now(UTC)


class CloudWatchMetrics:
    def __init__(
        self,
        config: CloudWatchSource,
        name: str,
        client: Any = None,
        now: Callable[[], datetime] = _now,
    ) -> None:
        self.config = config
        self.name = name
        self._client = client
        self._now = now

    @property
    def cw(self) -> Any:
        if self._client is None:
            self._client = aws_common.client("cloudwatch", self.config.region)
        return self._client

    def check(self) -> None:
        with aws_common.aws_errors(f"cloudwatch {self.name}"):
            self.cw.describe_alarms(MaxRecords=1)

    def query(self, query: MetricQuery) -> QueryResult:
        alarms = _ALARMS.match(query.text)
        if alarms:
            return self._alarms(_split(alarms.group(1)), query)
        return self._metric_data(query)

    def query_range(self, text: str, start: float, end: float, step: float) -> RangeResult:
        """One metric (METRIC(...), or metric math) over [start, end], one datapoint per
        `step` seconds (the CloudWatch period: 1, 5, 10, 30 or a multiple of 60): what a
        judge check reads. ALARMS(...) has no series and is refused."""
        if _ALARMS.match(text):
            raise ProviderError(
                f"cloudwatch {self.name}: ALARMS(...) is a count of alarms, not a series; "
                "a judge reads METRIC(...) or metric math"
            )
        period = _period(round(step) if step >= 1 else step, step, self.name)
        queries = self._data_queries(text, {}, period)
        sent = json.dumps(queries, separators=(",", ":"))
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            "ScanBy": "TimestampAscending",
        }
        points: list[tuple[float, float]] = []
        labels: set[str] = set()
        with aws_common.aws_errors(f"cloudwatch {self.name}: GetMetricData"):
            while True:
                page = self.cw.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    status = result.get("StatusCode", "Complete")
                    if status in ("InternalError", "Forbidden"):
                        raise ProviderError(f"cloudwatch {self.name}: query {text!r}: {status}")
                    labels.add(str(result.get("Label") or result.get("Id")))
                    points += [
                        (stamp.timestamp(), float(value))
                        for stamp, value in zip(
                            result.get("Timestamps", []), result.get("Values", []), strict=False
                        )
                    ]
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        if len(labels) > 1:
            raise ProviderError(
                f"cloudwatch {self.name}: query {text!r} returned {len(labels)} series; "
                "aggregate it to one (SUM, AVG, MAX ...)"
            )
        return RangeResult(tuple(sorted(points)), sent=sent)

    # alarms -------------------------------------------------------------------------------
    def _alarms(self, names: list[str], query: MetricQuery) -> QueryResult:
        if not names:
            raise ProviderError(f"cloudwatch {self.name}: ALARMS() names no alarm")
        sent = f"DescribeAlarms {', '.join(names)}"
        states: dict[str, str] = {}
        with aws_common.aws_errors(f"cloudwatch {self.name}: {sent}"):
            for i in range(0, len(names), ALARM_BATCH):
                kwargs: dict[str, Any] = {
                    "AlarmNames": names[i : i + ALARM_BATCH],
                    "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                }
                while True:
                    page = self.cw.describe_alarms(**kwargs)
                    for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                        states[str(alarm["AlarmName"])] = str(alarm["StateValue"])
                    if not page.get("NextToken"):
                        break
                    kwargs["NextToken"] = page["NextToken"]
        missing = [n for n in names if n not in states]
        if missing:
            raise ProviderError(
                f"cloudwatch {self.name}: alarm {', '.join(missing)} not found (an alarm that "
                "cannot be read counts as an error)"
            )
        alarming = [n for n in names if states[n] == "ALARM"]
        unknown = [n for n in names if states[n] == "INSUFFICIENT_DATA"]
        # the alarms that fired, by name: what a breaker that trips says first
        detail = (
            f"in ALARM: {', '.join(alarming)}"
            if alarming
            else "; ".join(f"{n}={states[n]}" for n in names)
        )
        insufficient = str(query.args.get("insufficientData", "nodata"))
        if insufficient not in ("nodata", "ok"):
            raise ProviderError(
                f"cloudwatch {self.name}: insufficientData must be nodata or ok, "
                f"not {insufficient!r}"
            )
        if not alarming and unknown and insufficient == "nodata":
            return QueryResult(value=None, sent=sent, detail=detail)
        return QueryResult(value=float(len(alarming)), sent=sent, detail=detail)

    # metrics ------------------------------------------------------------------------------
    def _metric_data(self, query: MetricQuery) -> QueryResult:
        args = query.args
        reduce_name = str(args.get("reduce", "last"))
        if reduce_name not in REDUCERS:
            raise ProviderError(
                f"cloudwatch {self.name}: reduce must be one of {', '.join(REDUCERS)}, "
                f"not {reduce_name!r}"
            )
        period = _period(args.get("period"), query.window_seconds, self.name)
        queries = self._data_queries(query.text, args, period)
        end = self._now().replace(microsecond=0)
        start = end - timedelta(seconds=max(query.window_seconds, period))
        sent = json.dumps(queries, separators=(",", ":"))
        values: list[float] = []
        series: dict[str, str] = {}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampDescending",
        }
        with aws_common.aws_errors(f"cloudwatch {self.name}: GetMetricData"):
            while True:
                page = self.cw.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    status = result.get("StatusCode", "Complete")
                    if status in ("InternalError", "Forbidden"):
                        messages = "; ".join(
                            str(m.get("Value", "")) for m in result.get("Messages", [])
                        )
                        raise ProviderError(
                            f"cloudwatch {self.name}: query {query.text!r}: {status} {messages}"
                        )
                    label = str(result.get("Label") or result.get("Id"))
                    series.setdefault(label, status)
                    values.extend(float(v) for v in result.get("Values", []))
                for message in page.get("Messages", []):
                    if message.get("Code") not in (None, "", "PartialData"):
                        raise ProviderError(
                            f"cloudwatch {self.name}: query {query.text!r}: "
                            f"{message.get('Code')}: {message.get('Value', '')}"
                        )
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        if len(series) > 1:
            raise ProviderError(
                f"cloudwatch {self.name}: query {query.text!r} returned {len(series)} series "
                f"({', '.join(list(series)[:3])}); aggregate it to one (SUM, AVG, MAX ...)"
            )
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return QueryResult(value=None, sent=sent, detail="no datapoints in the window")
        value = REDUCERS[reduce_name](finite)
        return QueryResult(value=value, sent=sent, detail=f"{reduce_name} of {len(finite)}")

    def _data_queries(self, text: str, args: dict[str, Any], period: int) -> list[dict[str, Any]]:
        default_stat = str(args.get("stat", "Average"))
        metrics = args.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise ProviderError(f"cloudwatch {self.name}: args.metrics must be a mapping of ids")
        queries: list[dict[str, Any]] = []
        for metric_id, spec in metrics.items():
            if (
                not _ID.match(str(metric_id))
                or metric_id == "result"
                or _INLINE_ID.match(str(metric_id))
            ):
                raise ProviderError(
                    f"cloudwatch {self.name}: metric id {metric_id!r} must start with a lowercase "
                    "letter, use letters, digits and _, and not be 'result' or inline0, inline1..."
                )
            queries.append(
                {
                    "Id": str(metric_id),
                    "MetricStat": _metric_stat(spec, default_stat, period, self.name),
                    "ReturnData": metric_id == text.strip(),
                }
            )
        inline: list[dict[str, Any]] = []

        def replace(match: re.Match[str]) -> str:
            metric_id = f"inline{len(inline)}"
            stat = _inline_metric(match.group(1), period, self.name)
            inline.append({"Id": metric_id, "MetricStat": stat, "ReturnData": False})
            return metric_id

        expression = _METRIC.sub(replace, text).strip()
        if expression == "inline0" and len(inline) == 1:
            inline[0].update(Id="result", ReturnData=True)  # one metric, no math
            return queries + inline
        if expression in metrics:
            return queries
        return [
            *queries,
            *inline,
            {"Id": "result", "Expression": expression, "Period": period, "ReturnData": True},
        ]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _period(raw: Any, window: float, name: str) -> int:
    if raw is None:
        return max(60, math.ceil(window / 60) * 60)
    try:
        period = int(raw)
    except (TypeError, ValueError):
        raise ProviderError(
            f"cloudwatch {name}: period {raw!r} is not a number of seconds"
        ) from None
    if period not in (1, 5, 10, 30) and (period < 60 or period % 60):
        raise ProviderError(
            f"cloudwatch {name}: period {period} must be 1, 5, 10, 30 or a multiple of 60"
        )
    return period


def _metric_stat(spec: Any, default_stat: str, period: int, name: str) -> dict[str, Any]:
    if not isinstance(spec, dict) or "namespace" not in spec or "metricName" not in spec:
        raise ProviderError(
            f"cloudwatch {name}: each of args.metrics needs namespace and metricName"
        )
    dims = spec.get("dimensions") or {}
    stat: dict[str, Any] = {
        "Metric": {
            "Namespace": str(spec["namespace"]),
            "MetricName": str(spec["metricName"]),
            "Dimensions": [{"Name": str(k), "Value": str(v)} for k, v in dims.items()],
        },
        "Period": int(spec.get("period", period)),
        "Stat": str(spec.get("stat", default_stat)),
    }
    if spec.get("unit"):
        stat["Unit"] = str(spec["unit"])
    return stat


def _inline_metric(text: str, period: int, name: str) -> dict[str, Any]:
    parts = _split(text)
    if len(parts) < 3 or any("=" in p for p in parts[:3]):
        raise ProviderError(
            f"cloudwatch {name}: write METRIC(namespace, metricName, stat, Dim=Value, ...)"
        )
    dims = {}
    for part in parts[3:]:
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ProviderError(f"cloudwatch {name}: METRIC dimension {part!r} is not Name=Value")
        dims[key.strip()] = value.strip()
    return _metric_stat(
        {"namespace": parts[0], "metricName": parts[1], "stat": parts[2], "dimensions": dims},
        parts[2],
        period,
        name,
    )


def build(config: dict[str, Any], name: str) -> CloudWatchMetrics:
    return CloudWatchMetrics(aws_common.validated(CloudWatchSource, config, name), name)
