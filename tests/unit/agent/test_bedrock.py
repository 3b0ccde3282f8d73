"""The Bedrock agent on botocore's Stubber (real Converse shapes), alone and in a task."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from horizon.agent.bedrock import SHELL_TOOL, BedrockAgent, ShellResult
from horizon.agent.exceptions import PlanError
from horizon.agent.models import TaskStatus
from horizon.agent.store import TaskStore
from horizon.agent.subscriptions import TaskSubscriptions
from horizon.agent.task import TaskProcess
from horizon.errors import DependencyError
from horizon.realtime.connections import ConnectionStore
from tests.conftest import Aws
from tests.unit.agent.conftest import RecordingNotifier

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
USAGE = {"inputTokens": 50, "outputTokens": 20, "totalTokens": 70}


def _client() -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def _answer(content: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": USAGE,
        "metrics": {"latencyMs": 300},
    }


def _request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "modelId": MODEL,
        "system": ANY,
        "messages": messages,
        "toolConfig": {"tools": [SHELL_TOOL]},
        "inferenceConfig": {"maxTokens": 1024, "temperature": 0},
    }


TOOL_USE = {"toolUse": {"toolUseId": "tool-1", "name": "shell", "input": {"command": "echo hi"}}}


def _conversation(stubber: Stubber, task: str, tool_output: str) -> None:
    first = {"role": "user", "content": [{"text": task}]}
    asked = {"role": "assistant", "content": [{"text": "Let me run it."}, TOOL_USE]}
    stubber.add_response("converse", _answer(asked["content"], "tool_use"), _request([first]))
    result = {
        "role": "user",
        "content": [
            {
                "toolResult": {
                    "toolUseId": "tool-1",
                    "content": [{"text": f"exit code 0\n{tool_output}"}],
                    "status": "success",
                }
            }
        ],
    }
    stubber.add_response(
        "converse",
        _answer([{"text": "Done: printed hi."}], "end_turn"),
        _request([first, asked, result]),
    )


def test_a_tool_call_then_the_end() -> None:
    client = _client()
    stubber = Stubber(client)
    _conversation(stubber, "say hi", "hi\n")
    said: list[str] = []
    commands: list[str] = []

    def shell(command: str) -> ShellResult:
        commands.append(command)
        return ShellResult(0, "hi\n")

    with stubber:
        exit_code = BedrockAgent(MODEL, client).run("say hi", shell, said.append)
    assert exit_code == 0 and commands == ["echo hi"]
    assert said == ["Let me run it.", "Done: printed hi."]
    stubber.assert_no_pending_responses()


def test_running_out_of_turns_fails() -> None:
    client = _client()
    stubber = Stubber(client)
    stubber.add_response("converse", _answer([TOOL_USE], "tool_use"))
    with stubber, pytest.raises(PlanError, match="1 turns"):
        BedrockAgent(MODEL, client, max_turns=1).run("x", lambda c: ShellResult(0, ""), print)


def test_a_refusal_by_guardrail_fails() -> None:
    client = _client()
    stubber = Stubber(client)
    stubber.add_response("converse", _answer([{"text": "no"}], "guardrail_intervened"))
    with stubber, pytest.raises(PlanError, match="guardrail_intervened"):
        BedrockAgent(MODEL, client).run("x", lambda c: ShellResult(0, ""), print)


def test_bedrock_errors_are_dependency_errors() -> None:
    client = _client()
    stubber = Stubber(client)
    stubber.add_client_error("converse", "ThrottlingException", "slow down", 429)
    with stubber, pytest.raises(DependencyError, match="ThrottlingException"):
        BedrockAgent(MODEL, client).run("x", lambda c: ShellResult(0, ""), print)


def test_the_task_process_streams_the_agents_commands(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    TaskStore().create("alice", "t1", "say hi", "c1")
    TaskSubscriptions().subscribe(ConnectionStore().put_connection("c1", "alice"), "t1", 0)
    client = _client()
    stubber = Stubber(client)
    _conversation(stubber, "say hi", "hi\n")
    with stubber:
        outcome = TaskProcess(
            "alice",
            "t1",
            notifier=notifier,
            agent=BedrockAgent(MODEL, client),  # type: ignore[arg-type]
        ).run()
    assert outcome.status is TaskStatus.COMPLETED
    stdout = "".join(m["data"] for m in notifier.sent["c1"] if m["type"] == "output")
    assert stdout == "[agent] Let me run it.\nhi\n[agent] Done: printed hi.\n"
    assert notifier.sent["c1"][-1]["status"] == "completed"
