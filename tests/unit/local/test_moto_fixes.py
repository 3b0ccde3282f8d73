"""The embedded moto's item-level transaction rollback: same outcomes as DynamoDB's."""

from __future__ import annotations

import sys
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import moto_fixes


@pytest.fixture
def table(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        yield client


def items(client):
    found = client.scan(TableName="t")["Items"]
    return sorted((item["pk"]["S"], item.get("n", {}).get("N")) for item in found)


def put(pk):
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}, "n": {"N": "9"}}}}


def add_one(pk, condition=None):
    update = {
        "TableName": "t",
        "Key": {"pk": {"S": pk}},
        "UpdateExpression": "SET n = n + :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    if condition:
        update["ConditionExpression"] = condition
    return {"Update": update}


def test_a_transaction_applies_every_operation(table):
    table.transact_write_items(TransactItems=[add_one("a"), put("b")])
    assert items(table) == [("a", "2"), ("b", "9")]


def test_a_failed_condition_cancels_everything_with_reasons_in_order(table):
    with pytest.raises(ClientError) as cancelled:
        table.transact_write_items(
            TransactItems=[add_one("a"), put("b"), add_one("a2", "attribute_exists(pk)")]
        )
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert items(table) == [("a", "1")]  # the update undone, the new item gone


def test_two_operations_on_one_item_are_refused_and_nothing_changes(table):
    with pytest.raises(ClientError, match="ValidationException"):
        table.transact_write_items(TransactItems=[put("b"), add_one("a"), put("b")])
    assert items(table) == [("a", "1")]


def test_a_read_never_sees_half_of_an_update(table):
    # Thread switches as often as the interpreter allows, so that a reader served while an
    # UpdateItem applies its actions one by one would see some of them and not others.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    fields = [f"f{i}" for i in range(20)]
    update = "SET " + ", ".join(f"{name} = :value" for name in fields)
    torn: list[dict] = []
    stop = threading.Event()

    def write() -> None:
        try:
            for value in range(1, 300):
                table.update_item(
                    TableName="t",
                    Key={"pk": {"S": "a"}},
                    UpdateExpression=update,
                    ExpressionAttributeValues={":value": {"N": str(value)}},
                )
        finally:
            stop.set()

    def read() -> None:
        while not stop.is_set():
            item = table.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]
            if len({item.get(name, {}).get("N") for name in fields}) > 1:
                torn.append(item)

    threads = [
        threading.Thread(target=write, daemon=True),
        threading.Thread(target=read, daemon=True),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        stop.set()
        sys.setswitchinterval(previous)
    assert not any(thread.is_alive() for thread in threads)
    assert torn == []
