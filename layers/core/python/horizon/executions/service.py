"""Code execution for the API: queue executions, wait for or read their results, code sessions.

An execution is stored QUEUED (counted against its owner's limit in the same write), then
announced on the execute queue; a sandbox worker (`sandbox_task.worker`) runs it and stores the
result. `POST /execute` waits for that result up to `EXECUTE_WAIT_S`; `GET /executions/{id}`
reads it, and ends FAILED an execution that no worker will come back for.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from horizon import correlation
from horizon.clock import epoch_s, now_iso
from horizon.dynamo import AWS_ERRORS
from horizon.errors import DependencyError, InvalidRequestError, PayloadTooLargeError
from horizon.executions.models import (
    LANGUAGES,
    TEMPLATES,
    CodeSession,
    Execution,
    ExecutionAccepted,
    ExecutionPublic,
    ExecutionStatus,
    Limits,
    SessionCreate,
    SessionPatch,
    Transition,
    is_id,
)
from horizon.executions.settings import ExecutionSettings, get_execution_settings
from horizon.executions.store import ExecutionStore
from horizon.lazy import Collaborator, aws_client

logger = logging.getLogger(__name__)

# Waiting for a result: most runs take milliseconds, so the first second is watched closely
# (a consistent read every 10 ms); after that the looks thin out, so a long run costs a few
# reads per second, not hundreds.
FAST_POLL_S = 0.01
FAST_POLL_FOR_S = 1.0
MAX_POLL_S = 0.25


def log_transition(execution_id: str, status: str, **details: Any) -> None:
    """Log an execution's state change: one line per transition, with the execution id."""
    logger.info(
        "execution %s is %s",
        execution_id,
        status,
        extra={"execution_id": execution_id, "status": status, **details},
    )


def lost_reason(execution: Execution, now: int, lost_after_s: int) -> str | None:
    """Return why no worker will come back for this unfinished execution, or None.

    A RUNNING execution whose claim lapsed `lost_after_s` ago had every delivery of its
    message fail (the queue moved it to the DLQ); a QUEUED one that old was never taken.
    """
    if execution.status == ExecutionStatus.RUNNING and execution.lease_until is not None:
        if now - execution.lease_until > lost_after_s:
            return "the sandbox worker stopped during the run"
    elif execution.status == ExecutionStatus.QUEUED:
        queued_at = execution.timestamps.get(ExecutionStatus.QUEUED.value)
        if queued_at and _age_s(queued_at, now) > lost_after_s:
            return "no sandbox worker took the execution in time"
    return None


# SQS takes 256 KiB per message; past this the message carries only the id.
MAX_MESSAGE_BYTES = 200 * 1024


def _message(execution: Execution) -> str:
    """The execute message: the id and, when it fits, the execution as submitted, so that a
    worker can claim it without reading it first (code whose JSON escapes make it too large
    for SQS travels as the id alone)."""
    body = orjson.dumps(
        {"execution_id": execution.execution_id, "execution": execution.model_dump(mode="json")}
    )
    if len(body) > MAX_MESSAGE_BYTES:
        body = orjson.dumps({"execution_id": execution.execution_id})
    return body.decode()


