"""The local gateway over real sockets, with fake handlers: REST proxy, WebSocket API,
@connections through boto3, SQS pollers with DLQ redrive; and the `python -m local` process."""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from contextlib import ExitStack

import boto3
import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from local.stack import LocalStack
from tests.integration.conftest import start_local_stack

pytestmark = pytest.mark.integration

TIMEOUT = 10


_clients_lock = threading.Lock()
_clients = {}


def _management(endpoint_url):
    # boto3's default session is not thread-safe when making clients; handlers run in threads.
    with _clients_lock:
        if endpoint_url not in _clients:
            _clients[endpoint_url] = boto3.session.Session().client(
                "apigatewaymanagementapi",
                endpoint_url=endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return _clients[endpoint_url]


class Fakes:
    """Fake handlers that record what they were given."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ws_events = []
        self.ingest_attempts = 0

    def api(self, event, context):
        path = event["path"]
        if path == "/boom":
            raise RuntimeError("secret stack detail")
        if path == "/malformed":
            return "not a proxy response"
        if path == "/slow":
            time.sleep(1.5)
        if path == "/binary":
            return {
                "statusCode": 200,
                "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(),
                "isBase64Encoded": True,
            }
        echo = {
            "method": event["httpMethod"],
            "path": path,
            "proxy": (event["pathParameters"] or {}).get("proxy"),
            "query": event["multiValueQueryStringParameters"],
            "body": event["body"],
            "isBase64Encoded": event["isBase64Encoded"],
            "contentType": (event["headers"] or {}).get("content-type"),
            "remaining": context.get_remaining_time_in_millis(),
            "domainName": event["requestContext"]["domainName"],
        }
        return {
            "statusCode": 201,
            "headers": {"content-type": "application/json"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": json.dumps(echo),
        }

    def websocket(self, event, context):
        context_ = event["requestContext"]
        with self.lock:
            self.ws_events.append(event)
        if context_["eventType"] == "CONNECT":
            token = (event.get("queryStringParameters") or {}).get("token")
            if token == "bad":
                return {"statusCode": 403, "body": "Forbidden"}
            if token == "raise":
                raise RuntimeError("authorizer crashed")
            return {"statusCode": 200}
        if context_["eventType"] == "DISCONNECT":
            return {"statusCode": 200}
        # Post back through the stage path, as a handler building the URL from the event would.
        api = _management(f"http://{context_['domainName']}/{context_['stage']}")
        connection_id = context_["connectionId"]
        body = event["body"]
        if body == "boom":
            raise RuntimeError("handler failed")
        if body == "close-me":
            api.delete_connection(ConnectionId=connection_id)
            return {"statusCode": 200}
        if body == "who-am-i":
            info = api.get_connection(ConnectionId=connection_id)
            reply = {
                "sourceIp": info["Identity"]["SourceIp"],
                "connectedAt": info["ConnectedAt"].isoformat(),
            }
        else:
            reply = {"route": context_["routeKey"], "body": body, "connectionId": connection_id}
        api.post_to_connection(ConnectionId=connection_id, Data=json.dumps(reply).encode())
        return {"statusCode": 200}

    def ingest(self, event, context):
        with self.lock:
            self.ingest_attempts += 1
        raise RuntimeError("always fails")

    def notify(self, event, context):
        return {"batchItemFailures": []}

    def handlers(self):
        return {
            "api": self.api,
            "websocket": self.websocket,
            "ingest": self.ingest,
            "notify": self.notify,
        }

    def events_of(self, event_type, connection_id=None):
        with self.lock:
            return [
                e
                for e in self.ws_events
                if e["requestContext"]["eventType"] == event_type
                and (connection_id is None or e["requestContext"]["connectionId"] == connection_id)
            ]


@pytest.fixture(scope="module")
def fakes():
    return Fakes()


@pytest.fixture(scope="module")
def stack(fakes):
    with LocalStack(
        port=0, handlers=fakes.handlers(), visibility_timeout_s=1, integration_timeout_s=1.0
    ) as running:
        yield running


def _wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# ---- REST --------------------------------------------------------------------------------


def test_rest_round_trip(stack):
    response = httpx.post(
        f"{stack.rest_url}/api/v1/things/42?a=1&a=2",
        json={"hello": "wörld"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    echo = response.json()
    assert echo["method"] == "POST"
    assert echo["path"] == "/api/v1/things/42"
    assert echo["proxy"] == "api/v1/things/42"
    assert echo["query"] == {"a": ["1", "2"]}
    assert json.loads(echo["body"]) == {"hello": "wörld"}
    assert echo["isBase64Encoded"] is False
    assert echo["domainName"] == f"127.0.0.1:{stack.port}"
    assert 0 < echo["remaining"] <= 29_000


def test_multipart_upload_travels_base64(stack):
    content = b'{"timestamp": "2024-01-01T00:00:00Z"}\n\xff'
    response = httpx.post(
        f"{stack.rest_url}/api/v1/files/upload",
        files={"file": ("a.jsonl", content, "application/octet-stream")},
        timeout=TIMEOUT,
    )
    echo = response.json()
    assert echo["isBase64Encoded"] is True
    assert echo["contentType"].startswith("multipart/form-data")
    assert content in base64.b64decode(echo["body"])


def test_binary_response(stack):
    response = httpx.get(f"{stack.rest_url}/binary", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.content == bytes(range(256))


def test_body_over_10_mb_is_413(stack):
    response = httpx.post(
        f"{stack.rest_url}/api/v1/files/upload",
        content=b"x" * (10 * 1024 * 1024 + 1),
        headers={"content-type": "application/octet-stream"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json() == {"message": "Request Too Long"}


def test_handler_exception_is_502_without_details(stack):
    response = httpx.get(f"{stack.rest_url}/boom", timeout=TIMEOUT)
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
    assert "secret" not in response.text


def test_malformed_response_is_502(stack):
    response = httpx.get(f"{stack.rest_url}/malformed", timeout=TIMEOUT)
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_slow_handler_is_504(stack):
    response = httpx.get(f"{stack.rest_url}/slow", timeout=TIMEOUT)
    assert response.status_code == 504


def test_local_health(stack):
    response = httpx.get(f"{stack.rest_url}/_local/health", timeout=TIMEOUT)
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert health["aws_plane"]["reachable"] is True
    assert health["pollers"]["ingest"]["alive"] == health["pollers"]["ingest"]["expected"] > 0


# ---- WebSocket -----------------------------------------------------------------------------


def test_connect_route_selection_and_push_back(stack, fakes):
    with connect(f"{stack.ws_url}?token=ok", open_timeout=TIMEOUT) as ws:
        ws.send(json.dumps({"action": "ping"}))
        ping = json.loads(ws.recv(timeout=TIMEOUT))
        ws.send(json.dumps({"action": "dance", "task": "x"}))
        unknown = json.loads(ws.recv(timeout=TIMEOUT))
        ws.send("plain text")
        text = json.loads(ws.recv(timeout=TIMEOUT))
    assert ping["route"] == "ping"
    assert unknown["route"] == "$default"
    assert text == {"route": "$default", "body": "plain text", "connectionId": ping["connectionId"]}
    connects = fakes.events_of("CONNECT", ping["connectionId"])
    assert connects[0]["queryStringParameters"] == {"token": "ok"}
    disconnect = _wait_for(lambda: fakes.events_of("DISCONNECT", ping["connectionId"]))
    assert disconnect[0]["requestContext"]["disconnectStatusCode"] == 1000


def test_job_path_passes_job_id_in_the_connect_query(stack, fakes):
    with connect(f"{stack.ws_url}/jobs/job-123?x=1", open_timeout=TIMEOUT) as ws:
        ws.send(json.dumps({"action": "subscribe"}))
        reply = json.loads(ws.recv(timeout=TIMEOUT))
    connect_event = fakes.events_of("CONNECT", reply["connectionId"])[0]
    assert connect_event["queryStringParameters"] == {"x": "1", "job_id": "job-123"}
    assert reply["route"] == "subscribe"


def test_task_path_is_served(stack):
    with connect(f"{stack.ws_url}/task", open_timeout=TIMEOUT) as ws:
        ws.send('{"task": "hi"}')
        assert json.loads(ws.recv(timeout=TIMEOUT))["route"] == "$default"


def test_connect_rejection_refuses_the_handshake(stack, fakes):
    with pytest.raises(InvalidStatus) as raised:
        connect(f"{stack.ws_url}?token=bad", open_timeout=TIMEOUT)
    assert raised.value.response.status_code == 403


def test_connect_handler_failure_refuses_the_handshake_with_500(stack):
    with pytest.raises(InvalidStatus) as raised:
        connect(f"{stack.ws_url}?token=raise", open_timeout=TIMEOUT)
    assert raised.value.response.status_code == 500
    assert b"authorizer crashed" not in raised.value.response.body


def test_head_request_has_no_body(stack):
    response = httpx.head(f"{stack.rest_url}/api/v1/things", timeout=TIMEOUT)
    assert response.status_code == 201
    assert response.content == b""


def test_unknown_websocket_path_is_refused(stack):
    with pytest.raises(InvalidStatus) as raised:
        connect(f"ws://127.0.0.1:{stack.port}/nope", open_timeout=TIMEOUT)
    assert raised.value.response.status_code == 404


def test_handler_failure_sends_api_gateways_error_frame(stack):
    with connect(stack.ws_url, open_timeout=TIMEOUT) as ws:
        ws.send("boom")
        error = json.loads(ws.recv(timeout=TIMEOUT))
    assert error["message"] == "Internal server error"
    assert error["connectionId"] and error["requestId"]


def test_message_over_128_kb_closes_with_1009(stack, fakes):
    with connect(stack.ws_url, open_timeout=TIMEOUT, max_size=None) as ws:
        ws.send("who-am-i")
        json.loads(ws.recv(timeout=TIMEOUT))
        ws.send("x" * (128 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == 1009


def test_connections_api_through_boto3(stack, fakes):
    api = _management(stack.rest_url)  # WEBSOCKET_CALLBACK_URL: no stage
    assert stack.env["WEBSOCKET_CALLBACK_URL"] == stack.rest_url
    with connect(stack.ws_url, open_timeout=TIMEOUT) as ws:
        ws.send("who-am-i")
        who = json.loads(ws.recv(timeout=TIMEOUT))
        assert who["sourceIp"] == "127.0.0.1"
        ws.send("hello")
        connection_id = json.loads(ws.recv(timeout=TIMEOUT))["connectionId"]
        api.post_to_connection(ConnectionId=connection_id, Data=b'{"type": "progress"}')
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"type": "progress"}
        info = api.get_connection(ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["LastActiveAt"] >= info["ConnectedAt"]
        with pytest.raises(api.exceptions.PayloadTooLargeException):
            api.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        api.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
    _wait_for(lambda: fakes.events_of("DISCONNECT", connection_id))
    with pytest.raises(api.exceptions.GoneException):
        api.post_to_connection(ConnectionId=connection_id, Data=b"{}")
    with pytest.raises(api.exceptions.GoneException):
        api.get_connection(ConnectionId="neverExisted0=")


def test_handler_can_close_its_own_connection(stack, fakes):
    with connect(stack.ws_url, open_timeout=TIMEOUT) as ws:
        ws.send("close-me")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)


def test_many_concurrent_connections_push_back_without_deadlock(stack):
    with ExitStack() as opened:
        sockets = [
            opened.enter_context(connect(stack.ws_url, open_timeout=TIMEOUT)) for _ in range(10)
        ]
        for index, ws in enumerate(sockets):
            for n in range(3):
                ws.send(f"{index}-{n}")
        for index, ws in enumerate(sockets):
            bodies = sorted(json.loads(ws.recv(timeout=TIMEOUT))["body"] for _ in range(3))
            assert bodies == [f"{index}-{n}" for n in range(3)]


# ---- SQS pollers ---------------------------------------------------------------------------


def test_failing_messages_move_to_the_dlq(stack, fakes):
    sqs = stack.plane.client("sqs")
    urls = stack.plane.provisioned
    sqs.send_message(QueueUrl=urls.queue_urls["ingest"], MessageBody='{"poison": true}')

    def in_dlq():
        messages = sqs.receive_message(
            QueueUrl=urls.dlq_urls["ingest"], MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        return [m for m in messages if m["Body"] == '{"poison": true}']

    assert _wait_for(in_dlq, timeout=60)
    assert fakes.ingest_attempts >= 5


# ---- idle timeout (its own stack) ----------------------------------------------------------


def test_idle_connection_is_closed_with_1001_and_disconnected():
    fakes = Fakes()
    with LocalStack(port=0, handlers=fakes.handlers(), pollers=False, idle_timeout_s=1.0) as idle:
        with (
            connect(idle.ws_url, open_timeout=TIMEOUT) as ws,
            pytest.raises(ConnectionClosed) as closed,
        ):
            ws.recv(timeout=TIMEOUT)
        assert closed.value.rcvd.code == 1001
        disconnect = _wait_for(lambda: fakes.events_of("DISCONNECT"))
        assert disconnect[0]["requestContext"]["disconnectStatusCode"] == 1001


# ---- the `python -m local` process ---------------------------------------------------------


def test_session_fixture_points_at_a_provisioned_plane(local_stack):
    health = httpx.get(f"{local_stack.rest_url}/_local/health", timeout=TIMEOUT).json()
    assert health["aws_plane"]["reachable"] is True
    buckets = [b["Name"] for b in local_stack.client("s3").list_buckets()["Buckets"]]
    assert local_stack.env["UPLOADS_BUCKET"] in buckets


def test_subprocess_stack_serves_and_exits_cleanly_on_sigterm():
    with start_local_stack(API_TOKENS="t1=tenant-a", LOCAL_VISIBILITY_TIMEOUT_S="2") as running:
        assert running.env["WEBSOCKET_CALLBACK_URL"] == running.rest_url
        assert running.ws_url == running.rest_url.replace("http://", "ws://") + "/ws"
        health = httpx.get(f"{running.rest_url}/_local/health", timeout=TIMEOUT).json()
        assert health["aws_plane"]["reachable"] is True
        tables = running.client("dynamodb").list_tables()["TableNames"]
        assert running.env["JOBS_TABLE"] in tables
        attributes = running.client("sqs").get_queue_attributes(
            QueueUrl=running.env["INGEST_QUEUE_URL"], AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        assert attributes["VisibilityTimeout"] == "2"
        with pytest.raises(running.connections_client().exceptions.GoneException):
            running.connections_client().post_to_connection(ConnectionId="gone0=", Data=b"{}")
        process = running.process
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0


def test_connection_reaching_its_hard_limit_is_closed_even_when_active():
    fakes = Fakes()
    with LocalStack(
        port=0, handlers=fakes.handlers(), pollers=False, idle_timeout_s=60, hard_timeout_s=1.5
    ) as limited:
        started = time.monotonic()
        with (
            connect(limited.ws_url, open_timeout=TIMEOUT) as ws,
            pytest.raises(ConnectionClosed) as closed,
        ):
            while time.monotonic() - started < TIMEOUT:
                ws.send("still here")  # activity does not extend the 2 h limit
                ws.recv(timeout=TIMEOUT)
                time.sleep(0.2)
        assert closed.value.rcvd.code == 1001
        assert 1.0 < time.monotonic() - started < 5
        disconnect = _wait_for(lambda: fakes.events_of("DISCONNECT"))
        assert disconnect[0]["requestContext"]["disconnectReason"] == "Going away"
