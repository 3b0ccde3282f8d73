"""The platform's wiring as plain data, read by both `infra/` (CDK) and `local/` (the local stack).

Tables, queues, the uploads bucket's notifications, the functions and what triggers them are
described once here so that the cloud and the local stack cannot drift apart. Names of
resources are not here: CDK lets CloudFormation name them and passes them to the functions in
the environment variables named by `env`; the local stack picks its own and sets the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Access = Literal[
    "read", "write", "read_write", "send", "consume", "manage_connections", "send_email"
]
# The SES identity emails are sent from (its ARN is made by CDK from the EMAIL_SENDER setting):
# the resource key of "send_email" access.
SES_IDENTITY = "ses_identity"


@dataclass(frozen=True)
class TableSpec:
    key: str
    env: str
    partition_key: str
    sort_key: str | None = None
    sort_key_type: Literal["S", "N"] = "S"
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class QueueSpec:
    key: str
    env: str  # the variable carrying the queue URL
    visibility_timeout_s: int
    max_receive_count: int  # deliveries before a message moves to the DLQ
    dlq_retention_days: int = 14
    # Only for a DLQ with a consumer (a trigger names `dead_letter_key(key)`): its visibility
    # timeout, ≥ 6× that consumer's timeout. None leaves SQS's default (30 s).
    dlq_visibility_timeout_s: int | None = None


@dataclass(frozen=True)
class BucketNotification:
    events: tuple[str, ...]
    prefix: str
    queue: str  # QueueSpec.key


@dataclass(frozen=True)
class BucketSpec:
    key: str
    env: str
    notifications: tuple[BucketNotification, ...] = ()
    expire_after_days: int = 30


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    handler: str  # "functions.<name>.handler.handler": the module path and the callable
    description: str
    timeout_s: int
    memory_mb: int
    # What the function may touch: resource key → access. CDK turns this into grants.
    access: dict[str, Access] = field(default_factory=dict)
    # Lambda's reserved concurrency (None: the account's unreserved pool). CDK's context may
    # override it per function (`reservedConcurrency`: {key: n}).
    reserved_concurrency: int | None = None

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    @property
    def code_dir(self) -> str:
        """The function's own folder, its Lambda asset: functions/<name>."""
        return "/".join(self.module.split(".")[:2])


@dataclass(frozen=True)
class QueueTrigger:
    queue: str
    function: str
    batch_size: int
    max_concurrency: int  # consumers at once (Lambda's ScalingConfig; pollers locally)
    max_batching_window_s: int = 0


