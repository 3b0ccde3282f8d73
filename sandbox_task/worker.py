"""The sandbox worker: takes executions from the execute queue, runs them, stores the results.

In AWS each Fargate task of the sandbox service runs `python -m sandbox_task.worker --once`:
it starts the fork server (pandas, numpy and scipy imported), takes ONE execution and exits, so
the next execution gets a fresh microVM from the warm pool. The local stack runs the same
`ExecutionWorker` in threads that share a long-lived fork server.

Retries: only for the sandbox's own failures (`SandboxError`): the execution goes back to
QUEUED and its message becomes visible at once for another worker, up to
`EXECUTIONS_MAX_ATTEMPTS`. What the code does (errors, timeouts, signals) is its result.
A worker that vanishes mid-run leaves its claim to lapse and the message to come back; the
next delivery runs the execution again or, with no attempts left, ends it FAILED.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from horizon import metrics
from horizon.clock import epoch_s
from horizon.dynamo import AWS_ERRORS
from horizon.errors import HorizonError, NotFoundError
from horizon.executions.exceptions import OwnerBusyError
from horizon.executions.models import Execution, ExecutionStatus
from horizon.executions.service import log_transition, lost_reason, parse_message
from horizon.executions.settings import ExecutionSettings, get_execution_settings
from horizon.executions.store import ExecutionStore
from horizon.lazy import Collaborator, aws_client
from sandbox_task.contract import RunLimits, RunRequest, SandboxError

if TYPE_CHECKING:
    from sandbox_task.client import Sandbox

logger = logging.getLogger(__name__)

WAIT_TIME_S = 20  # SQS long poll


class Outcome(StrEnum):
    DONE = "done"  # delete the message
    RETRY = "retry"  # make the message visible again now
    LATER = "later"  # leave the message; it comes back after its visibility timeout
    BUSY = "busy"  # the owner runs as many as allowed: look again after `busy_retry_s`


class ExecutionWorker:
    """Runs the executions announced on the execute queue.

    Args:
        sandbox: a started `Sandbox`.
        store, sqs: the executions table and an SQS client; shared ones when omitted.
        settings: defaults to the process's execution settings.
    """

    store = Collaborator(ExecutionStore)
    sqs = aws_client("sqs")

    def __init__(
        self,
        sandbox: Sandbox,
        store: ExecutionStore | None = None,
        sqs: Any = None,
        settings: ExecutionSettings | None = None,
    ) -> None:
        self.sandbox = sandbox
        self._store = store
        self._sqs = sqs
        self.settings = settings or get_execution_settings()
        # Runs handed to the sandbox (a single-use task exits after one; messages it only
        # looked at, busy owners or redeliveries, do not count).
        self.runs = 0

    # -- the queue ------------------------------------------------------------------------

    def poll_once(self, wait_time_s: int = WAIT_TIME_S) -> int:
        """Receive at most one message, handle it, settle it on the queue.

        Returns:
            How many messages were received (0 or 1).
        """
        queue_url = self.settings.execute_queue_url
        messages = self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_time_s
        ).get("Messages", [])
        for message in messages:
            outcome = self.handle(message["Body"])
            receipt = message["ReceiptHandle"]
            if outcome == Outcome.DONE:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
            elif outcome == Outcome.RETRY:
                self.sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
            elif outcome == Outcome.BUSY:
                # Sent again with a delay rather than made visible later: waiting for the owner's
                # other runs must not count as failed receives, which would end in the DLQ.
                self.sqs.send_message(
                    QueueUrl=queue_url,
                    MessageBody=message["Body"],
                    DelaySeconds=self.settings.busy_retry_s,
                )
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
        return len(messages)

    # -- one message ----------------------------------------------------------------------

    def handle(self, body: str | bytes) -> Outcome:
        """Run the execution a message names, unless it is finished or held elsewhere."""
        execution_id, submitted = parse_message(body)
        if execution_id is None:
            logger.error("dropping a malformed execute message: %.200r", body)
            return Outcome.DONE
        if submitted is not None and submitted.attempts == 0:
            # The common case, the execution still as submitted: claim it without reading it
            # first (the claim's condition checks that it is); otherwise read where it stands.
            outcome = self._claim_and_run(submitted)
            if outcome is not None:
                return outcome
        try:
            execution = self.store.get(execution_id)
        except NotFoundError:
            logger.warning("execution %s is gone (expired?); dropping its message", execution_id)
            return Outcome.DONE
        if execution.status.finished:
            return Outcome.DONE  # a redelivery of a message already handled
        return self._claim_and_run(execution) or self._not_claimed(execution_id)

    def _claim_and_run(self, execution: Execution) -> Outcome | None:
        """Claim and run the execution as read; None when the claim was refused."""
        reason = lost_reason(execution, epoch_s(), self.settings.lost_after_s)
        if reason:
            return self._finish_failed(execution, reason)
        lease_s = execution.limits.timeout_s + self.settings.lease_grace_s
        try:
            claimed = self.store.claim(
                execution,
                lease_s,
                self.settings.max_attempts,
                self.settings.max_running_per_owner,
            )
        except OwnerBusyError:
            return Outcome.BUSY
        if claimed is None:
            return None
        log_transition(claimed.execution_id, claimed.status.value, attempt=claimed.attempts)
        return self._run(claimed)

    def _not_claimed(self, execution_id: str) -> Outcome:
        execution = self.store.get(execution_id)
        if execution.status.finished:
            return Outcome.DONE
        if execution.status == ExecutionStatus.RUNNING and (
            execution.lease_until is None or execution.lease_until >= epoch_s()
        ):
            return Outcome.LATER  # another worker runs it; come back if that one vanishes
        if execution.attempts >= self.settings.max_attempts:
            return self._finish_failed(
                execution,
                f"the sandbox worker stopped during the run ({execution.attempts} attempts)",
            )
        return Outcome.RETRY  # it changed under us (requeued): try again

    def _run(self, execution: Execution) -> Outcome:
        request = RunRequest(
            run_id=execution.execution_id,
            code=execution.code,
            stdin=execution.stdin,
            limits=RunLimits(
                timeout_s=execution.limits.timeout_s,
                memory_mb=execution.limits.memory_mb,
                output_bytes=execution.limits.output_bytes,
            ),
        )
        self.runs += 1
        try:
            result = self.sandbox.run(request)
        except SandboxError as error:
            logger.warning(
                "execution %s: the sandbox failed on attempt %d: %s",
                execution.execution_id,
                execution.attempts,
                error,
                extra={"execution_id": execution.execution_id},
            )
            if execution.attempts >= self.settings.max_attempts:
                return self._finish_failed(
                    execution, f"the sandbox failed {execution.attempts} times; not retried again"
                )
            if self.store.requeue(execution):
                log_transition(execution.execution_id, ExecutionStatus.QUEUED.value, retry=True)
            return Outcome.RETRY
        status = ExecutionStatus(result.status)
        stored = self.store.finish(
            execution,
            status,
            stdout=result.stdout,
            stderr=result.stderr,
            exit_code=result.exit_code,
            error=result.error,
            execution_time_ms=result.execution_time_ms,
            truncated=result.truncated,
        )
        if stored:
            log_transition(
                execution.execution_id,
                status.value,
                exit_code=result.exit_code,
                execution_time_ms=result.execution_time_ms,
            )
        return Outcome.DONE

    def _finish_failed(self, execution: Execution, reason: str) -> Outcome:
        """End the execution FAILED; if it moved on meanwhile, leave its message to come back
        (whatever it is now decides then)."""
        if not self.store.finish(execution, ExecutionStatus.FAILED, error=reason):
            return Outcome.RETRY
        log_transition(execution.execution_id, ExecutionStatus.FAILED.value, error=reason)
        return Outcome.DONE


def make_sandbox(
    settings: ExecutionSettings | None = None, max_concurrent_runs: int = 1
) -> Sandbox:
    """Return an unstarted sandbox configured by the settings.

    Args:
        settings: the execution settings; the process's when omitted.
        max_concurrent_runs: runs at once (the Fargate task runs one; the local stack one per
            worker thread).
    """
    from sandbox_task.client import Sandbox  # the fork server's client, only where one runs

    settings = settings or get_execution_settings()
    return Sandbox(
        isolation=settings.sandbox_isolation,  # type: ignore[arg-type]
        scratch_root=settings.sandbox_scratch_root,
        max_concurrent_runs=max_concurrent_runs,
    )


def main(argv: list[str] | None = None) -> int:
    """The Fargate task: start the fork server, then run one execution (`--once`) or many."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="exit after one execution")
    args = parser.parse_args(argv)
    # JSON logs like the functions': every transition a line with its execution id.
    source = Logger(service="sandbox")
    copy_config_to_registered_loggers(source_logger=source, include={"horizon", "sandbox_task"})
    stop = threading.Event()
    # ECS stops an idle task (scale-in) with SIGTERM: finish the poll, take nothing new.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with make_sandbox() as sandbox:
        worker = ExecutionWorker(sandbox)
        while not stop.is_set():
            try:
                worker.poll_once()
            except (HorizonError, *AWS_ERRORS):
                logger.exception("polling the execute queue failed; retrying")
                stop.wait(1.0)
                continue
            finally:
                metrics.flush()  # the executions ended, as EMF lines on the task's stdout
            if args.once and worker.runs:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
