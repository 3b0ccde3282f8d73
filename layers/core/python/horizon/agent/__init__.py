"""Agent tasks: text in, planned steps run as process groups, output streamed live.

- `planner`: text → steps (offline phrasings, or an external agent CLI);
- `runner` + `coalescer`: a step as a process group, output coalesced into chunks;
- `store` + `subscriptions` + `delivery`: every message stored, then pushed, replayable;
- `task`: the task process's entry point (`python -m horizon.agent.task`);
- `service`: the WebSocket routes' side (validate, record, launch);
- `launcher`: ECS RunTask or a local subprocess.
"""

from horizon.agent.exceptions import LaunchError, PlanError, TaskRequestError
from horizon.agent.models import Step, TaskRecord, TaskStatus
from horizon.agent.service import TaskService

__all__ = [
    "LaunchError",
    "PlanError",
    "Step",
    "TaskRecord",
    "TaskRequestError",
    "TaskService",
    "TaskStatus",
]
