"""The agent's settings, read from the environment like `horizon.settings` (cached getter).

Kept apart from the platform settings so that the task container needs only what it uses.
CDK sets the same variables on the WebSocket function and on the Fargate task.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AgentSettings(BaseSettings):
    """Configuration of agent tasks: launching, planning, limits."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    tasks_table: str = Field(alias="TASKS_TABLE")
    # How a run starts its task: a subprocess (local stack) or ECS RunTask (AWS). Unset means
    # "ecs" when a cluster is configured, otherwise "local".
    task_launcher: Literal["local", "ecs"] | None = Field(default=None, alias="TASK_LAUNCHER")
    ecs_cluster: str | None = Field(default=None, alias="AGENT_CLUSTER_ARN")
    ecs_task_definition: str | None = Field(default=None, alias="AGENT_TASK_DEFINITION_ARN")
    ecs_container_name: str = Field(default="agent", alias="AGENT_CONTAINER_NAME")
    ecs_subnets: str = Field(default="", alias="AGENT_SUBNETS")  # comma-separated ids
    ecs_security_groups: str = Field(default="", alias="AGENT_SECURITY_GROUPS")
    # Local stack only: start task processes without any Linux capability (util-linux
    # `setpriv`), as the container's user 10001 has none, so a stack started as root shows
    # what an unprivileged step can reach.
    local_drop_capabilities: bool = Field(default=False, alias="AGENT_LOCAL_DROP_CAPABILITIES")

    # Which agent plans the steps: the offline planner or an external CLI through a template
    # such as `my-agent --task {task}` ({task} becomes one argument, never shell text).
    planner: Literal["offline", "command", "bedrock"] = Field(
        default="offline", alias="AGENT_PLANNER"
    )
    command_template: str = Field(default="", alias="AGENT_COMMAND_TEMPLATE")
    # The Bedrock agent (AGENT_PLANNER=bedrock): Converse with a shell tool.
    bedrock_model_id: str = Field(
        default="anthropic.claude-3-5-haiku-20241022-v1:0", alias="BEDROCK_MODEL_ID"
    )
    max_turns: int = Field(default=10, alias="AGENT_MAX_TURNS", gt=0)

    # Where tasks get their scratch directories (the Fargate scratch volume).
    scratch_root: str | None = Field(default=None, alias="AGENT_SCRATCH_ROOT")
    timeout_s: float = Field(default=600.0, alias="AGENT_TIMEOUT_S", gt=0)
    output_cap_bytes: int = Field(default=64 * 1024 * 1024, alias="AGENT_OUTPUT_CAP_BYTES", gt=0)
    # Coalescing: a chunk is pushed when this old or this large, whichever comes first.
    flush_interval_s: float = Field(default=0.1, alias="AGENT_FLUSH_INTERVAL_S", gt=0)
    chunk_bytes: int = Field(default=16 * 1024, alias="AGENT_CHUNK_BYTES", gt=0, le=20 * 1024)
    # How often the running task looks for a cancel request and new subscribers.
    poll_interval_s: float = Field(default=0.25, alias="AGENT_POLL_INTERVAL_S", gt=0)
    # Stored chunks and task records expire after this.
    retention_s: int = Field(default=24 * 60 * 60, alias="AGENT_RETENTION_S", gt=0)
    max_task_chars: int = Field(default=4096, alias="AGENT_MAX_TASK_CHARS", gt=0)
    # Liveness: the running task renews a lease on its record every heartbeat; a task whose
    # lease lapsed (SIGKILL, OOM, Fargate stop) is finalized as failed by the next read.
    heartbeat_s: float = Field(default=5.0, alias="AGENT_HEARTBEAT_S", gt=0)
    lease_s: int = Field(default=30, alias="AGENT_LEASE_S", gt=0)
    # How long a launched task may take to start (Fargate image pull) before it counts as lost.
    start_grace_s: int = Field(default=600, alias="AGENT_START_GRACE_S", gt=0)

    def launcher_kind(self) -> str:
        """Return "local" or "ecs": the explicit choice, else ecs when a cluster is set."""
        if self.task_launcher:
            return self.task_launcher
        return "ecs" if self.ecs_cluster else "local"


@lru_cache(maxsize=1)
def get_agent_settings() -> AgentSettings:
    """Return the process's agent settings, read once from the environment."""
    return AgentSettings()  # type: ignore[call-arg]  # values come from the environment


def reset_agent_settings() -> None:
    """Forget the cached agent settings (tests change the environment)."""
    get_agent_settings.cache_clear()
