"""The Event Horizon stack: one construct per capability, all configured from `horizon.wiring`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from horizon import wiring
from infra import names
from infra.agent import AgentTasks
from infra.auth import ApiTokens
from infra.console import ConsoleSite
from infra.dashboard import OperationsDashboard
from infra.data import DataTables
from infra.email import EmailSending
from infra.functions import Functions, Resources, add_queue_triggers
from infra.monitoring import Monitoring
from infra.nag import add_suppressions
from infra.queues import WorkQueues
from infra.rest_api import RestApi
from infra.sandbox import STARVED_AFTER, SandboxWorkers
from infra.storage import Storage
from infra.users import UserSignIn
from infra.websocket_api import WebSocketApi

# The functions that authenticate callers: the REST API and the WebSocket $connect.
TOKEN_CHECKING_FUNCTIONS = wiring.AUTHENTICATING_FUNCTIONS


CORS_ORIGINS_CONTEXT = "corsAllowOrigins"


def cors_environment(scope: Construct, *origins: str) -> dict[str, str]:
    """The browser origins that may call the REST API: context `corsAllowOrigins`
    (`-c corsAllowOrigins=https://app.example.org,https://admin.example.org`) and `origins`
    (the stack passes its console's); with none, no CORS headers are sent."""
    configured = scope.node.try_get_context(CORS_ORIGINS_CONTEXT)
    allowed = [str(configured)] if configured else []
    allowed += origins
    return {"CORS_ALLOW_ORIGINS": ",".join(allowed)} if allowed else {}


class EventHorizonStack(Stack):
    """The platform: uploads, queues, tables, REST and WebSocket APIs, agent tasks, sandbox.

    Attributes:
        data, queues, storage, monitoring, websocket, api_tokens, users, functions, agent,
            sandbox, rest_api, console, dashboard: the constructs.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, deps_layer_dir: Path | str, **kwargs: Any
    ) -> None:
        """Compose the stack.

        Args:
            scope: the app.
            construct_id: the stack's id.
            deps_layer_dir: the built dependencies layer (a folder holding `python/`).
            **kwargs: passed to `Stack` (env, description, ...).

        Raises:
            FileNotFoundError: `deps_layer_dir` has no `python/` folder.
        """
        super().__init__(scope, construct_id, **kwargs)
        deps = Path(deps_layer_dir)
        if not (deps / "python").is_dir():
            raise FileNotFoundError(
                f"the dependencies layer is missing: {deps / 'python'} does not exist; "
                "build it with `make deps-layer`"
            )
        self.data = DataTables(self, "Data", specs=wiring.TABLES)
        self.queues = WorkQueues(self, "Queues", specs=wiring.QUEUES)
        self.storage = Storage(self, "Storage", specs=wiring.BUCKETS, queues=self.queues.queues)
        self.monitoring = Monitoring(
            self, "Monitoring", dead_letter_queues=self.queues.dead_letter_queues
        )
        # The API exists before the functions: they need its callback URL, its routes need them.
        self.websocket = WebSocketApi(
            self,
            "WebSocket",
            route_selection_expression=wiring.WEBSOCKET_ROUTE_SELECTION,
            stage_name=wiring.WEBSOCKET_STAGE,
        )
        self.api_tokens = ApiTokens(self, "ApiTokens")
        self.users = UserSignIn(self, "Users", spec=wiring.USER_POOL)
        self.email = EmailSending(self, "Email")
        resources = self._resources()
        self.functions = Functions(
            self,
            "Functions",
            specs=wiring.FUNCTIONS,
            resources=resources,
            deps_layer_dir=deps,
            extra_environment={
                # The ingest service gives up on a file at the last delivery before the DLQ.
                "INGEST_MAX_RECEIVE_COUNT": str(wiring.queue("ingest").max_receive_count),
                **self.api_tokens.environment,
            },
        )
        functions = self.functions.functions
        for key in TOKEN_CHECKING_FUNCTIONS:
            self.api_tokens.grant_read(functions[key])
            self.users.configure(functions[key])
        # Triggers may name a DLQ too (the execute queue's ends its executions FAILED).
        add_queue_triggers(wiring.QUEUE_TRIGGERS, functions, resources.queues)
        self._alarm_on_consumed_dead_letters()
        # Agent tasks run on Fargate; the WebSocket function launches them.
        self.agent = AgentTasks(self, "Agent", spec=wiring.AGENT_TASK, resources=resources)
        self.agent.allow_launch(functions[wiring.WEBSOCKET_ROUTES["$default"]])
        # Code execution: a warm pool of single-use sandbox workers on the execute queue.
        self.sandbox = SandboxWorkers(
            self, "Sandbox", spec=wiring.SANDBOX_TASK, resources=resources
        )
        self.monitoring.add_alarm(
            "SandboxStarvedAlarm",
            description="Executions wait for a sandbox worker: the pool is at its maximum "
            "or its tasks cannot start",
            metric=self.sandbox.oldest_waiting,
            threshold=STARVED_AFTER.to_seconds(),
        )
        self.websocket.add_routes(wiring.WEBSOCKET_ROUTES, functions)
        self.rest_api = RestApi(self, "Rest", handler=functions[wiring.REST_FUNCTION])
        self.monitoring.alarm_on_rest_api(self.rest_api.api)
        # The console on CloudFront calls the REST API from its own origin. Only the REST
        # function answers CORS; it learns the origin after the distribution exists, which in
        # turn needs the API (its config.json and headers name it).
        self.console = ConsoleSite(
            self,
            "Console",
            rest_api=self.rest_api.api,
            websocket_url=self.websocket.url,
            access_logs=self.storage.access_logs,
        )
        rest_function = functions[wiring.REST_FUNCTION]
        for name, value in cors_environment(self, self.console.origin).items():
            rest_function.add_environment(name, value)
        self.monitoring.alarm_on_throttles(functions)
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            rest_api=self.rest_api.api,
            functions=functions,
            queues=self.queues.queues,
            dead_letter_queues=self.queues.dead_letter_queues,
            alarms=self.monitoring.every_alarm,
            metrics_namespace=names.METRICS_NAMESPACE,
        )
        self._outputs()
        add_suppressions(self)

    def _resources(self) -> Resources:
        env: dict[str, str] = {}
        for spec in wiring.TABLES:
            env[spec.env] = self.data.tables[spec.key].table_name
        for spec in wiring.QUEUES:
            env[spec.env] = self.queues.queues[spec.key].queue_url
        for spec in wiring.BUCKETS:
            env[spec.env] = self.storage.buckets[spec.key].bucket_name
        env[names.WEBSOCKET_CALLBACK_ENV] = self.websocket.endpoint.callback_url
        env.update(self.email.environment)
        dead_letter_queues = {
            wiring.dead_letter_key(key): dlq for key, dlq in self.queues.dead_letter_queues.items()
        }
        return Resources(
            tables=self.data.tables,
            buckets=self.storage.buckets,
            queues={**self.queues.queues, **dead_letter_queues},
            websocket=self.websocket.endpoint,
            email=self.email,
            env=env,
        )

    def _alarm_on_consumed_dead_letters(self) -> None:
        """Alarm on every message a DLQ's consumer receives.

        A DLQ with a consumer is drained within moments, so the alarm on its waiting messages
        (`Monitoring`) may never see one; yet each message there is still work that failed for
        good (an execution whose worker vanished on every delivery), which people should hear of.
        """
        for trigger in wiring.QUEUE_TRIGGERS:
            source = wiring.dead_lettered_queue(trigger.queue)
            if source is None:
                continue
            name = "".join(part.capitalize() for part in source.key.split("_"))
            dlq = self.queues.dead_letter_queues[source.key]
            self.monitoring.add_alarm(
                f"{name}DeadLetterReceivedAlarm",
                description=f"Messages of the {source.key} queue failed for good and reached its "
                f"DLQ, whose consumer ({trigger.function}) settles them",
                metric=dlq.metric_number_of_messages_received(
                    period=Duration.minutes(1), statistic="Sum"
                ),
                threshold=0,
            )

    def _outputs(self) -> None:
        outputs = {
            names.OUTPUT_REST_API_URL: (self.rest_api.url, "REST API base URL"),
            names.OUTPUT_WEBSOCKET_URL: (self.websocket.url, "WebSocket URL clients connect to"),
            names.OUTPUT_WEBSOCKET_CALLBACK_URL: (
                self.websocket.endpoint.callback_url,
                "WebSocket @connections endpoint",
            ),
            names.OUTPUT_ALARM_TOPIC_ARN: (
                self.monitoring.topic.topic_arn,
                "Subscribe to this topic for DLQ alarms",
            ),
            names.OUTPUT_API_TOKENS_SECRET_ARN: (
                self.api_tokens.secret.secret_arn,
                "Secret holding the API bearer tokens (read the generated one from here)",
            ),
            names.OUTPUT_ADMIN_KEY_SECRET_ARN: (
                self.api_tokens.admin_key_secret.secret_arn,
                'Secret holding the first admin API key ({"key"}): it creates tenants\' keys',
            ),
            names.OUTPUT_USER_POOL_ID: (
                self.users.user_pool.user_pool_id,
                "Cognito user pool people sign in to (admin-create-user, then initiate-auth)",
            ),
            names.OUTPUT_USER_POOL_CLIENT_ID: (
                self.users.client.user_pool_client_id,
                "App client id for initiate-auth (USER_PASSWORD_AUTH, USER_SRP_AUTH, refresh)",
            ),
            names.OUTPUT_CONSOLE_URL: (
                self.console.url,
                "The web console on CloudFront (its config.json names the REST and WebSocket APIs)",
            ),
            names.OUTPUT_UPLOADS_BUCKET: (
                self.storage.buckets[wiring.UPLOADS.key].bucket_name,
                "Bucket receiving uploaded log files",
            ),
        }
        for output_id, (value, description) in outputs.items():
            # Outputs directly on the stack keep their ids as logical ids: stable and readable.
            CfnOutput(self, output_id, value=value, description=description)
