"""The ingest flow: claim a job, stream its file, validate, store, checkpoint, finish.

At-least-once delivery never double-counts: entries are keyed by (job, line), so a rerun
overwrites them, and the job's counts are only ever written as absolute values at checkpoints
that hold only if this run still has the lease and nobody moved the offset since. A crash
resumes from the last checkpoint and converges on exact counts.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from urllib3.exceptions import HTTPError

from horizon import correlation
from horizon.analytics.aggregator import SegmentAggregator
from horizon.analytics.compaction import pass_count
from horizon.analytics.store import AggregateStore
from horizon.dynamo import AWS_ERRORS
from horizon.entries import EntryStore, InvalidLine, NumberedEntry
from horizon.errors import DependencyError, HorizonError, NotFoundError
from horizon.ingest.csv_lines import (
    HEADER_LINES,
    CsvRowValidator,
    end_line,
    is_csv,
    iter_records,
    read_header,
)
from horizon.ingest.exceptions import (
    IngestDependencyError,
    JobBusyError,
    MalformedMessageError,
    ObjectUnavailableError,
    RetryableIngestError,
)
from horizon.ingest.messages import continuation_body, parse_body
from horizon.ingest.reader import DEFAULT_MAX_LINE_BYTES, iter_lines
from horizon.ingest.source import open_object
from horizon.ingest.types import IngestOutcome, IngestRequest, ProgressPublisher, RemainingMs
from horizon.ingest.validator import validate_line
from horizon.jobs import (
    Job,
    JobCounts,
    JobFinishedError,
    JobLeasedError,
    JobStatus,
    JobStore,
    LeaseLostError,
)
from horizon.lazy import aws_client
from horizon.settings import Settings, get_settings

logger = logging.getLogger(__name__)

# Write entries out once this many are buffered, or this many bytes of lines: memory stays flat.
FLUSH_ITEMS = 250
WRITE_BATCH = 25  # BatchWriteItem's limit
WRITE_THREADS = 4
FLUSH_BYTES = 2 * 1024 * 1024
RAW_SAMPLE_CHARS = 1024  # how much of an invalid line its report keeps
PROGRESS_STEP = 10  # publish at least every this many percent of the file's bytes
MAX_SQS_DELAY_S = 900
_STREAM_ERRORS = (*AWS_ERRORS, HTTPError, OSError)


class _LeaseLost(Exception):
    """Internal: another run took the job over; stop without writing anything else."""


class IngestService:
    """Ingests uploaded log files into the entries table.

    Args:
        publisher: pushes progress to subscribers; its failures are logged, never raised.
        jobs, entries: the stores; default to the tables in the settings.
        aggregates: where each segment's analytics aggregates go (the entries table).
        s3, sqs: boto3 clients; default to the shared ones from `horizon.aws`.
        settings: defaults to `get_settings()`.
        max_line_bytes: longer lines are reported invalid ("line too long").
        sleep, rng: injected for tests of the demo line delay.
    """

    s3 = aws_client("s3")
    sqs = aws_client("sqs")

    def __init__(
        self,
        publisher: ProgressPublisher,
        jobs: JobStore | None = None,
        entries: EntryStore | None = None,
        aggregates: AggregateStore | None = None,
        s3: Any = None,
        sqs: Any = None,
        settings: Settings | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._publisher = publisher
        self._settings = settings or get_settings()
        self._jobs = jobs or JobStore()
        self._entries = entries or EntryStore()
        self._aggregates = aggregates or AggregateStore()
        self._s3 = s3
        self._sqs = sqs
        self._max_line_bytes = max_line_bytes
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - demo pacing, not security
        self._executor: ThreadPoolExecutor | None = None

    # -- messages ----------------------------------------------------------------------------

    def handle_message(
        self, body: str, remaining_ms: RemainingMs, receive_count: int = 1
    ) -> list[IngestOutcome]:
        """Process one ingest-queue message body.

        Args:
            body: the SQS message body.
            remaining_ms: the invocation's remaining time.
            receive_count: SQS's ApproximateReceiveCount; on the last allowed delivery a job
                that cannot be ingested is marked failed instead of retried.

        Returns:
            One outcome per job the message named (none for test events).

        Raises:
            RetryableIngestError: the message should be retried later.
        """
        try:
            requests = parse_body(body)
        except MalformedMessageError as error:
            # A poison message must not loop: acknowledge it, loudly.
            logger.error("dropping malformed ingest message: %s", error)
            return [IngestOutcome.SKIPPED]
        return [self.process(request, remaining_ms, receive_count) for request in requests]

    def process(
        self, request: IngestRequest, remaining_ms: RemainingMs, receive_count: int = 1
    ) -> IngestOutcome:
        """Run one job; on its last allowed delivery, fail (or defer) it instead of raising.

        Raises:
            RetryableIngestError: worth retrying, and deliveries remain.
        """
        last_delivery = receive_count >= self._settings.ingest_max_receive_count
        try:
            return self.run(request.owner, request.job_id, remaining_ms, request.object_key)
        except JobBusyError:
            if not last_delivery:
                raise
            # The lease holder is alive (its lease has not expired): check back once it would
            # have, from a fresh message, rather than failing work in progress.
            self._send_continuation(request.owner, request.job_id, self._settings.ingest_lease_s)
            return IngestOutcome.DEFERRED
        except Exception as error:
            if isinstance(error, RetryableIngestError):
                logger.warning("ingest of job %s will be retried: %s", request.job_id, error)
            else:
                logger.exception("ingest of job %s failed unexpectedly", request.job_id)
            if not last_delivery:
                if isinstance(error, RetryableIngestError):
                    raise
                raise IngestDependencyError("ingest failed unexpectedly") from error
            reason = str(error) if isinstance(error, HorizonError) else "internal error"
            failed = self._jobs.fail(
                request.owner, request.job_id, f"gave up after {receive_count} attempts: {reason}"
            )
            if failed is not None:
                self._publish(failed)
            return IngestOutcome.FAILED

    # -- one run -----------------------------------------------------------------------------

    def run(
        self,
        owner: str,
        job_id: str,
        remaining_ms: RemainingMs,
        object_key: str | None = None,
    ) -> IngestOutcome:
        """Ingest the job's file from its last checkpoint until the end or until time runs low.

        Args:
            owner, job_id: the job.
            remaining_ms: the invocation's remaining time; below `ingest_time_reserve_ms`
                the run checkpoints and hands over to a continuation message.
            object_key: the key an S3 notification named; a job with another key is skipped.

        Returns:
            The outcome; every outcome means the message may be acknowledged.

        Raises:
            JobBusyError: another worker holds the job.
            IngestDependencyError: AWS failed; progress up to the last checkpoint is kept.
        """
        worker = f"ingest-{uuid.uuid4().hex}"  # unique per run: two runs never share a lease
        try:
            if object_key is not None and self._jobs.get(owner, job_id).object_key != object_key:
                # Checked before claiming, so a stray object never touches the job's status.
                logger.warning("object %s is not job %s's upload: skipping", object_key, job_id)
                return IngestOutcome.SKIPPED
            job = self._jobs.claim(owner, job_id, worker, self._settings.ingest_lease_s)
        except NotFoundError:
            logger.warning("no job %s for owner %s: skipping", job_id, owner)
            return IngestOutcome.SKIPPED
        except JobFinishedError:
            logger.info("job %s already finished: nothing to do", job_id)
            return IngestOutcome.ALREADY_FINISHED
        except JobLeasedError as error:
            raise JobBusyError(str(error)) from error
        except DependencyError as error:
            raise IngestDependencyError(str(error)) from error
        self._publish(job)
        try:
            return self._ingest(job, worker, remaining_ms)
        except _LeaseLost:
            logger.info("job %s was taken over by another worker: stopping", job_id)
            return IngestOutcome.LEASE_LOST
        except ObjectUnavailableError as error:
            return self._finish(job, worker, JobStatus.FAILED, job.counts, str(error))
        except RetryableIngestError:
            self._release(job, worker)  # let the retry start at once instead of at lease expiry
            raise
        except _STREAM_ERRORS as error:
            self._release(job, worker)
            raise IngestDependencyError("reading the uploaded object failed") from error
        except Exception:
            # A bug: let the next delivery (and, on the last one, `process`'s fail) see the
            # job at once rather than after the lease expires.
            self._release(job, worker)
            raise

    def _ingest(self, job: Job, worker: str, remaining_ms: RemainingMs) -> IngestOutcome:
        settings = self._settings
        source = open_object(self.s3, settings.uploads_bucket, job.object_key, job.counts.offset)
        if source.size != job.size_bytes:
            # A presigned upload declares its size, or none: progress is a share of the real one.
            logger.info(
                "job %s: object has %d bytes, job said %d", job.job_id, source.size, job.size_bytes
            )
            job = self._record_size(job, worker, source.size)
        counts = job.counts
        offset, lines = counts.offset, counts.lines
        valid, invalid, blank = counts.valid, counts.invalid, counts.blank
        entries: list[NumberedEntry] = []
        reports: list[InvalidLine] = []
        buffered_bytes = 0
        since_checkpoint = 0
        started = lines
        next_mark = _next_mark(offset, source.size)
        # Analytics aggregates of the lines since the last checkpoint, stored just before the
        # next one: a retry restarts the segment from the same checkpoint and overwrites it.
        segment = SegmentAggregator(lines, offset)
        validate, header_lines = validate_line, 0
        records = iter_lines(source.body, offset, lines, self._max_line_bytes)
        if is_csv(job.file_name):  # the header row names the columns; it counts as skipped
            header = read_header(
                self.s3, settings.uploads_bucket, job.object_key, self._max_line_bytes
            )
            validate, header_lines = CsvRowValidator(header), HEADER_LINES
            # A quoted cell may span lines: a record is numbered by its first line.
            records = iter_records(records, self._max_line_bytes)
        delay = settings.ingest_line_delay_max_s
        # An invocation shorter than twice the reserve (a small local timeout) keeps half its
        # time for work instead of handing over after every line.
        reserve = min(settings.ingest_time_reserve_ms, remaining_ms() // 2)
        every = settings.ingest_checkpoint_lines
        too_long = f"line too long (over {self._max_line_bytes} bytes)"

        for line in records:
            # Check before taking on another line; always make some progress per run.
            if lines > started and remaining_ms() <= reserve:
                self._flush(job, entries, reports, segment)
                self._store_segment(job, segment, lines, offset)
                counts = JobCounts(
                    offset=offset, lines=lines, valid=valid, invalid=invalid, blank=blank
                )
                job = self._checkpoint(job, worker, counts)
                self._release(job, worker)
                self._send_continuation(job.owner, job.job_id)
                logger.info("job %s continues in a new message after line %d", job.job_id, lines)
                return IngestOutcome.CONTINUED
            if delay > 0:
                self._sleep(self._rng.uniform(0, delay))
            raw = line.raw
            if raw is None:
                invalid += 1
                reports.append(InvalidLine(line.number, too_long, _sample(line.head)))
                buffered_bytes += len(line.head)
            elif not raw or raw.isspace() or line.number <= header_lines:
                blank += 1
            else:
                entry, reason = validate(raw)
                if entry is not None:
                    valid += 1
                    entries.append((line.number, entry))
                else:
                    invalid += 1
                    reports.append(InvalidLine(line.number, reason or "invalid", _sample(raw)))
                buffered_bytes += len(raw)
            lines, offset = end_line(line), line.end_offset
            since_checkpoint += 1
            if len(entries) + len(reports) >= FLUSH_ITEMS or buffered_bytes >= FLUSH_BYTES:
                self._flush(job, entries, reports, segment)
                buffered_bytes = 0
            if since_checkpoint >= every or offset >= next_mark:
                self._flush(job, entries, reports, segment)
                buffered_bytes = 0
                self._store_segment(job, segment, lines, offset)
                segment = SegmentAggregator(lines, offset)
                counts = JobCounts(
                    offset=offset, lines=lines, valid=valid, invalid=invalid, blank=blank
                )
                job = self._checkpoint(job, worker, counts)
                self._publish(job)
                since_checkpoint = 0
                next_mark = _next_mark(offset, source.size)

        self._flush(job, entries, reports, segment)
        self._store_segment(job, segment, lines, offset)
        counts = JobCounts(offset=offset, lines=lines, valid=valid, invalid=invalid, blank=blank)
        return self._finish(job, worker, JobStatus.COMPLETED, counts)

    # -- steps -------------------------------------------------------------------------------

    def _flush(
        self,
        job: Job,
        entries: list[NumberedEntry],
        reports: list[InvalidLine],
        segment: SegmentAggregator,
    ) -> None:
        """Aggregate, store and clear the buffered entries, and store the invalid-line reports.

        The segment takes the entries a batch at a time (its C-level passes are cheaper per
        entry than a call per line).

        BatchWriteItem takes 25 items; the batches of one flush are written by a few threads
        at once (the client is thread-safe), since the ingest waits on DynamoDB, not the CPU.
        All are written before the caller checkpoints.
        """
        segment.add_all(entries)
        writes: list[Callable[[], None]] = []
        for start in range(0, len(entries), WRITE_BATCH):
            chunk = entries[start : start + WRITE_BATCH]
            writes.append(partial(self._entries.put_entries, job.owner, job.job_id, chunk))
        for start in range(0, len(reports), WRITE_BATCH):
            chunk = reports[start : start + WRITE_BATCH]
            writes.append(partial(self._entries.put_invalid, job.owner, job.job_id, chunk))
        try:
            if len(writes) == 1:
                writes[0]()
            elif writes:
                for future in [self._writers.submit(write) for write in writes]:
                    future.result()
        except DependencyError as error:
            raise IngestDependencyError(str(error)) from error
        entries.clear()
        reports.clear()

    def _store_segment(self, job: Job, segment: SegmentAggregator, lines: int, offset: int) -> None:
        """Store the segment's aggregates before the checkpoint that commits it."""
        if lines == segment.start_line:
            return  # nothing read: an empty item would overwrite a real one at this start
        try:
            self._aggregates.put_segment(job.owner, job.job_id, segment.finish(lines, offset))
        except DependencyError as error:
            raise IngestDependencyError(str(error)) from error

    @property
    def _writers(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="ingest-write")
        return self._executor

    def _checkpoint(self, job: Job, worker: str, counts: JobCounts) -> Job:
        try:
            return self._jobs.checkpoint(job, worker, counts, self._settings.ingest_lease_s)
        except LeaseLostError as error:
            raise _LeaseLost from error
        except DependencyError as error:
            raise IngestDependencyError(str(error)) from error

    def _record_size(self, job: Job, worker: str, size_bytes: int) -> Job:
        try:
            return self._jobs.record_size(job, worker, size_bytes)
        except LeaseLostError as error:
            raise _LeaseLost from error
        except DependencyError as error:
            raise IngestDependencyError(str(error)) from error

    def _finish(
        self, job: Job, worker: str, status: JobStatus, counts: JobCounts, error: str | None = None
    ) -> IngestOutcome:
        try:
            finished = self._jobs.finish(job, worker, status, counts, error)
        except LeaseLostError:
            logger.info("job %s was taken over before it could finish", job.job_id)
            return IngestOutcome.LEASE_LOST
        except DependencyError as failure:
            raise IngestDependencyError(str(failure)) from failure
        self._publish(finished)
        if status is JobStatus.COMPLETED:
            self._compact(finished)
        logger.info(
            "job %s %s",
            job.job_id,
            status.value,
            extra={"counts": counts.model_dump(), "error": error},
        )
        return IngestOutcome.COMPLETED if status is JobStatus.COMPLETED else IngestOutcome.FAILED

    def _compact(self, job: Job) -> None:
        """Merge the finished job's aggregates into compacted chunks per part, for fast queries.

        The merge goes over the segments in passes of bounded memory (see
        `horizon.analytics.compaction`); a job needing more than `ingest_compact_max_passes`
        is left to its chain. Best effort: the job is already finished and its segment chain
        answers every query exactly, so a failure here is logged, never raised (a redelivery
        finds the job finished and does not retry it).
        """
        passes = pass_count(job.counts.valid)
        if passes > self._settings.ingest_compact_max_passes:
            logger.info(
                "job %s: not compacted (%d passes needed, at most %d): queries read its chain",
                job.job_id,
                passes,
                self._settings.ingest_compact_max_passes,
            )
            return
        try:
            parts = self._aggregates.put_compacted(
                job.owner, job.job_id, job.counts.lines, job.counts.valid
            )
        except Exception:
            logger.warning("could not compact job %s's aggregates", job.job_id, exc_info=True)
            return
        logger.info("job %s: aggregate parts compacted: %s", job.job_id, ",".join(parts))

    def _release(self, job: Job, worker: str) -> None:
        try:
            self._jobs.release(job, worker)
        except DependencyError:
            # The lease expires by itself; the next delivery then takes over.
            logger.warning("could not release job %s's lease", job.job_id)

    def _send_continuation(self, owner: str, job_id: str, delay_s: int = 0) -> None:
        try:
            self.sqs.send_message(
                QueueUrl=self._settings.ingest_queue_url,
                MessageBody=continuation_body(owner, job_id),
                DelaySeconds=min(delay_s, MAX_SQS_DELAY_S),
                MessageAttributes=correlation.message_attributes(),
            )
        except AWS_ERRORS as error:
            # The job stays at its checkpoint; retrying the current message resumes it.
            raise IngestDependencyError("could not queue the rest of the job") from error

    def _publish(self, job: Job) -> None:
        try:
            self._publisher.publish(job)
        except Exception:  # progress is best effort: never fail an ingest over it
            logger.warning("could not publish progress of job %s", job.job_id, exc_info=True)


def _next_mark(offset: int, size: int) -> int:
    """Return the byte offset at which the next PROGRESS_STEP percent of the file is reached."""
    if size <= 0:
        return 1
    step = offset * 100 // size // PROGRESS_STEP + 1
    return -(-size * step * PROGRESS_STEP // 100)  # ceiling: never publish before the mark


def _sample(raw: bytes) -> str:
    return raw[: RAW_SAMPLE_CHARS * 4].decode("utf-8", "replace")[:RAW_SAMPLE_CHARS]