JOBS = TableSpec(key="jobs", env="JOBS_TABLE", partition_key="owner", sort_key="job_id")
ENTRIES = TableSpec(
    key="entries",
    env="ENTRIES_TABLE",
    partition_key="pk",
    sort_key="line",
    sort_key_type="N",
    ttl_attribute="expires_at",
)
CONNECTIONS = TableSpec(
    key="connections",
    env="CONNECTIONS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
)
# Agent tasks: pk=`TASK#{owner}#{task_id}`; seq 0 is the task's record, seq ≥ 1 its output and
# exit messages, stored before they are pushed so that a subscriber can replay them.
TASKS = TableSpec(
    key="tasks",
    env="TASKS_TABLE",
    partition_key="pk",
    sort_key="seq",
    sort_key_type="N",
    ttl_attribute="expires_at",
)
# Code execution: pk=`EXEC#{id}` (an execution), `SESSION#{id}` (a code session) or
# `OWNER#{owner}` (the owner's count of unfinished executions, for the abuse limits); sk="record".
EXECUTIONS = TableSpec(
    key="executions",
    env="EXECUTIONS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
)
# Idempotency-Key records of every capability, in Powertools' layout: id=`{operation}#{hash}`.
IDEMPOTENCY = TableSpec(
    key="idempotency", env="IDEMPOTENCY_TABLE", partition_key="id", ttl_attribute="expiration"
)
# Rate-limit counters (`horizon.ratelimit`): pk=`{subject}#{limit name}#{window start}`.
LIMITS = TableSpec(key="limits", env="LIMITS_TABLE", partition_key="pk", ttl_attribute="expires_at")
# API keys (`horizon.identity`): pk=key_id; a salted digest of the key, never the key.
KEYS = TableSpec(key="keys", env="KEYS_TABLE", partition_key="pk")
# Batches: pk=`BATCH#{id}` holds the batch (sk=`META`: owner, counts, fan-out cursors) and its
# tasks (sk=`TASK#{index:05d}`); pk=`OWNER#{owner}`, sk=`BATCH#{created_at}#{id}` lists an
# owner's batches. See horizon.batches.store.
BATCHES = TableSpec(
    key="batches",
    env="BATCHES_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
)
# Nonprofits: pk=`NONPROFIT#{owner}`, sk=`{domain}#{email}` (a domain is a key prefix).
NONPROFITS = TableSpec(key="nonprofits", env="NONPROFITS_TABLE", partition_key="pk", sort_key="sk")
# Email jobs: pk=`EMAILJOB#{owner}` sk=`JOB#{id}` (the job); pk=`EMAILJOB#{owner}#{id}`
# sk=`TO#{email}` (each recipient's email).
EMAIL_JOBS = TableSpec(
    key="email_jobs",
    env="EMAIL_JOBS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
)
TABLES: tuple[TableSpec, ...] = (
    JOBS,
    ENTRIES,
    CONNECTIONS,
    TASKS,
    EXECUTIONS,
    IDEMPOTENCY,
    LIMITS,
    KEYS,
    BATCHES,
    NONPROFITS,
    EMAIL_JOBS,
)

INGEST_FUNCTION_TIMEOUT_S = 300
NOTIFY_FUNCTION_TIMEOUT_S = 10
EXECUTION_FAILURES_FUNCTION_TIMEOUT_S = 20
EMAIL_WORKER_FUNCTION_TIMEOUT_S = 120
EMAIL_FAILURES_FUNCTION_TIMEOUT_S = 60

