"""`python -m horizon.agent.task --owner O --task-id T`: run one agent task to its end.

The entry point of the Fargate container and of the local stack's subprocess launcher. It
reads the task record, plans, runs each step in the task's scratch directory, and streams
the output (store, then push) until one final `exit` message. The ids may also come from
the TASK_OWNER / TASK_ID variables (what ECS RunTask overrides set); CORRELATION_ID is
the id of the request that launched the task.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from horizon import correlation
from horizon.agent.bedrock import BedrockAgent, ShellResult
from horizon.agent.coalescer import Coalescer
from horizon.agent.delivery import Broadcaster, Sender
from horizon.agent.exceptions import PlanError
from horizon.agent.isolation import deny_inspection, step_env
from horizon.agent.models import Step, TaskStatus
from horizon.agent.planner import SHELL, CommandPlanner, OfflinePlanner, Planner
from horizon.agent.runner import Limits, StepRunner, StopReason
from horizon.agent.settings import AgentSettings, get_agent_settings
from horizon.agent.store import TaskStore
from horizon.agent.subscriptions import TaskSubscriptions
from horizon.errors import ConflictError, HorizonError
from horizon.realtime.connections import ConnectionStore
from horizon.realtime.notifier import Notifier

logger = logging.getLogger("horizon.agent.task")

EXIT_NOT_STARTED = 127  # the shell's "command not found"
_STOP_STATUS = {
    StopReason.CANCELLED: TaskStatus.CANCELLED,
    StopReason.TIMEOUT: TaskStatus.TIMEOUT,
    StopReason.OUTPUT_CAP: TaskStatus.FAILED,
}
CURSOR_DELAY_S = 0.1  # how soon a subscriber's new cursor is recorded


class Heartbeat:
    """Renews the task's lease from a thread, and records which subscribers it serves.

    The lease is renewed every `interval_s`; the served subscriptions (with their cursors)
    are written at the start and within `CURSOR_DELAY_S` of one coming or going, so a crash
    finalization knows whom the task process was serving (see horizon.agent.reaper). A thread, not the
    step loop, so a long model call or plan does not let the lease lapse.

    Args:
        beat: writes the lease and the given cursors.
        cursors: returns the current cursors.
        interval_s: the lease renewal period.
    """

    def __init__(
        self,
        beat: Callable[[dict[str, tuple[str, int]]], None],
        cursors: Callable[[], dict[str, tuple[str, int]]],
        interval_s: float,
    ) -> None:
        self._beat = beat
        self._cursors = cursors
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        """Record the subscribers known now (before any output), then keep renewing."""
        self._beat(self._cursors())
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        written = _tokens(self._cursors())
        renewed = time.monotonic()
        while not self._stopped.wait(CURSOR_DELAY_S):
            cursors = self._cursors()
            # Written when a subscriber comes or goes, and at every renewal.
            if _tokens(cursors) == written and time.monotonic() - renewed < self._interval_s:
                continue
            try:
                self._beat(cursors)
            except HorizonError as error:
                logger.warning("could not renew the lease: %s", error)
                continue
            written, renewed = _tokens(cursors), time.monotonic()


def _tokens(cursors: dict[str, tuple[str, int]]) -> dict[str, str]:
    return {connection_id: token for connection_id, (token, _) in cursors.items()}


@dataclass(frozen=True)
class Outcome:
    status: TaskStatus
    exit_code: int | None
    error: str | None = None


def make_planner(settings: AgentSettings) -> Planner:
    """Return the planner the settings choose."""
    if settings.planner == "command":
        return CommandPlanner(settings.command_template)
    return OfflinePlanner()


class TaskProcess:
    """Runs one task: plan, steps, output, exit.

    Args:
        owner, task_id: the task.
        store, subscriptions, notifier, connections, planner, settings: collaborators,
            made from the settings when omitted.
    """

    def __init__(
        self,
        owner: str,
        task_id: str,
        store: TaskStore | None = None,
        subscriptions: TaskSubscriptions | None = None,
        notifier: Notifier | None = None,
        connections: ConnectionStore | None = None,
        planner: Planner | None = None,
        settings: AgentSettings | None = None,
        agent: BedrockAgent | None = None,
    ) -> None:
        self.settings = settings or get_agent_settings()
        self.owner = owner
        self.task_id = task_id
        self.store = store or TaskStore()
        self.sender = Sender(
            owner,
            task_id,
            subscriptions or TaskSubscriptions(),
            notifier or Notifier(),
            connections or ConnectionStore(),
        )
        self.broadcaster = Broadcaster(self.store, self.sender, self.settings.poll_interval_s)
        self.planner = planner or make_planner(self.settings)
        self.agent = agent
        if agent is None and planner is None and self.settings.planner == "bedrock":
            self.agent = BedrockAgent(
                self.settings.bedrock_model_id, max_turns=self.settings.max_turns
            )
        self.terminated = False  # SIGTERM (ECS StopTask) counts as a cancel

    def poll(self) -> StopReason | None:
        """Periodic work while a step runs: push to new subscribers, look for a cancel."""
        self.broadcaster.tick()
        if self.terminated:
            return StopReason.CANCELLED
        try:
            if self.store.get(self.owner, self.task_id).cancel_requested:
                return StopReason.CANCELLED
        except HorizonError as error:
            logger.warning("could not check for a cancel: %s", error)
        return None

    def run(self) -> Outcome:
        """Run the task to its end; the exit message is stored and pushed before returning."""
        record = self.store.get(self.owner, self.task_id)
        try:
            self.store.start(self.owner, self.task_id, os.getpid(), self.settings.lease_s)
        except ConflictError:
            # Launched twice (a retried RunTask): the first process owns the task.
            logger.warning(
                "task %s is %s already; not running it again", self.task_id, record.status
            )
            return Outcome(record.status, None)
        self.broadcaster.tick(force=True)  # learn the subscribers before recording them
        heartbeat = Heartbeat(self._beat, self.broadcaster.cursors, self.settings.heartbeat_s)
        heartbeat.start()
        try:
            return self._run(record.task, record.cancel_requested)
        finally:
            heartbeat.stop()

    def _beat(self, cursors: dict[str, tuple[str, int]]) -> None:
        self.store.heartbeat(self.owner, self.task_id, self.settings.lease_s, cursors)

    def _run(self, task: str, cancel_requested: bool) -> Outcome:
        coalescer = Coalescer(
            self.broadcaster.emit_output, self.settings.flush_interval_s, self.settings.chunk_bytes
        )
        scratch = Path(tempfile.mkdtemp(prefix="task-", dir=self.settings.scratch_root))
        try:
            outcome = self._run_steps(task, cancel_requested, coalescer, scratch)
        except HorizonError as error:
            logger.exception("task %s failed", self.task_id)
            outcome = Outcome(TaskStatus.FAILED, None, f"the task could not run: {error}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        coalescer.flush(final=True)
        if outcome.error:
            self.broadcaster.emit_output("stderr", f"{outcome.error}\n".encode())
        if not self.store.claim_exit(self.owner, self.task_id, "task", outcome.status):
            # Given up as lost while it ran (its lease lapsed): the reaper stored the exit.
            logger.warning("task %s was finalized already; its own exit is dropped", self.task_id)
            return Outcome(TaskStatus.FAILED, outcome.exit_code, "finalized as lost")
        self.broadcaster.emit_exit(outcome.status, outcome.exit_code, outcome.error)
        self.broadcaster.close()
        return outcome

    def _run_steps(
        self, task: str, cancelled: bool, coalescer: Coalescer, scratch: Path
    ) -> Outcome:
        if cancelled:
            return Outcome(TaskStatus.CANCELLED, None)
        runner = StepRunner(coalescer, self.poll)
        limits = Limits(
            deadline=time.monotonic() + self.settings.timeout_s,
            output_budget=self.settings.output_cap_bytes,
            poll_interval_s=self.settings.poll_interval_s,
        )
        if self.agent is not None:
            return self._converse(task, coalescer, runner, limits, scratch)
        try:
            steps: list[Step] = self.planner.plan(task)
        except PlanError as error:
            return Outcome(TaskStatus.FAILED, None, str(error))
        cwd, env = scratch, step_env(scratch)
        exit_code = 0
        for step in steps:
            try:
                result = runner.run(step.argv, cwd, env, limits)
            except OSError as error:
                coalescer.flush(final=True)
                return Outcome(TaskStatus.FAILED, EXIT_NOT_STARTED, f"{step.label}: {error}")
            exit_code = result.exit_code
            if result.stopped is not None:
                return self._stopped(result.stopped, exit_code, coalescer)
            if exit_code != 0:
                return Outcome(TaskStatus.FAILED, exit_code)
            if step.enters:
                cwd = cwd / step.enters
        return Outcome(TaskStatus.COMPLETED, exit_code)

    def _stopped(self, reason: StopReason, exit_code: int, coalescer: Coalescer) -> Outcome:
        if reason is StopReason.OUTPUT_CAP:
            coalescer.flush(final=True)
            cap = self.settings.output_cap_bytes
            return Outcome(TaskStatus.FAILED, exit_code, f"output cap of {cap} bytes reached")
        return Outcome(_STOP_STATUS[reason], exit_code)

    def _converse(
        self, task: str, coalescer: Coalescer, runner: StepRunner, limits: Limits, scratch: Path
    ) -> Outcome:
        """Let the Bedrock agent drive: each of its commands is a streamed step."""
        assert self.agent is not None
        env = step_env(scratch)
        stopped: list[StopReason] = []

        def shell(command: str) -> ShellResult:
            result = runner.run((SHELL, "-c", command), scratch, env, limits)
            if result.stopped is not None:
                stopped.append(result.stopped)
            tail = bytes(runner.recent).decode("utf-8", errors="replace")
            return ShellResult(result.exit_code, tail, result.stopped is not None)

        def say(text: str) -> None:
            coalescer.feed("stdout", f"[agent] {text.strip()}\n".encode())

        try:
            exit_code = self.agent.run(task, shell, say)
        except PlanError as error:
            return Outcome(TaskStatus.FAILED, None, str(error))
        if stopped:
            return self._stopped(stopped[0], exit_code, coalescer)
        status = TaskStatus.COMPLETED if exit_code == 0 else TaskStatus.FAILED
        return Outcome(status, exit_code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m horizon.agent.task")
    parser.add_argument("--owner", default=os.environ.get("TASK_OWNER"))
    parser.add_argument("--task-id", default=os.environ.get("TASK_ID"))
    # First: before anything runs, keep the steps out of this process's environment.
    deny_inspection()
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stderr)
    if not args.owner or not args.task_id:
        parser.error("--owner and --task-id (or TASK_OWNER and TASK_ID) are required")
    process = TaskProcess(args.owner, args.task_id)

    def terminate(signum: int, frame: object) -> None:
        process.terminated = True

    signal.signal(signal.SIGTERM, terminate)
    # The launching request's id (the launcher sets it): every message of the run carries it.
    with correlation.bound(os.environ.get(correlation.ENVIRONMENT) or None):
        outcome = process.run()
    logger.info("task %s ended %s (%s)", args.task_id, outcome.status, outcome.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
