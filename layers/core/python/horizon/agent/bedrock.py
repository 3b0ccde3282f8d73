"""An agent on Amazon Bedrock: the Converse API with one tool, `shell`.

The model is given the task and may call `shell` with a command; each command runs as a step
(streamed live like any other) and its exit code and the tail of its output go back as the
tool result, until the model ends its turn or the turn budget is spent. The model's own
words are streamed on stdout, prefixed so they stand apart from command output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from horizon.agent.exceptions import PlanError
from horizon.dynamo import AWS_ERRORS, error_code
from horizon.errors import DependencyError
from horizon.lazy import aws_client

SYSTEM_PROMPT = (
    "You are an engineering agent working in a scratch directory on Linux. Carry out the "
    "user's task by calling the shell tool, one command at a time. Every command starts in "
    "the scratch directory: to work inside a clone, use `cd <dir> && ...` in the same "
    "command. Stop when the task is done and say in one sentence what you did."
)
SHELL_TOOL = {
    "toolSpec": {
        "name": "shell",
        "description": "Run a shell command (sh -c) in the task's scratch directory.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"command": {"type": "string", "description": "the command"}},
                "required": ["command"],
            }
        },
    }
}


@dataclass(frozen=True)
class ShellResult:
    """What a command did: its exit code, the tail of its output, whether it was stopped."""

    exit_code: int
    output_tail: str
    stopped: bool = False


Shell = Callable[[str], ShellResult]


class BedrockAgent:
    """Runs a task as a Converse conversation with the `shell` tool.

    Args:
        model_id: the Bedrock model (or inference profile) id.
        client: a `bedrock-runtime` client; the shared one when omitted.
        max_turns: model calls at most.
        max_tokens: the answer budget of each call.
    """

    client = aws_client("bedrock-runtime")

    def __init__(
        self, model_id: str, client: Any = None, max_turns: int = 10, max_tokens: int = 1024
    ) -> None:
        self.model_id = model_id
        self._client = client
        self.max_turns = max_turns
        self.max_tokens = max_tokens

    def _converse(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            return self.client.converse(  # type: ignore[no-any-return]
                modelId=self.model_id,
                system=[{"text": SYSTEM_PROMPT}],
                messages=messages,
                toolConfig={"tools": [SHELL_TOOL]},
                inferenceConfig={"maxTokens": self.max_tokens, "temperature": 0},
            )
        except AWS_ERRORS as error:
            raise DependencyError(
                f"the model could not be asked: {error_code(error) or error}"
            ) from error

    def run(self, task: str, shell: Shell, say: Callable[[str], None]) -> int:
        """Converse until the model is done.

        Args:
            task: the user's task.
            shell: runs one command (streaming it) and returns its result.
            say: streams the model's words.

        Returns:
            The exit code of the last command (0 when none ran).

        Raises:
            PlanError: the model ran out of turns or stopped for another reason.
            DependencyError: Bedrock failed.
        """
        messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": task}]}]
        exit_code = 0
        for _ in range(self.max_turns):
            response = self._converse(messages)
            message = response["output"]["message"]
            messages.append(message)
            uses = []
            for block in message.get("content", []):
                if "text" in block and block["text"].strip():
                    say(block["text"])
                if "toolUse" in block:
                    uses.append(block["toolUse"])
            stop_reason = response.get("stopReason")
            if stop_reason != "tool_use" or not uses:
                if stop_reason not in ("end_turn", "stop_sequence"):
                    raise PlanError(f"the model stopped: {stop_reason}")
                return exit_code
            results = []
            for use in uses:
                command = (use.get("input") or {}).get("command")
                if use.get("name") != "shell" or not isinstance(command, str) or not command:
                    results.append(
                        _tool_result(use["toolUseId"], "unknown tool or no command", False)
                    )
                    continue
                result = shell(command)
                exit_code = result.exit_code
                if result.stopped:
                    return exit_code
                text = f"exit code {result.exit_code}\n{result.output_tail}"
                results.append(_tool_result(use["toolUseId"], text, result.exit_code == 0))
            messages.append({"role": "user", "content": results})
        raise PlanError(f"the agent did not finish within {self.max_turns} turns")


def _tool_result(tool_use_id: str, text: str, ok: bool) -> dict[str, Any]:
    return {
        "toolResult": {
            "toolUseId": tool_use_id,
            "content": [{"text": text}],
            "status": "success" if ok else "error",
        }
    }
