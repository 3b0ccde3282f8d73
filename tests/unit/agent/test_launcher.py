"""Launchers: ECS RunTask on botocore's Stubber (real shapes), selection by settings."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from horizon.agent.exceptions import LaunchError
from horizon.agent.launcher import EcsTaskLauncher, SubprocessTaskLauncher, make_launcher
from horizon.agent.settings import AgentSettings

CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/horizon"
TASK_DEF = "arn:aws:ecs:us-east-1:123456789012:task-definition/agent:3"
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/horizon/0123456789abcdef"


def _launcher() -> tuple[EcsTaskLauncher, Stubber]:
    client = boto3.client(
        "ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    launcher = EcsTaskLauncher(
        CLUSTER, TASK_DEF, "agent", ["subnet-1", "subnet-2"], ["sg-1"], client
    )
    return launcher, Stubber(client)


def _expected_request(owner: str, task_id: str) -> dict[str, Any]:
    return {
        "cluster": CLUSTER,
        "taskDefinition": TASK_DEF,
        "launchType": "FARGATE",
        "count": 1,
        "startedBy": "horizon-agent",
        "referenceId": task_id,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": ["subnet-1", "subnet-2"],
                "securityGroups": ["sg-1"],
                "assignPublicIp": "ENABLED",
            }
        },
        "overrides": {
            "containerOverrides": [
                {
                    "name": "agent",
                    "environment": [
                        {"name": "TASK_OWNER", "value": owner},
                        {"name": "TASK_ID", "value": task_id},
                    ],
                }
            ]
        },
    }


def test_run_task_request_and_answer() -> None:
    launcher, stubber = _launcher()
    stubber.add_response(
        "run_task",
        {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "PROVISIONING"}], "failures": []},
        _expected_request("alice", "t-1"),
    )
    with stubber:
        assert launcher.launch("alice", "t-1") == TASK_ARN
    stubber.assert_no_pending_responses()


def test_run_task_failures_raise() -> None:
    launcher, stubber = _launcher()
    stubber.add_response(
        "run_task",
        {"tasks": [], "failures": [{"arn": CLUSTER, "reason": "RESOURCE:CPU"}]},
        _expected_request("alice", "t-2"),
    )
    with stubber, pytest.raises(LaunchError, match="RESOURCE:CPU"):
        launcher.launch("alice", "t-2")


def test_run_task_errors_raise() -> None:
    launcher, stubber = _launcher()
    stubber.add_client_error("run_task", "AccessDeniedException", "no")
    with stubber, pytest.raises(LaunchError, match="AccessDeniedException"):
        launcher.launch("alice", "t-3")


def _settings(**env: str) -> AgentSettings:
    return AgentSettings.model_validate({"TASKS_TABLE": "t", **env})


def test_launcher_selection() -> None:
    assert isinstance(make_launcher(_settings()), SubprocessTaskLauncher)
    ecs = make_launcher(
        _settings(
            AGENT_CLUSTER_ARN=CLUSTER,
            AGENT_TASK_DEFINITION_ARN=TASK_DEF,
            AGENT_SUBNETS="subnet-1,subnet-2",
            AGENT_SECURITY_GROUPS="sg-1",
        )
    )
    assert isinstance(ecs, EcsTaskLauncher)
    assert ecs.subnets == ["subnet-1", "subnet-2"] and ecs.security_groups == ["sg-1"]
    with pytest.raises(LaunchError):
        make_launcher(_settings(TASK_LAUNCHER="ecs"))
