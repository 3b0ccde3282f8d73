"""The embedded moto server's keep-alive handler: one connection serves request after request,
whatever the application read of each body."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import boto3
import pytest
from werkzeug.serving import make_server

from local.aws_plane import free_port
from local.moto_server import EmbeddedMotoServer, KeepAliveRequestHandler

SQS_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


def ignoring_body(environ, start_response):
    """A WSGI app that never reads the request body and answers with what it was asked."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [environ["REQUEST_METHOD"].encode(), b" ", environ["PATH_INFO"].encode()]


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port()
    wsgi = make_server(
        "127.0.0.1", port, ignoring_body, threaded=True, request_handler=KeepAliveRequestHandler
    )
    thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
    thread.start()
    yield port
    wsgi.shutdown()
    wsgi.server_close()


def test_a_body_the_application_left_unread_does_not_break_the_next_request(server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    connection.request("POST", "/first", body=b"x" * 200_000)
    first = connection.getresponse()
    assert (first.status, first.read()) == (200, b"POST /first")
    sock = connection.sock

    connection.request("POST", "/second", body=iter([b"chunked ", b"body"]))  # chunked
    second = connection.getresponse()
    assert (second.status, second.read()) == (200, b"POST /second")
    connection.request("HEAD", "/third")
    third = connection.getresponse()

    assert (third.status, third.read(), third.getheader("Content-Length")) == (200, b"", "11")
    assert connection.sock is sock, "the server closed the connection"
    assert first.getheader("Connection") is None


def test_moto_answers_aws_calls_on_one_connection() -> None:
    moto = EmbeddedMotoServer("127.0.0.1", free_port())
    moto.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", moto.port, timeout=10)
        sockets = []
        for name in ("one", "two", "three"):
            connection.request(
                "POST",
                "/",
                body=f"Action=CreateQueue&QueueName=keepalive-{name}&Version=2012-11-05",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Authorization": SQS_AUTHORIZATION,
                },
            )
            response = connection.getresponse()
            assert response.status == 200
            assert f"keepalive-{name}".encode() in response.read()
            sockets.append(connection.sock)
        assert sockets[0] is sockets[1] is sockets[2]
    finally:
        moto.stop()


def test_a_head_answer_keeps_the_length_a_get_would_have() -> None:
    moto = EmbeddedMotoServer("127.0.0.1", free_port())
    moto.start()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{moto.port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="keepalive")
        s3.put_object(Bucket="keepalive", Key="k", Body=b"x" * 1234)

        assert s3.head_object(Bucket="keepalive", Key="k")["ContentLength"] == 1234
        assert s3.get_object(Bucket="keepalive", Key="k")["Body"].read() == b"x" * 1234
    finally:
        moto.stop()
