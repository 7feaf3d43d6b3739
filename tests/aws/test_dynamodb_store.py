"""The DynamoDB store on moto: the store contract, then opening and `store init`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shipsafe.errors import NotAShipsafeStore, StoreError, UsageError
from shipsafe.store import open_store
from shipsafe.store.dynamodb import DynamoDBStore
from tests.contract.store_contract import StoreContract

URL = "dynamodb://shipsafe-state"


class TestDynamoDBStoreContract(StoreContract):
    @pytest.fixture
    def store(self, aws: Any, atomic_moto: None) -> Iterator[DynamoDBStore]:
        DynamoDBStore.init(URL)
        yield DynamoDBStore.open(URL)

    @pytest.fixture
    def open_other(self, store: DynamoDBStore) -> Callable[[], DynamoDBStore]:
        return lambda: DynamoDBStore.open(URL)


def test_init_creates_an_on_demand_table_with_ttl(aws: Any) -> None:
    message = DynamoDBStore.init(URL)
    assert "created DynamoDB table shipsafe-state" in message
    db = aws.client("dynamodb")
    table = db.describe_table(TableName="shipsafe-state")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = db.describe_time_to_live(TableName="shipsafe-state")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_init_twice_is_fine(aws: Any) -> None:
    DynamoDBStore.init(URL)
    assert "is a shipsafe store already" in DynamoDBStore.init(URL)


def test_open_store_routes_dynamodb_urls(aws: Any) -> None:
    DynamoDBStore.init(URL + "?region=us-east-1")
    store = open_store(URL + "?region=us-east-1")
    assert isinstance(store, DynamoDBStore)


def test_a_missing_table_says_how_to_create_it(aws: Any) -> None:
    with pytest.raises(UsageError, match="shipsafe store init --state dynamodb://nope"):
        DynamoDBStore.open("dynamodb://nope")


def test_a_foreign_table_is_not_a_store(aws: Any) -> None:
    aws.client("dynamodb").create_table(
        TableName="orders",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    with pytest.raises(NotAShipsafeStore, match="not a shipsafe store"):
        DynamoDBStore.open("dynamodb://orders")
    with pytest.raises(NotAShipsafeStore):
        DynamoDBStore.init("dynamodb://orders")


@pytest.mark.parametrize("url", ["dynamodb://", "dynamodb://a b", "dynamo://table"])
def test_a_bad_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="dynamodb://TABLE"):
        DynamoDBStore.open(url)


def test_throttling_past_the_retries_is_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from botocore.stub import Stubber

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    client = boto3.session.Session(region_name="us-east-1").client("dynamodb")
    store = DynamoDBStore(URL, "shipsafe-state", client)
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_item", "ProvisionedThroughputExceededException", "slow down", 400
        )
        with pytest.raises(StoreError, match="ProvisionedThroughputExceeded"):
            store.get_meta("x")