# Visibility timeout ≥ 6× the consumer's timeout, as AWS advises for Lambda event sources.
INGEST_QUEUE = QueueSpec(
    key="ingest",
    env="INGEST_QUEUE_URL",
    visibility_timeout_s=6 * INGEST_FUNCTION_TIMEOUT_S,
    max_receive_count=5,
)
NOTIFY_QUEUE = QueueSpec(
    key="notify",
    env="NOTIFY_QUEUE_URL",
    visibility_timeout_s=6 * NOTIFY_FUNCTION_TIMEOUT_S,
    max_receive_count=10,
)
# Executions wait here for a sandbox worker. The visibility timeout covers the longest run
# (MAX_TIMEOUT_S, 60 s) with room for the worker's start and its writes; a worker that vanishes
# leaves the message to come back for another attempt. Attempts are counted on the execution
# itself (EXECUTIONS_MAX_ATTEMPTS), so receives are allowed generously: a message that another
# worker still holds comes back a few times without reaching the DLQ.
# Its DLQ has a consumer that ends the execution FAILED: the DLQ's visibility timeout is 6× that
# consumer's timeout, which also outlasts the longest claim (MAX_TIMEOUT_S + the lease grace,
# 90 s), so a message put back because a worker still held the execution comes back after the
# claim has lapsed.
EXECUTE_QUEUE = QueueSpec(
    key="execute",
    env="EXECUTE_QUEUE_URL",
    visibility_timeout_s=120,
    max_receive_count=10,
    dlq_visibility_timeout_s=6 * EXECUTION_FAILURES_FUNCTION_TIMEOUT_S,
)
BATCH_FANOUT_FUNCTION_TIMEOUT_S = 120
# A worker invocation runs up to a batch of tasks one after the other, each within
# BATCH_TASK_TIMEOUT_S (60 s) and the time left; tasks without time left go back at once.
BATCH_WORKER_FUNCTION_TIMEOUT_S = 300
BATCH_FAILURES_FUNCTION_TIMEOUT_S = 20
# One message per batch: the fan-out Lambda turns the batch's manifest into task records and
# task messages, resuming from the batch's cursors when a delivery died midway.
BATCH_FANOUT_QUEUE = QueueSpec(
    key="batch_fanout",
    env="BATCH_FANOUT_QUEUE_URL",
    visibility_timeout_s=6 * BATCH_FANOUT_FUNCTION_TIMEOUT_S,
    max_receive_count=5,
)
# One message per task. A transient failure brings it back with backoff (the worker shortens
# its visibility); after max_receive_count deliveries its DLQ consumer ends the task failed.
BATCH_TASKS_QUEUE = QueueSpec(
    key="batch_tasks",
    env="BATCH_TASKS_QUEUE_URL",
    visibility_timeout_s=6 * BATCH_WORKER_FUNCTION_TIMEOUT_S,
    max_receive_count=4,
    dlq_visibility_timeout_s=6 * BATCH_FAILURES_FUNCTION_TIMEOUT_S,
)
# Slices of email jobs (≤ EMAIL_RECIPIENTS_PER_MESSAGE recipients each) for the email worker.
# Its DLQ's consumer ends unsent the recipients of a slice the queue gave up on; the DLQ's
# visibility (6× that consumer's timeout) outlasts a sending lease (EMAIL_SENDING_LEASE_S), so
# a message put back because a delivery still held a recipient comes back after it lapsed.
EMAIL_QUEUE = QueueSpec(
    key="email",
    env="EMAIL_QUEUE_URL",
    visibility_timeout_s=6 * EMAIL_WORKER_FUNCTION_TIMEOUT_S,
    max_receive_count=5,
    dlq_visibility_timeout_s=6 * EMAIL_FAILURES_FUNCTION_TIMEOUT_S,
)
QUEUES: tuple[QueueSpec, ...] = (
    INGEST_QUEUE,
    NOTIFY_QUEUE,
    EXECUTE_QUEUE,
    BATCH_FANOUT_QUEUE,
    BATCH_TASKS_QUEUE,
    EMAIL_QUEUE,
)

# Every work queue has a DLQ. A DLQ is a resource of its own under the key `<queue>_dlq`, so that
# triggers and access maps can name it like any queue. It has no variable: its consumer gets its
# messages from the event source mapping, never by URL.
DEAD_LETTER_SUFFIX = "_dlq"


def dead_letter_key(queue_key: str) -> str:
    """Return the resource key of the DLQ of the work queue `queue_key` (`execute_dlq`)."""
    return f"{queue_key}{DEAD_LETTER_SUFFIX}"


def dead_lettered_queue(key: str) -> QueueSpec | None:
    """Return the work queue whose DLQ the resource key `key` names, or None (not a DLQ key)."""
    return next((spec for spec in QUEUES if dead_letter_key(spec.key) == key), None)


EXECUTE_DLQ = dead_letter_key(EXECUTE_QUEUE.key)
BATCH_TASKS_DLQ = dead_letter_key(BATCH_TASKS_QUEUE.key)
EMAIL_DLQ = dead_letter_key(EMAIL_QUEUE.key)

UPLOADS_PREFIX = "uploads/"
UPLOADS = BucketSpec(
    key="uploads",
    env="UPLOADS_BUCKET",
    notifications=(
        BucketNotification(events=("s3:ObjectCreated:*",), prefix=UPLOADS_PREFIX, queue="ingest"),
    ),
)
# A batch's tasks as posted (one JSON object), read once by the fan-out Lambda.
BATCH_MANIFESTS = BucketSpec(
    key="batch_manifests", env="BATCH_MANIFESTS_BUCKET", expire_after_days=7
)
BUCKETS: tuple[BucketSpec, ...] = (UPLOADS, BATCH_MANIFESTS)

