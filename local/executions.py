"""The sandbox workers of the local stack: the Fargate pool's stand-in.

In AWS each execution gets a single-use Fargate task from a warm pool. Locally one long-lived
fork server (`sandbox_task.client.Sandbox`) serves every run, and `workers` threads take
executions from the execute queue with the very `ExecutionWorker` the Fargate task runs.
Each run is still a fresh child with its own uid, scratch directory and (where bubblewrap
works) namespaces; what the local stack lacks is the microVM around it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from horizon.executions.settings import ExecutionSettings
from sandbox_task.client import Sandbox
from sandbox_task.worker import ExecutionWorker, make_sandbox

log = logging.getLogger(__name__)

WAIT_TIME_S = 1  # the long poll bounds how long stopping takes


class SandboxWorkers:
    """A fork server and the threads feeding it from the execute queue.

    Args:
        settings: the execution settings (queue URL, isolation, scratch root).
        sqs: an SQS client for the threads.
        workers: threads taking executions at once (runs in parallel).
    """

    def __init__(self, settings: ExecutionSettings, sqs: Any, workers: int = 2) -> None:
        self.settings = settings
        self.sqs = sqs
        self.count = workers
        self.sandbox: Sandbox | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the fork server (pandas imported), then the threads."""
        self.sandbox = make_sandbox(self.settings, max_concurrent_runs=self.count)
        self.sandbox.start()
        worker = ExecutionWorker(self.sandbox, sqs=self.sqs, settings=self.settings)
        for n in range(self.count):
            thread = threading.Thread(
                target=self._loop, args=(worker,), name=f"sandbox-worker-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        log.info("sandbox workers: %d, isolation %s", self.count, self.sandbox.isolation_in_effect)

    def _loop(self, worker: ExecutionWorker) -> None:
        while not self._stop.is_set():
            try:
                worker.poll_once(WAIT_TIME_S)
            except Exception:  # a broken poll must not end the worker
                log.exception("sandbox worker poll failed")
                self._stop.wait(1.0)

    def alive(self) -> int:
        return sum(thread.is_alive() for thread in self._threads)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the threads (a run in progress is waited for) and the fork server."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = []
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
