"""The WebSocket function on real MESSAGE events for tasks, launching with ECS RunTask."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from functions.websocket.handler import handler
from horizon import aws as horizon_aws
from horizon.agent.store import TaskStore
from horizon.realtime.connections import ConnectionStore
from tests.conftest import Aws
from tests.events import load_event
from tests.unit.realtime.conftest import sent_to

CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/horizon"
DEFINITION = "arn:aws:ecs:us-east-1:123456789012:task-definition/agent:1"
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/horizon/4d3c2b1a"


@pytest.fixture
def ecs(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, list[Any]]]:
    """The launcher set to ECS, with the shared ECS client on botocore's Stubber.

    (moto cannot run Fargate tasks in awsvpc mode, so RunTask is stubbed with its real shapes.)
    """
    for name, value in {
        "TASK_LAUNCHER": "ecs",
        "AGENT_CLUSTER_ARN": CLUSTER,
        "AGENT_TASK_DEFINITION_ARN": DEFINITION,
        "AGENT_SUBNETS": "subnet-0a1b2c3d",
        "AGENT_SECURITY_GROUPS": "sg-0a1b2c3d",
    }.items():
        monkeypatch.setenv(name, value)
    client = horizon_aws.client("ecs")
    requests: list[Any] = []
    client.meta.events.register("provide-client-params.ecs.RunTask", _record(requests))
    with Stubber(client) as stubber:
        yield stubber, requests


def _record(requests: list[Any]) -> Any:
    def record(params: dict[str, Any], **_: Any) -> None:
        requests.append(params)

    return record


def test_a_task_message_records_accepts_and_runs_a_fargate_task(
    ecs: tuple[Stubber, list[Any]], lambda_context: Any
) -> None:
    stubber, requests = ecs
    stubber.add_response("run_task", {"tasks": [{"taskArn": TASK_ARN}], "failures": []})
    event = load_event("agent_ws_task")
    connection_id = event["requestContext"]["connectionId"]
    ConnectionStore().put_connection(connection_id, "local")

    assert handler(event, lambda_context) == {"statusCode": 200}

    (accepted,) = sent_to(connection_id)
    assert accepted["type"] == "accepted"
    record = TaskStore().get("local", accepted["task_id"])
    assert record.task == json.loads(event["body"])["task"]
    stubber.assert_no_pending_responses()
    (request,) = requests
    assert (request["cluster"], request["taskDefinition"]) == (CLUSTER, DEFINITION)
    assert request["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == ["subnet-0a1b2c3d"]
    environment = request["overrides"]["containerOverrides"][0]["environment"]
    assert {"name": "TASK_ID", "value": accepted["task_id"]} in environment
    assert {"name": "TASK_OWNER", "value": "local"} in environment


def test_cancel_of_an_unknown_task_answers_not_found(aws: Aws, lambda_context: Any) -> None:
    event = load_event("agent_ws_cancel")
    connection_id = event["requestContext"]["connectionId"]
    ConnectionStore().put_connection(connection_id, "local")

    assert handler(event, lambda_context) == {"statusCode": 200}

    (error,) = sent_to(connection_id)
    assert error["type"] == "error" and error["code"] == "not_found"


def test_a_refused_launch_ends_the_task_failed(
    ecs: tuple[Stubber, list[Any]], lambda_context: Any
) -> None:
    stubber, _ = ecs
    stubber.add_response(
        "run_task", {"tasks": [], "failures": [{"arn": CLUSTER, "reason": "RESOURCE:MEMORY"}]}
    )
    event = load_event("agent_ws_task")
    connection_id = event["requestContext"]["connectionId"]
    ConnectionStore().put_connection(connection_id, "local")

    handler(event, lambda_context)

    accepted, final = sent_to(connection_id)
    assert final["type"] == "exit" and final["status"] == "failed"
    assert "RESOURCE:MEMORY" in final["error"]
    assert TaskStore().get("local", accepted["task_id"]).closed