API_FUNCTION = FunctionSpec(
    key="api",
    handler="functions.api.handler.handler",
    description="REST API (FastAPI behind Mangum)",
    timeout_s=29,
    memory_mb=512,
    access={
        "jobs": "read_write",
        "entries": "read",
        "uploads": "write",
        "executions": "read_write",
        "execute": "send",
        "idempotency": "read_write",
        "limits": "read_write",
        "keys": "read_write",
        "batches": "read_write",
        "batch_manifests": "write",
        "batch_fanout": "send",
        "nonprofits": "read_write",
        "email_jobs": "read_write",
        "email": "send",
        # A read of a batch whose every task ended records its completion and publishes it.
        "connections": "read_write",
        "websocket": "manage_connections",
    },
)
WEBSOCKET_FUNCTION = FunctionSpec(
    key="websocket",
    handler="functions.websocket.handler.handler",
    description="WebSocket API routes: $connect, $disconnect, subscribe, ping, run, cancel, $default",
    timeout_s=29,
    memory_mb=256,
    access={
        "connections": "read_write",
        "jobs": "read",
        "keys": "read",
        "email_jobs": "read",
        "tasks": "read_write",
        "notify": "send",
        "websocket": "manage_connections",
        "batches": "read",
    },
)
INGEST_FUNCTION = FunctionSpec(
    key="ingest",
    handler="functions.ingest.handler.handler",
    description="Validates and stores uploaded log files, line by line",
    timeout_s=INGEST_FUNCTION_TIMEOUT_S,
    memory_mb=512,
    access={
        "uploads": "read",
        "jobs": "read_write",
        "entries": "read_write",
        "connections": "read_write",
        "ingest": "send",
        "websocket": "manage_connections",
    },
)
NOTIFY_FUNCTION = FunctionSpec(
    key="notify",
    handler="functions.notify.handler.handler",
    description="Sends a new subscriber the current state once its connection is open",
    timeout_s=NOTIFY_FUNCTION_TIMEOUT_S,
    memory_mb=256,
    access={
        "connections": "read_write",
        "jobs": "read",
        "email_jobs": "read",
        "notify": "consume",
        "websocket": "manage_connections",
    },
)
# Executions whose messages the execute queue gave up on (a worker vanished on every delivery)
# are ended FAILED as soon as they reach the DLQ, releasing their owner's limits.
EXECUTION_FAILURES_FUNCTION = FunctionSpec(
    key="execution_failures",
    handler="functions.execution_failures.handler.handler",
    description="Ends FAILED the executions whose messages reached the execute queue's DLQ",
    timeout_s=EXECUTION_FAILURES_FUNCTION_TIMEOUT_S,
    memory_mb=256,
    access={"executions": "read_write", EXECUTE_DLQ: "consume"},
)
BATCH_FANOUT_FUNCTION = FunctionSpec(
    key="batch_fanout",
    handler="functions.batch_fanout.handler.handler",
    description="Turns a posted batch into task records and task messages (resumable)",
    timeout_s=BATCH_FANOUT_FUNCTION_TIMEOUT_S,
    memory_mb=512,
    access={
        "batches": "read_write",
        "batch_manifests": "read",
        "batch_fanout": "consume",
        "batch_tasks": "send",
    },
)
# Runs batch tasks (the agent's offline planner, steps as subprocesses). A zip Lambda: the
# Python runtime has /bin/sh but no git, so tasks that clone fail with a clear error.
BATCH_WORKER_FUNCTION = FunctionSpec(
    key="batch_worker",
    handler="functions.batch_worker.handler.handler",
    description="Runs one batch task per SQS message and stores its outcome",
    timeout_s=BATCH_WORKER_FUNCTION_TIMEOUT_S,
    memory_mb=1024,
    access={
        "batches": "read_write",
        "batch_tasks": "consume",
        "connections": "read_write",
        "websocket": "manage_connections",
    },
    reserved_concurrency=20,
)
BATCH_FAILURES_FUNCTION = FunctionSpec(
    key="batch_failures",
    handler="functions.batch_failures.handler.handler",
    description="Ends failed the batch tasks whose messages reached the task queue's DLQ",
    timeout_s=BATCH_FAILURES_FUNCTION_TIMEOUT_S,
    memory_mb=256,
    access={
        "batches": "read_write",
        BATCH_TASKS_DLQ: "consume",
        "connections": "read_write",
        "websocket": "manage_connections",
    },
)
EMAIL_WORKER_FUNCTION = FunctionSpec(
    key="email_worker",
    handler="functions.email_worker.handler.handler",
    description="Renders and sends email jobs' emails through SES, one queue message at a time",
    timeout_s=EMAIL_WORKER_FUNCTION_TIMEOUT_S,
    memory_mb=256,
    access={
        "email_jobs": "read_write",
        "email": "consume",
        SES_IDENTITY: "send_email",
        "connections": "read_write",
        "websocket": "manage_connections",
    },
)
EMAIL_FAILURES_FUNCTION = FunctionSpec(
    key="email_failures",
    handler="functions.email_failures.handler.handler",
    description="Ends unsent the recipients of email messages that reached the email DLQ",
    timeout_s=EMAIL_FAILURES_FUNCTION_TIMEOUT_S,
    memory_mb=256,
    access={
        "email_jobs": "read_write",
        EMAIL_DLQ: "consume",
        "connections": "read_write",
        "websocket": "manage_connections",
    },
)
FUNCTIONS: tuple[FunctionSpec, ...] = (
    API_FUNCTION,
    WEBSOCKET_FUNCTION,
    INGEST_FUNCTION,
    NOTIFY_FUNCTION,
    EXECUTION_FAILURES_FUNCTION,
    BATCH_FANOUT_FUNCTION,
    BATCH_WORKER_FUNCTION,
    BATCH_FAILURES_FUNCTION,
    EMAIL_WORKER_FUNCTION,
    EMAIL_FAILURES_FUNCTION,
)

