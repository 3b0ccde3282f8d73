"""Launchers: ECS RunTask on botocore's Stubber (real shapes), selection by settings."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from horizon import correlation
from horizon.agent import launcher as launcher_module
from horizon.agent import reaper
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


def _expected_request(
    owner: str, task_id: str, correlation_id: str | None = None
) -> dict[str, Any]:
    environment = [{"name": "TASK_OWNER", "value": owner}, {"name": "TASK_ID", "value": task_id}]
    if correlation_id is not None:
        environment.append({"name": "CORRELATION_ID", "value": correlation_id})
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
                    "environment": environment,
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


def test_the_task_is_told_the_launching_requests_correlation_id() -> None:
    launcher, stubber = _launcher()
    stubber.add_response(
        "run_task",
        {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "PROVISIONING"}], "failures": []},
        _expected_request("alice", "t-1", "req-5"),
    )
    with stubber, correlation.bound("req-5"):
        launcher.launch("alice", "t-1")
    stubber.assert_no_pending_responses()


def test_a_local_task_process_gets_the_launchs_correlation_id_or_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environments: list[dict[str, str]] = []

    def popen(argv: list[str], env: dict[str, str], **kwargs: Any) -> Any:
        environments.append(env)
        return SimpleNamespace(pid=1)

    monkeypatch.setattr(launcher_module.subprocess, "Popen", popen)
    monkeypatch.setattr(launcher_module._children, "add", lambda *args: None)
    monkeypatch.setenv("CORRELATION_ID", "the-stacks-own")
    with correlation.bound("req-6"):
        SubprocessTaskLauncher().launch("alice", "t-1")
    SubprocessTaskLauncher().launch("alice", "t-2")
    assert environments[0]["CORRELATION_ID"] == "req-6"
    assert "CORRELATION_ID" not in environments[1]


def test_a_local_task_that_died_is_finalized_under_the_launchs_correlation_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str | None] = []
    finalized = threading.Event()

    def finalize_lost(owner: str, task_id: str, reason: str) -> None:
        seen.append(correlation.current())
        finalized.set()

    monkeypatch.setattr(reaper, "finalize_lost", finalize_lost)
    # Killed by SIGKILL; the pid is above Linux's pid_max, so no process group has it.
    died = SimpleNamespace(pid=2**22 + 1, wait=lambda: -9)
    with correlation.bound("req-7"):
        launcher_module._Children().add(died, "alice", "t-1")  # type: ignore[arg-type]
    assert finalized.wait(5)
    assert seen == ["req-7"]


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
