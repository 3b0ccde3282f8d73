"""Starting a task process: ECS RunTask in AWS, a subprocess in the local stack.

Both start the same entry point (`python -m horizon.agent.task`) with the task's owner and
id; `make_launcher` picks one from the settings (TASK_LAUNCHER, or ecs when a cluster is set).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

import horizon
from horizon import correlation
from horizon.agent.exceptions import LaunchError
from horizon.agent.settings import AgentSettings, get_agent_settings
from horizon.dynamo import AWS_ERRORS, error_code
from horizon.errors import HorizonError
from horizon.lazy import aws_client

logger = logging.getLogger(__name__)

ENTRY_MODULE = "horizon.agent.task"
STARTED_BY = "horizon-agent"


class TaskLauncher(Protocol):
    def launch(self, owner: str, task_id: str) -> str:
        """Start the task process; return an id for logs (task ARN, pid).

        Raises:
            LaunchError: it could not be started.
        """
        ...


class EcsTaskLauncher:
    """Starts one Fargate task per agent task (`ecs:RunTask`).

    Args:
        cluster, task_definition, container_name: what to run.
        subnets, security_groups: the task's network (public subnets: egress for cloning).
        client: an ECS client; the shared one when omitted.
    """

    client = aws_client("ecs")

    def __init__(
        self,
        cluster: str,
        task_definition: str,
        container_name: str,
        subnets: list[str],
        security_groups: list[str],
        client: Any = None,
    ) -> None:
        self.cluster = cluster
        self.task_definition = task_definition
        self.container_name = container_name
        self.subnets = subnets
        self.security_groups = security_groups
        self._client = client

    def launch(self, owner: str, task_id: str) -> str:
        try:
            response = self.client.run_task(
                cluster=self.cluster,
                taskDefinition=self.task_definition,
                launchType="FARGATE",
                count=1,
                startedBy=STARTED_BY,
                referenceId=task_id,
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": self.subnets,
                        "securityGroups": self.security_groups,
                        # Public subnets without NAT: a public IP is the way out for cloning.
                        "assignPublicIp": "ENABLED",
                    }
                },
                overrides={
                    "containerOverrides": [
                        {
                            "name": self.container_name,
                            "environment": [
                                {"name": "TASK_OWNER", "value": owner},
                                {"name": "TASK_ID", "value": task_id},
                                *_correlation_environment(),
                            ],
                        }
                    ]
                },
            )
        except AWS_ERRORS as error:
            raise LaunchError(f"could not start the task: {error_code(error) or error}") from error
        if response.get("failures") or not response.get("tasks"):
            reasons = ", ".join(f.get("reason", "?") for f in response.get("failures", []))
            raise LaunchError(f"could not start the task: {reasons or 'no task started'}")
        return str(response["tasks"][0]["taskArn"])


class _Children:
    """The local launcher's live subprocesses: reaped when they end, stopped at exit.

    A child that ends with a failure status (killed by a signal, an uncaught error) may have
    died before its `exit`: its task is finalized as failed (`horizon.agent.reaper`; a no-op
    when the child had finished the task). A child ending with 0 always finished or found
    the task owned by another launch.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, subprocess.Popen[bytes]] = {}
        self._stopping = False
        atexit.register(self.stop_all)

    def add(self, process: subprocess.Popen[bytes], owner: str, task_id: str) -> None:
        with self._lock:
            self._live[process.pid] = process
        # In the launch's context: the exit of a task that died, pushed from there, carries
        # the id of the request that launched it, as the task's own messages do.
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._reap, process, owner, task_id),
            daemon=True,
        ).start()

    def _reap(self, process: subprocess.Popen[bytes], owner: str, task_id: str) -> None:
        returncode = process.wait()
        with self._lock:
            self._live.pop(process.pid, None)
            if self._stopping or returncode == 0:
                return
        # Imported here: the reaper brings the DynamoDB and @connections clients along.
        from horizon.agent.reaper import finalize_lost, stop_reason

        try:
            finalize_lost(owner, task_id, stop_reason(returncode))
        except HorizonError:
            logger.exception("could not finalize task %s after its process ended", task_id)

    def stop_all(self) -> None:
        with self._lock:
            self._stopping = True
            live = list(self._live.values())
        for process in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


_children = _Children()


class SubprocessTaskLauncher:
    """Starts the task entry point as a local subprocess (the local stack's ECS RunTask).

    The child inherits the environment (the local AWS plane and @connections endpoint) and
    runs in its own session, so it outlives the handler's thread but not the stack.
    """

    def __init__(self, drop_capabilities: bool = False) -> None:
        self.drop_capabilities = drop_capabilities

    def launch(self, owner: str, task_id: str) -> str:
        env = dict(os.environ)
        env.pop(correlation.ENVIRONMENT, None)  # the launch's id or none, never the stack's
        env.update({item["name"]: item["value"] for item in _correlation_environment()})
        library = str(Path(horizon.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (library, env.get("PYTHONPATH", "")) if part
        )
        argv = [sys.executable, "-m", ENTRY_MODULE, "--owner", owner, "--task-id", task_id]
        if self.drop_capabilities:
            argv = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", *argv]
        try:
            process = subprocess.Popen(  # noqa: S603 - fixed argv
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise LaunchError(f"could not start the task process: {error}") from error
        _children.add(process, owner, task_id)
        return f"pid {process.pid}"


def make_launcher(settings: AgentSettings | None = None) -> TaskLauncher:
    """Return the launcher the settings choose.

    Raises:
        LaunchError: ecs is chosen but the task definition is not configured.
    """
    settings = settings or get_agent_settings()
    if settings.launcher_kind() == "local":
        return SubprocessTaskLauncher(settings.local_drop_capabilities)
    if not settings.ecs_cluster or not settings.ecs_task_definition:
        raise LaunchError("AGENT_CLUSTER_ARN and AGENT_TASK_DEFINITION_ARN must be set")
    return EcsTaskLauncher(
        cluster=settings.ecs_cluster,
        task_definition=settings.ecs_task_definition,
        container_name=settings.ecs_container_name,
        subnets=[s for s in settings.ecs_subnets.split(",") if s],
        security_groups=[s for s in settings.ecs_security_groups.split(",") if s],
    )


def _correlation_environment() -> list[dict[str, str]]:
    """The task's `CORRELATION_ID`, so its log lines and pushes join the request's."""
    correlation_id = correlation.current()
    return [{"name": correlation.ENVIRONMENT, "value": correlation_id}] if correlation_id else []
