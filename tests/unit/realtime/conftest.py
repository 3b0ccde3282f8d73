"""Fixtures of the realtime tests: messages posted through moto's `@connections` API."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from horizon.clock import now_iso
from horizon.jobs import Job, JobCounts, JobStore
from horizon.realtime import ConnectionStore


def sent_to(connection_id: str) -> list[dict]:
    """Every message posted to the connection, in order (moto concatenates the frames)."""
    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    key = quote(connection_id, safe="")  # moto keeps the id as it appears in the URL
    if key not in backend.connections:
        return []
    data = backend.connections[key].data.decode()
    decoder, messages, index = json.JSONDecoder(), [], 0
    while index < len(data):
        message, index = decoder.raw_decode(data, index)
        messages.append(message)
    return messages


def make_job(owner: str = "local", **fields) -> Job:
    job_id = fields.pop("job_id", str(uuid.uuid4()))
    stamp = now_iso()
    return JobStore().create(
        Job(
            owner=owner,
            job_id=job_id,
            file_name="app.jsonl",
            size_bytes=fields.pop("size_bytes", 1000),
            object_key=f"uploads/{owner}/{job_id}/app.jsonl",
            created_at=stamp,
            updated_at=stamp,
            counts=fields.pop("counts", JobCounts(offset=400, lines=40, valid=39, invalid=1)),
            **fields,
        )
    )


@pytest.fixture
def connections(aws):
    return ConnectionStore()


def connection_items(aws, connection_id: str) -> list[dict]:
    """Every item of the connections table that mentions the connection."""
    items = aws.dynamodb.scan(TableName=aws.env["CONNECTIONS_TABLE"])["Items"]
    return [
        item
        for item in items
        if item["pk"]["S"] == f"CONN#{connection_id}" or item["sk"]["S"] == connection_id
    ]


def age_connection(aws, connection_id: str, seconds: int) -> None:
    """Make the connection's record look `seconds` older."""
    aws.dynamodb.update_item(
        TableName=aws.env["CONNECTIONS_TABLE"],
        Key={"pk": {"S": f"CONN#{connection_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET connected_epoch = connected_epoch - :s",
        ExpressionAttributeValues={":s": {"N": str(seconds)}},
    )


@pytest.fixture
def gone():
    """Make the shared `@connections` client answer 410 GoneException for chosen ids.

    Returns a function taking the ids; other ids still reach moto.
    """
    from botocore.stub import ANY, Stubber

    from horizon import aws as horizon_aws
    from horizon.settings import get_settings

    real = horizon_aws.client(
        "apigatewaymanagementapi", endpoint_url=get_settings().websocket_callback_url
    )
    stubbed: set[str] = set()
    original = real.post_to_connection
    stubber = Stubber(real)

    def post(**kwargs):
        if kwargs["ConnectionId"] in stubbed:
            stubber.add_client_error(
                "post_to_connection",
                service_error_code="GoneException",
                service_message="",
                http_status_code=410,
                expected_params={"ConnectionId": kwargs["ConnectionId"], "Data": ANY},
            )
            with stubber:
                return original(**kwargs)
        return original(**kwargs)

    real.post_to_connection = post
    yield stubbed.update
    del real.post_to_connection