QUEUE_TRIGGERS: tuple[QueueTrigger, ...] = (
    # One file per invocation: each ingest gets the function's whole time budget.
    QueueTrigger(queue="ingest", function="ingest", batch_size=1, max_concurrency=10),
    QueueTrigger(queue="notify", function="notify", batch_size=10, max_concurrency=2),
    # Rare (a worker vanished on every delivery): Lambda's smallest concurrency is enough.
    QueueTrigger(
        queue=EXECUTE_DLQ, function="execution_failures", batch_size=10, max_concurrency=2
    ),
    QueueTrigger(queue="batch_fanout", function="batch_fanout", batch_size=1, max_concurrency=2),
    # Locally, LOCAL_BATCH_WORKERS overrides the pollers' count (the benchmark's scaling).
    QueueTrigger(queue="batch_tasks", function="batch_worker", batch_size=10, max_concurrency=10),
    QueueTrigger(
        queue=BATCH_TASKS_DLQ, function="batch_failures", batch_size=10, max_concurrency=2
    ),
    # One slice (≤ 50 recipients) per invocation; concurrency bounds the rate at SES.
    QueueTrigger(queue="email", function="email_worker", batch_size=1, max_concurrency=5),
    QueueTrigger(queue=EMAIL_DLQ, function="email_failures", batch_size=1, max_concurrency=2),
)

