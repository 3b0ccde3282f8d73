"""The REST API: every path and method proxied to the API function, behind a logged stage."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import names
from infra.shield import RestApiShield

# API Gateway's own refusals (before or instead of the function) in the API's error shape
# `{"detail", "code", "request_id"}` (horizon.api.errors): response type → (status, code).
GATEWAY_ERRORS: dict[str, tuple[str, str]] = {
    "THROTTLED": ("429", "rate_limited"),
    "QUOTA_EXCEEDED": ("429", "rate_limited"),
    "WAF_FILTERED": ("403", "forbidden"),
    "ACCESS_DENIED": ("403", "forbidden"),
    "UNAUTHORIZED": ("401", "unauthorized"),
    "REQUEST_TOO_LARGE": ("413", "payload_too_large"),
    "INTEGRATION_TIMEOUT": ("504", "dependency_unavailable"),
    "DEFAULT_4XX": ("", "http_error"),
    "DEFAULT_5XX": ("", "internal_error"),
}
# $context.error.messageString is already a quoted JSON string.
GATEWAY_ERROR_TEMPLATE = (
    '{"detail": $context.error.messageString, "code": "%s", "request_id": "$context.requestId"}'
)

# Uploads arrive as multipart bodies; API Gateway hands binary media types to Lambda base64
# encoded, which keeps the bytes intact (as text they would be mangled).
BINARY_MEDIA_TYPES = ("multipart/form-data", "application/octet-stream")


class RestApi(Construct):
    """A Lambda proxy REST API (`/` and `/{proxy+}`, any method) with one stage.

    The stage logs every request as JSON, logs execution at INFO (without bodies, which may
    hold users' data), traces with X-Ray, publishes metrics, is throttled and sits behind a
    WAF web ACL (`infra.shield`).

    Attributes:
        api: the REST API.
        url: the stage's URL.
        shield: its web ACL and usage plan.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        stage_name: str = names.REST_STAGE,
        binary_media_types: Sequence[str] = BINARY_MEDIA_TYPES,
        throttle_rate: int = names.REST_THROTTLE_RATE,
        throttle_burst: int = names.REST_THROTTLE_BURST,
    ) -> None:
        """Create the API.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            handler: the function serving every request.
            stage_name: the stage's name (part of the URL).
            binary_media_types: content types passed to the function base64 encoded.
            throttle_rate: steady requests per second for the stage.
            throttle_burst: burst of requests for the stage.
        """
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=names.LOG_RETENTION)
        self.api = apigateway.LambdaRestApi(
            self,
            "Api",
            handler=handler,
            proxy=True,
            description="Event Horizon REST API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            binary_media_types=list(binary_media_types),
            # Execution logging needs the account's API Gateway CloudWatch role. Other APIs of
            # the account rely on it too, so it outlives this stack.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=stage_name,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigateway.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=throttle_rate,
                throttling_burst_limit=throttle_burst,
            ),
        )
        # API Gateway writes execution logs to this group; created here it gets a retention
        # instead of keeping logs forever.
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{stage_name}",
            retention=names.LOG_RETENTION,
        )
        # Before the stage exists nothing can log, so API Gateway cannot create it first.
        self.api.deployment_stage.node.add_dependency(self.execution_logs)
        # LambdaRestApi adds its own `Endpoint` output; the stack outputs the URL under a stable id.
        self.api.node.try_remove_child("Endpoint")
        self.url = self.api.url
        self.shield = RestApiShield(self, "Shield", api=self.api)
        self._gateway_errors()

    def _gateway_errors(self) -> None:
        for response_type, (status, code) in GATEWAY_ERRORS.items():
            self.api.add_gateway_response(
                f"Gateway{response_type.title().replace('_', '')}",
                type=apigateway.ResponseType.of(response_type),
                status_code=status or None,  # the DEFAULT_* keep the status they stand for
                templates={"application/json": GATEWAY_ERROR_TEMPLATE % code},
                # A throttled caller may retry in a second (the stage's limits are per second).
                response_headers={"Retry-After": "'1'"} if status == "429" else None,
            )
