"""The AWS plane: embedded moto, or an external endpoint provisioned under a unique prefix."""

import pytest
from moto.server import ThreadedMotoServer

from local.aws_plane import free_port, start_aws_plane, visibility_timeout_from_env


@pytest.fixture
def fake_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_embedded_moto_is_provisioned_and_stopped(fake_credentials):
    plane = start_aws_plane(visibility_timeout_s=3)
    try:
        assert plane.embedded and plane.endpoint_url.startswith("http://127.0.0.1:")
        assert plane.reachable()
        url = plane.provisioned.env["INGEST_QUEUE_URL"]
        attributes = plane.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        assert attributes["VisibilityTimeout"] == "3"
    finally:
        plane.stop()
    assert not plane.reachable()


def test_external_endpoint_gets_a_fresh_prefix_each_start_and_is_left_running(fake_credentials):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        first = start_aws_plane(endpoint_url=endpoint)
        second = start_aws_plane(endpoint_url=endpoint)  # a restart must not collide
        assert not first.embedded
        assert first.prefix != second.prefix
        assert first.provisioned.env["JOBS_TABLE"] != second.provisioned.env["JOBS_TABLE"]
        first.stop()
        assert second.reachable()  # stopping does not stop someone else's endpoint
    finally:
        server.stop()


def test_visibility_timeout_from_env(monkeypatch):
    monkeypatch.delenv("LOCAL_VISIBILITY_TIMEOUT_S", raising=False)
    assert visibility_timeout_from_env() == 10
    monkeypatch.setenv("LOCAL_VISIBILITY_TIMEOUT_S", "3")
    assert visibility_timeout_from_env() == 3
    monkeypatch.setenv("LOCAL_VISIBILITY_TIMEOUT_S", "0")
    with pytest.raises(ValueError):
        visibility_timeout_from_env()