# API Gateway: every REST path goes to the API function (proxy integration).
REST_FUNCTION = "api"
# WebSocket route selection is `$request.body.action`; unknown actions fall to $default.
WEBSOCKET_ROUTE_SELECTION = "$request.body.action"
WEBSOCKET_ROUTES: dict[str, str] = {
    "$connect": "websocket",
    "$disconnect": "websocket",
    "$default": "websocket",
    "subscribe": "websocket",
    "ping": "websocket",
    "run": "websocket",
    "cancel": "websocket",
}
# A bare `{"task": ...}` (no action, as at the local /ws/task) arrives on $default, where the
# WebSocket service starts it like `run`.
WEBSOCKET_STAGE = "prod"
# The functions that authenticate callers (API keys, tokens, Cognito JWTs): the REST API and
# the WebSocket $connect.
AUTHENTICATING_FUNCTIONS = (REST_FUNCTION, WEBSOCKET_ROUTES["$connect"])


@dataclass(frozen=True)
class UserPoolSpec:
    """The Cognito user pool people sign in to, and its app client (both made by CDK and by
    the local plane), with the variables that tell the verifying functions about them.

    Attributes:
        key: the construct/resource key (also the local pool's name suffix).
        client_name: the app client's name.
        pool_env, client_env, issuer_env, jwks_env: the variables carrying the pool id, the
            client id, the tokens' issuer and (locally only) where the signing keys are.
        custom_attributes: custom attribute → whether it is mutable; the tokens carry them as
            `custom:<name>`. Only administrators write them (the app client may not).
        id_token_minutes, access_token_minutes, refresh_token_days: the tokens' validity.

    The functions of `AUTHENTICATING_FUNCTIONS` verify its tokens.
    """

    key: str
    client_name: str
    pool_env: str
    client_env: str
    issuer_env: str
    jwks_env: str
    custom_attributes: dict[str, bool]
    id_token_minutes: int
    access_token_minutes: int
    refresh_token_days: int


USER_POOL = UserPoolSpec(
    key="users",
    client_name="horizon-app",
    pool_env="COGNITO_USER_POOL_ID",
    client_env="COGNITO_CLIENT_ID",
    issuer_env="COGNITO_ISSUER",
    jwks_env="COGNITO_JWKS_URL",
    # A person's tenant is set when an administrator creates them and never changes (moving
    # someone to another tenant is a new user); role and tier are an administrator's to change.
    custom_attributes={"tenant": False, "role": True, "tier": True},
    id_token_minutes=60,
    access_token_minutes=60,
    refresh_token_days=30,
)


@dataclass(frozen=True)
class TaskContainerSpec:
    """A container task launched per request (Fargate in AWS, a subprocess locally).

    Attributes:
        key: the construct/resource key.
        command: the entry point both ECS and the local launcher run (after the interpreter).
        cpu, memory_mb: the Fargate task size.
        scratch_path: where the writable scratch volume is mounted (the root FS is read-only).
        access: what the task role may touch, as in `FunctionSpec.access`.
    """

    key: str
    command: tuple[str, ...]
    cpu: int
    memory_mb: int
    scratch_path: str
    access: dict[str, Access] = field(default_factory=dict)


AGENT_TASK = TaskContainerSpec(
    key="agent",
    command=("python", "-m", "horizon.agent.task"),
    cpu=512,
    memory_mb=1024,
    scratch_path="/scratch",
    access={"tasks": "read_write", "connections": "read_write", "websocket": "manage_connections"},
)
# The code-execution sandbox: a warm pool of single-use workers (an ECS service scaled on the
# execute queue's depth). Each task starts the fork server, takes one execution, exits.
SANDBOX_TASK = TaskContainerSpec(
    key="sandbox",
    command=("python", "-m", "sandbox_task.worker", "--once"),
    cpu=1024,
    memory_mb=3072,
    scratch_path="/scratch",
    access={"executions": "read_write", "execute": "consume"},
)
TASK_CONTAINERS: tuple[TaskContainerSpec, ...] = (AGENT_TASK, SANDBOX_TASK)


def function(key: str) -> FunctionSpec:
    """Return the function described under `key`."""
    return next(spec for spec in FUNCTIONS if spec.key == key)


def queue(key: str) -> QueueSpec:
    """Return the queue described under `key`."""
    return next(spec for spec in QUEUES if spec.key == key)