def parse_message(body: str | bytes) -> tuple[str | None, Execution | None]:
    """Read an execute message (see `_message`): the execution id, and the execution as
    submitted when the message carries it; (None, None) when the body names no execution."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    value = data.get("execution_id") if isinstance(data, dict) else None
    if not isinstance(value, str) or not is_id(value):
        return None, None
    try:
        submitted = Execution.model_validate(data.get("execution"))
    except ValidationError:
        return value, None
    return value, submitted if submitted.execution_id == value else None


def _age_s(iso: str, now: int) -> float:
    return now - datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class ExecutionService:
    """Queues executions, reports them, and keeps code sessions.

    Args:
        store: the executions table; the shared one when omitted.
        sqs: an SQS client; the shared one when omitted.
        settings: defaults to the process's execution settings.
        sleep, monotonic: injectable for tests of the wait.
    """

    store = Collaborator(ExecutionStore)
    sqs = aws_client("sqs")

    def __init__(
        self,
        store: ExecutionStore | None = None,
        sqs: Any = None,
        settings: ExecutionSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._sqs = sqs
        self.settings = settings or get_execution_settings()
        self._sleep = sleep
        self._monotonic = monotonic

    # -- executions -----------------------------------------------------------------------

    def submit(
        self,
        owner: str,
        language: str,
        code: str,
        stdin: str,
        limits: Limits,
        session_id: str | None = None,
    ) -> Execution:
        """Queue an execution.

        Raises:
            InvalidRequestError: unknown language or empty code (422).
            PayloadTooLargeError: code or stdin over their caps (413).
            TooManyExecutionsError: the owner is at the limit of unfinished executions (429).
            DependencyError: DynamoDB or SQS failed (503).
        """
        self._check_language(language)
        if not code.strip():
            raise InvalidRequestError("code is empty")
        self._check_size("code", code, self.settings.max_code_bytes)
        self._check_size("stdin", stdin, self.settings.max_stdin_bytes)
        queued_at = now_iso()
        execution = Execution(
            execution_id=str(uuid.uuid4()),
            owner=owner,
            status=ExecutionStatus.QUEUED,
            language=language,
            code=code,
            stdin=stdin,
            limits=limits,
            session_id=session_id,
            timestamps={ExecutionStatus.QUEUED.value: queued_at},
            transitions=[Transition(status=ExecutionStatus.QUEUED, at=queued_at)],
        )
        self.store.create(execution, self.settings.max_active_per_owner)
        try:
            self.sqs.send_message(
                QueueUrl=self.settings.execute_queue_url,
                MessageBody=_message(execution),
                MessageAttributes=correlation.message_attributes(),
            )
        except AWS_ERRORS as error:
            # Nothing will run it: end it now so it does not hold the owner's limit.
            self.store.finish(
                execution, ExecutionStatus.FAILED, error="the execution could not be queued"
            )
            raise DependencyError("could not queue the execution") from error
        log_transition(execution.execution_id, execution.status.value, owner=owner)
        return execution

    def execute(
        self, owner: str, language: str, code: str, stdin: str, limits: Limits
    ) -> ExecutionPublic | ExecutionAccepted:
        """Queue an execution and wait for its result up to `EXECUTE_WAIT_S`.

        Returns:
            The finished execution, or what to poll when it is still queued or running.
        """
        execution = self.submit(owner, language, code, stdin, limits)
        started = self._monotonic()
        deadline = started + self.settings.wait_s
        interval = FAST_POLL_S
        while True:
            self._sleep(interval)
            current, stdout, stderr = self.store.read(execution.execution_id)
            if current.status.finished:
                return ExecutionPublic.of(current, stdout, stderr)
            if self._monotonic() + interval > deadline:
                return ExecutionAccepted(execution_id=current.execution_id, status=current.status)
            if self._monotonic() - started > FAST_POLL_FOR_S:
                interval = min(interval * 1.5, MAX_POLL_S)

    def describe(self, owner: str, execution_id: str) -> ExecutionPublic:
        """Return the owner's execution, with its output once finished.

        An execution no worker will come back for is ended FAILED here.

        Raises:
            NotFoundError: no such execution, or another owner's (404).
        """
        execution, stdout, stderr = self.store.read(execution_id, owner)
        if not execution.status.finished:
            reason = lost_reason(execution, epoch_s(), self.settings.lost_after_s)
            if reason and self.store.finish(execution, ExecutionStatus.FAILED, error=reason):
                log_transition(execution_id, ExecutionStatus.FAILED.value, error=reason)
                execution, stdout, stderr = self.store.read(execution_id, owner)
        return ExecutionPublic.of(execution, stdout, stderr)

    # -- code sessions --------------------------------------------------------------------

    def create_session(self, owner: str, body: SessionCreate) -> CodeSession:
        """Start a code session with the given code or the language's template.

        Raises:
            InvalidRequestError: unknown language (422).
            PayloadTooLargeError: code over the cap (413).
        """
        self._check_language(body.language)
        source = TEMPLATES[body.language] if body.source_code is None else body.source_code
        self._check_size("source_code", source, self.settings.max_code_bytes)
        now = now_iso()
        session = CodeSession(
            session_id=str(uuid.uuid4()),
            language=body.language,
            source_code=source,
            version=1,
            created_at=now,
            updated_at=now,
        )
        self.store.create_session(owner, session)
        return session

    def get_session(self, owner: str, session_id: str) -> CodeSession:
        return self.store.get_session(owner, session_id)

    def save_session(self, owner: str, session_id: str, patch: SessionPatch) -> CodeSession:
        """Save the session's language and/or code. Nothing runs.

        Raises:
            InvalidRequestError: nothing to save, or an unknown language (422).
            PayloadTooLargeError: code over the cap (413).
            NotFoundError: no such session (404).
            ConflictError: `version` given and the session is at another one (409).
        """
        changes: dict[str, str] = {}
        if patch.language is not None:
            self._check_language(patch.language)
            changes["language"] = patch.language
        if patch.source_code is not None:
            self._check_size("source_code", patch.source_code, self.settings.max_code_bytes)
            changes["source_code"] = patch.source_code
        if not changes:
            raise InvalidRequestError("nothing to save: give language and/or source_code")
        return self.store.update_session(owner, session_id, changes, patch.version)

    def run_session(
        self, owner: str, session_id: str, stdin: str, limits: Limits
    ) -> ExecutionAccepted:
        """Queue the session's saved code; answer at once."""
        session = self.store.get_session(owner, session_id)
        execution = self.submit(
            owner, session.language, session.source_code, stdin, limits, session_id=session_id
        )
        return ExecutionAccepted(execution_id=execution.execution_id, status=execution.status)

    # -- checks ---------------------------------------------------------------------------

    @staticmethod
    def _check_language(language: str) -> None:
        if language not in LANGUAGES:
            raise InvalidRequestError(
                f"unsupported language {language!r}; supported: {', '.join(LANGUAGES)}"
            )

    @staticmethod
    def _check_size(name: str, text: str, limit: int) -> None:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as error:  # a lone surrogate from a JSON \ud800 escape
            raise InvalidRequestError(
                f"{name} is not valid Unicode text (character {error.start})"
            ) from error
        if size > limit:
            raise PayloadTooLargeError(f"{name} is {size} bytes; the limit is {limit}")
