"""The embedded moto's fixes: the same outcomes as DynamoDB's, and as moto's own code."""

from __future__ import annotations

import sys
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

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


@pytest.fixture
def ranged(table):
    """A table with a range key: three partitions, one of them with every attribute type."""
    table.create_table(
        TableName="r",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    every_type = {
        "s": {"S": "text é ✓"},
        "n": {"N": "12.50"},
        "b": {"B": b"\x00\xffbytes"},
        "yes": {"BOOL": True},
        "none": {"NULL": True},
        "list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"B": b"\x01"}}}]},
        "map": {"M": {"a": {"SS": ["p", "q"]}, "b": {"NS": ["1", "2.5"]}}},
        "bs": {"BS": [b"one", b"two"]},
    }
    for pk in ("p1", "p2", "p3"):
        for n in (7, 3, 11, 1, 5):  # written out of order
            item = {"pk": {"S": pk}, "sk": {"S": f"sk#{n:02d}"}, "k": {"N": str(n)}}
            table.put_item(TableName="r", Item={**item, **(every_type if pk == "p2" else {})})
    return table


def _reads(client) -> list:
    key = {"pk": {"S": "p2"}, "sk": {"S": "sk#03"}}
    query = {
        "TableName": "r",
        "KeyConditionExpression": "pk = :pk AND sk > :after",
        "ExpressionAttributeValues": {":pk": {"S": "p2"}, ":after": {"S": "sk#01"}},
    }
    responses = [
        client.get_item(TableName="r", Key=key),
        client.get_item(TableName="r", Key={"pk": {"S": "p2"}, "sk": {"S": "absent"}}),
        client.get_item(
            TableName="r",
            Key=key,
            ProjectionExpression="k, #m.a",
            ExpressionAttributeNames={"#m": "map"},
        ),
        client.query(**query),
        client.query(**query, ScanIndexForward=False, Limit=2),
        client.query(**query, ExclusiveStartKey=key, ConsistentRead=True),
        client.query(
            **{
                **query,
                "ExpressionAttributeValues": {
                    **query["ExpressionAttributeValues"],
                    ":k": {"N": "6"},
                },
            },
            FilterExpression="k < :k",
            ReturnConsumedCapacity="TOTAL",
        ),
        client.query(
            TableName="r",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "nobody"}},
        ),
        client.batch_get_item(
            ReturnConsumedCapacity="TOTAL",
            RequestItems={
                "r": {
                    "Keys": [
                        key,
                        {"pk": {"S": "p1"}, "sk": {"S": "sk#11"}},
                        {"pk": {"S": "p9"}, "sk": {"S": "x"}},
                    ]
                }
            },
        ),
    ]
    for response in responses:
        response.pop("ResponseMetadata")
    return responses


def _typed(value):
    """`value` with each leaf paired with its type, for a comparison where 2 != 2.0."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


def test_reads_answer_as_moto_serializer_and_full_table_query_would(ranged, monkeypatch):
    fixed = _reads(ranged)
    monkeypatch.setattr(DynamoHandler, "serialized", moto_fixes.moto_serialized)
    monkeypatch.setattr(Table, "query", moto_fixes.moto_query)
    assert _typed(fixed) == _typed(_reads(ranged))  # 2 and 2.0 differ here
    # The comparison saw real answers: the partition alone, in key order, with every type.
    assert [item["k"]["N"] for item in fixed[3]["Items"]] == ["3", "5", "7", "11"]
    assert [item["k"]["N"] for item in fixed[4]["Items"]] == ["11", "7"]
    assert fixed[0]["Item"]["b"] == {"B": b"\x00\xffbytes"}
    assert fixed[0]["Item"]["map"]["M"]["b"] == {"NS": ["1", "2.5"]}
    assert fixed[1] == {}


def test_an_update_expression_parsed_once_still_applies_each_request_values(table):
    for value in ("5", "8"):
        table.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET n = :v, copies = list_append(if_not_exists(copies, :none), :one)",
            ExpressionAttributeValues={
                ":v": {"N": value},
                ":one": {"L": [{"N": value}]},
                ":none": {"L": []},
            },
        )
    item = table.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]
    assert item["n"] == {"N": "8"}
    assert item["copies"] == {"L": [{"N": "5"}, {"N": "8"}]}
    for _ in range(2):  # a bad expression is refused every time, not remembered as parsed
        with pytest.raises(ClientError, match="ValidationException"):
            table.update_item(
                TableName="t",
                Key={"pk": {"S": "a"}},
                UpdateExpression="SET n = = :v",
                ExpressionAttributeValues={":v": {"N": "1"}},
            )
