"""Low-level pieces of the DynamoDB store: table URL, attribute values, expressions, keys
and the table's schema. shipsafe only ever stores strings and numbers."""

from __future__ import annotations

import re
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

from pydantic import BaseModel

from shipsafe.errors import ConflictError, UsageError
from shipsafe.providers import aws_common

SCHEMA_VERSION = "1"
INDEX = "by_created"
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")

M = TypeVar("M", bound=BaseModel)


def parse_url(url: str) -> tuple[str, str | None]:
    """dynamodb://TABLE[?region=R] -> (table, region)."""
    parsed = urlparse(url)
    if parsed.scheme != "dynamodb" or not _TABLE.match(parsed.netloc or ""):
        raise UsageError(
            f"{url}: a DynamoDB state store is dynamodb://TABLE (3-255 of A-Z a-z 0-9 _ . -), "
            "optionally ?region=REGION"
        )
    regions = parse_qs(parsed.query).get("region") or []
    region = regions[0] if regions else None
    return parsed.netloc, region


def _av(value: Any) -> dict[str, str]:
    if isinstance(value, bool):
        return {"N": "1" if value else "0"}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    return {"S": str(value)}


def _item(**fields: Any) -> dict[str, dict[str, str]]:
    return {k: _av(v) for k, v in fields.items() if v is not None}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if "S" in value:
            out[key] = value["S"]
        elif "N" in value:
            number = value["N"]
            out[key] = float(number) if any(c in number for c in ".eE") else int(number)
    return out


def _dump(model: BaseModel) -> str:
    return model.model_dump_json()


def _load(cls: type[M], body: str) -> M:
    return cls.model_validate_json(body)


def _rollout_pk(rollout_id: str) -> str:
    return f"rollout#{rollout_id}"


def _seq_sk(kind: str, seq: int) -> str:
    return f"{kind}#{seq:012d}"


class _ConditionFailed(ConflictError):
    """A conditional write found the item changed (translated by callers)."""


_NAME = re.compile(r"#([A-Za-z_][A-Za-z0-9_]*)")


def _expressions(
    update: str | None = None, condition: str | None = None, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Expression arguments; every attribute is written #name (many are reserved words)."""
    out: dict[str, Any] = {}
    text = " ".join(e for e in (update, condition) if e)
    if update:
        out["UpdateExpression"] = update
    if condition:
        out["ConditionExpression"] = condition
    names = {f"#{n}": n for n in _NAME.findall(text)}
    if names:
        out["ExpressionAttributeNames"] = names
    if values:
        out["ExpressionAttributeValues"] = {k: _av(v) for k, v in values.items()}
    return out


def _conditional_failed(exc: BaseException) -> bool:
    code = aws_common.error_code(exc)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons
    return False


def _table_spec(table: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": ["id", "environment", "service"],
                },
            }
        ],
        "Tags": [{"Key": "shipsafe:store", "Value": SCHEMA_VERSION}],
    }
