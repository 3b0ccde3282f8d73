"""The WebSocket function on real $connect/$disconnect/MESSAGE events."""

import json

import pytest

from functions.websocket.handler import handler
from horizon.settings import reset_settings
from tests.events import load_event
from tests.unit.realtime.conftest import connection_items, make_job, sent_to


def _connect_event(job_id=None, **query):
    event = load_event("ws_connect")
    params = dict(query)
    if job_id is not None:
        params["job_id"] = job_id
    event["queryStringParameters"] = params or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()} or None
    return event


def _message(body, route="$default", connection_id=None):
    event = load_event("ws_message")
    event["requestContext"]["routeKey"] = route
    if connection_id:
        event["requestContext"]["connectionId"] = connection_id
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def _request_id(event):
    """The id a reply to `event` carries: API Gateway's request id, bound by the handler."""
    return event["requestContext"]["requestId"]


def _notify_messages(aws):
    url = aws.provisioned.queue_urls["notify"]
    response = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in response.get("Messages", [])]


def _connect(lambda_context, job_id=None, **query):
    event = _connect_event(job_id, **query)
    response = handler(event, lambda_context)
    return event["requestContext"]["connectionId"], response


def test_connect_records_the_connection(aws, connections, lambda_context):
    connection_id, response = _connect(lambda_context)

    assert response == {"statusCode": 200}
    connection = connections.get_connection(connection_id)
    assert connection.owner == "local"
    assert connection.expires_at - connection.connected_epoch == 2 * 60 * 60
    assert _notify_messages(aws) == []


def test_connect_with_job_subscribes_and_queues_a_snapshot(aws, connections, lambda_context):
    job = make_job()

    connection_id, response = _connect(lambda_context, job.job_id)

    assert response == {"statusCode": 200}
    assert connections.subscribers("local", job.job_id) == [connection_id]
    assert _notify_messages(aws) == [
        {"type": "snapshot", "connection_id": connection_id, "owner": "local", "job_id": job.job_id}
    ]


def test_connect_with_unknown_job_is_accepted_without_subscription(
    aws, connections, lambda_context
):
    job_id = "3f2b8c1e-9d4a-4e7b-8a6f-1c2d3e4f5a6b"

    connection_id, response = _connect(lambda_context, job_id)

    assert response == {"statusCode": 200}
    assert connections.get_connection(connection_id) is not None
    assert connections.subscribers("local", job_id) == []
    # The notify function answers it with a not_found error once the connection is open.
    assert [m["job_id"] for m in _notify_messages(aws)] == [job_id]


def test_connect_with_malformed_job_id_is_400(aws, connections, lambda_context):
    connection_id, response = _connect(lambda_context, "SUB#job#other#x")

    assert response == {"statusCode": 400}
    assert connections.get_connection(connection_id) is None


@pytest.fixture
def tokens(aws, monkeypatch):
    monkeypatch.setenv("API_TOKENS", "tok-a=tenant-a,tok-b=tenant-b")
    reset_settings()


def test_connect_needs_a_token_when_tokens_are_configured(aws, connections, lambda_context, tokens):
    connection_id, response = _connect(lambda_context)
    assert response == {"statusCode": 401}
    assert connections.get_connection(connection_id) is None

    assert _connect(lambda_context, token="nope")[1] == {"statusCode": 401}

    connection_id, response = _connect(lambda_context, token="tok-b")
    assert response == {"statusCode": 200}
    assert connections.get_connection(connection_id).owner == "tenant-b"

    event = _connect_event()
    event["headers"]["Authorization"] = "Bearer tok-a"
    assert handler(event, lambda_context) == {"statusCode": 200}
    assert connections.get_connection(connection_id).owner == "tenant-a"


def test_disconnect_deletes_connection_and_subscriptions(aws, connections, lambda_context):
    job = make_job()
    connection_id, _ = _connect(lambda_context, job.job_id)
    assert connection_items(aws, connection_id)

    disconnect = load_event("ws_disconnect")
    disconnect["requestContext"]["connectionId"] = connection_id
    assert handler(disconnect, lambda_context) == {"statusCode": 200}

    assert connection_items(aws, connection_id) == []
    # A second $disconnect (or one for an unknown id) is harmless.
    assert handler(disconnect, lambda_context) == {"statusCode": 200}


def test_subscribe_records_first_then_pushes_the_current_state(aws, connections, lambda_context):
    connection_id, _ = _connect(lambda_context)
    job = make_job(seq=7)

    event = _message({"action": "subscribe", "job_id": job.job_id}, route="subscribe")
    event["requestContext"]["connectionId"] = connection_id
    assert handler(event, lambda_context) == {"statusCode": 200}

    assert connections.subscribers("local", job.job_id) == [connection_id]
    assert sent_to(connection_id) == [
        {
            "type": "progress",
            "job_id": job.job_id,
            "seq": 7,
            "status": "queued",
            "percent": 40,
            "lines": 40,
            "valid": 39,
            "invalid": 1,
            "correlation_id": _request_id(event),
        }
    ]
    assert connections.get_connection(connection_id).topics == {f"SUB#job#local#{job.job_id}"}


def test_subscribe_to_unknown_or_another_owners_job_is_not_found(aws, connections, lambda_context):
    connection_id, _ = _connect(lambda_context)
    other = make_job(owner="someone-else")

    event = _message({"action": "subscribe", "job_id": other.job_id}, "subscribe", connection_id)
    handler(event, lambda_context)

    assert sent_to(connection_id) == [
        {
            "type": "error",
            "code": "not_found",
            "message": f"job {other.job_id} not found",
            "correlation_id": _request_id(event),
        }
    ]
    assert connections.subscribers("local", other.job_id) == []
    assert connections.subscribers("someone-else", other.job_id) == []


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ("{not json", "$default"),
        ("[1, 2]", "$default"),
        ("", "$default"),
        ({"action": "dance"}, "$default"),
        ({"job_id": "x"}, "$default"),
        ({"action": "subscribe"}, "subscribe"),
        ({"action": "subscribe", "job_id": 42}, "subscribe"),
    ],
)
def test_bad_messages_get_a_bad_request_error_and_keep_the_connection(
    aws, connections, lambda_context, body, route
):
    connection_id, _ = _connect(lambda_context)

    response = handler(_message(body, route, connection_id), lambda_context)

    assert response == {"statusCode": 200}
    [message] = sent_to(connection_id)
    assert message["type"] == "error"
    assert message["code"] == "bad_request"
    assert message["message"]
    assert connections.get_connection(connection_id) is not None


def test_ping_gets_pong(aws, lambda_context):
    connection_id, _ = _connect(lambda_context)

    event = _message({"action": "ping"}, "ping", connection_id)
    handler(event, lambda_context)

    # A reply carries the id of the request it answers (API Gateway's request id).
    assert sent_to(connection_id) == [{"type": "pong", "correlation_id": _request_id(event)}]
