"""The Lambda factory: every function of `wiring.FUNCTIONS` is built here, the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from horizon import wiring
from infra import names
from infra.email import EmailSending
from infra.grants import grant_access
from infra.websocket_api import WebSocketEndpoint

ROOT = Path(__file__).resolve().parent.parent
# cdk.json / `-c` context: {"reservedConcurrency": {"batch_worker": 50}} overrides the wiring's.
RESERVED_CONCURRENCY_CONTEXT = "reservedConcurrency"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
# Caches and bytecode built on a developer's machine have no business in a Lambda asset.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.ruff_cache"]
# The core layer ships Python sources only. Its C fast path is cross-compiled for ARM64 into the
# deps layer (`infra.bundling`); the `.so` that `make install` builds here is for this machine's
# CPU, and the C source has no use in Lambda. The deps layer keeps its `.so` (orjson, ...).
CORE_LAYER_EXCLUDES = [*ASSET_EXCLUDES, "speedups", "**/*.so"]


@dataclass
class Resources:
    """What functions may be granted access to, by the resource keys of the wiring.

    Attributes:
        tables: table key → table.
        buckets: bucket key → bucket.
        queues: queue key → queue; a DLQ under `wiring.dead_letter_key(work queue key)`.
        env: variable name → value (table name, bucket name, queue URL, callback URL) of every
            resource, by the names `horizon.settings` reads.
        websocket: the WebSocket API's management endpoint, granted as the `websocket` key.
        email: the SES identity, granted as `wiring.SES_IDENTITY` ("send_email").
    """

    tables: Mapping[str, dynamodb.Table]
    buckets: Mapping[str, s3.Bucket]
    queues: Mapping[str, sqs.Queue]
    websocket: WebSocketEndpoint
    email: EmailSending | None = None
    env: dict[str, str] = field(default_factory=dict)


class Functions(Construct):
    """Builds one Lambda per spec: Python 3.14 on ARM64, own role, own log group, X-Ray.

    Each function's asset is its own folder (`functions/<name>`), so its handler is
    `handler.<attribute>`; the shared library comes as the `core` layer and the pinned
    third-party packages as the `deps` layer.

    Attributes:
        functions: function key → function.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Iterable[wiring.FunctionSpec],
        resources: Resources,
        deps_layer_dir: Path,
        extra_environment: Mapping[str, str] | None = None,
    ) -> None:
        """Create the layers and the functions, with their grants.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            specs: the functions to create (normally `wiring.FUNCTIONS`).
            resources: what the specs' `access` maps refer to.
            deps_layer_dir: a folder holding `python/` with the third-party packages
                (built by `python -m infra.bundling <dir>`).
            extra_environment: more variables for every function.

        Raises:
            ValueError: an access map names an unknown resource or an access it cannot have.
        """
        super().__init__(scope, construct_id)
        self._resources = resources
        self._extra_environment = dict(extra_environment or {})
        self.core_layer = lambda_.LayerVersion(
            self,
            "CoreLayer",
            code=lambda_.Code.from_asset(
                str(ROOT / "layers" / "core"), exclude=CORE_LAYER_EXCLUDES
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="horizon: the platform's shared library",
        )
        self.deps_layer = lambda_.LayerVersion(
            self,
            "DepsLayer",
            code=lambda_.Code.from_asset(str(deps_layer_dir), exclude=ASSET_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Pinned third-party packages of requirements.txt",
        )
        self.functions: dict[str, lambda_.Function] = {}
        for spec in specs:
            self.functions[spec.key] = self._function(spec)

    def _function(self, spec: wiring.FunctionSpec) -> lambda_.Function:
        name = _pascal(spec.key)
        log_group = logs.LogGroup(self, f"{name}Logs", retention=names.LOG_RETENTION)
        # An own role without managed policies: exactly the grants below, nothing more.
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {spec.key} function",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            f"{name}Function",
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=lambda_.Code.from_asset(str(ROOT / spec.code_dir), exclude=ASSET_EXCLUDES),
            handler=f"handler.{spec.attribute}",
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            layers=[self.core_layer, self.deps_layer],
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment=self._environment(spec),
            reserved_concurrent_executions=self._reserved_concurrency(spec),
        )
        for key, access in spec.access.items():
            self._grant(function, key, access)
        return function

    def _reserved_concurrency(self, spec: wiring.FunctionSpec) -> int | None:
        """The spec's reserved concurrency, or the context's `reservedConcurrency[key]`
        (0 or null there: none, for accounts whose concurrency quota is small)."""
        overrides = self.node.try_get_context(RESERVED_CONCURRENCY_CONTEXT) or {}
        if spec.key in overrides:
            return int(overrides[spec.key]) or None
        return spec.reserved_concurrency

    def _environment(self, spec: wiring.FunctionSpec) -> dict[str, str]:
        # Every resource variable, not only those of the access map: `horizon.settings`
        # requires them all, exactly as the local stack sets them all. IAM, not the
        # environment, decides what a function may touch.
        return {
            **self._resources.env,
            **self._extra_environment,
            names.POWERTOOLS_SERVICE_ENV: f"{names.SERVICE_NAME}-{spec.key}",
            names.LOG_LEVEL_ENV: names.DEFAULT_LOG_LEVEL,
            names.METRICS_NAMESPACE_ENV: names.METRICS_NAMESPACE,
        }

    def _grant(self, function: lambda_.Function, key: str, access: wiring.Access) -> None:
        grant_access(function, self._resources, key, access, owner=f"function {function.node.id}")


def add_queue_triggers(
    triggers: Iterable[wiring.QueueTrigger],
    functions: Mapping[str, lambda_.Function],
    queues: Mapping[str, sqs.IQueue],
) -> None:
    """Make each trigger's queue invoke its function, reporting partial batch failures.

    Args:
        triggers: the event source mappings to create (normally `wiring.QUEUE_TRIGGERS`).
        functions: function key → function.
        queues: queue key → queue.

    Raises:
        KeyError: a trigger names a missing function or queue.
    """
    for trigger in triggers:
        window = trigger.max_batching_window_s
        functions[trigger.function].add_event_source(
            event_sources.SqsEventSource(
                queues[trigger.queue],
                batch_size=trigger.batch_size,
                report_batch_item_failures=True,
                max_concurrency=trigger.max_concurrency,
                max_batching_window=Duration.seconds(window) if window else None,
            )
        )


def _pascal(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))
