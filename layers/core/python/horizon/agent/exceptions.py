"""Failures of agent tasks, one per mode."""

from __future__ import annotations

from horizon.errors import DependencyError, HorizonError, InvalidRequestError


class PlanError(HorizonError):
    """The planner does not understand the task; the message says why (shown to the user)."""


class LaunchError(DependencyError):
    """The task could not be started (RunTask failed, or the subprocess did not start)."""


class TaskRequestError(InvalidRequestError):
    """A run/cancel/subscribe message is malformed."""
