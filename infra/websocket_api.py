"""The WebSocket API: route selection, routes to Lambda integrations, a logged, throttled stage."""

from __future__ import annotations

import json
from collections.abc import Mapping

import jsii
from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import names

# The @connections methods a function needs: push (POST), inspect (GET), hang up (DELETE).
MANAGE_CONNECTIONS_METHODS = ("POST", "GET", "DELETE")
# WebSocket context variables: https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-logging.html
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "connectionId": "$context.connectionId",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "error": "$context.error.message",
}


class WebSocketEndpoint:
    """The management side of a WebSocket API stage: its callback URL and the right to use it.

    Built from the API id and the stage name only, so functions can receive the URL and the
    grant without depending on the routes, which depend on the functions.
    """

    def __init__(self, scope: Construct, api_id: str, stage_name: str) -> None:
        """Describe the endpoint of `api_id`'s stage `stage_name`.

        Args:
            scope: any construct of the stack (for region, account and partition).
            api_id: the WebSocket API's id (a token at synth time).
            stage_name: the stage.
        """
        stack = Stack.of(scope)
        self.api_id = api_id
        self.stage_name = stage_name
        self.callback_url = (
            f"https://{api_id}.execute-api.{stack.region}.{stack.url_suffix}/{stage_name}"
        )
        self.connection_arns = [
            stack.format_arn(
                service="execute-api",
                resource=api_id,
                resource_name=f"{stage_name}/{method}/@connections/*",
            )
            for method in MANAGE_CONNECTIONS_METHODS
        ]

    def grant_manage_connections(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` post to, read and close this stage's connections.

        Args:
            grantee: the function (or role) to grant.

        Returns:
            The grant.
        """
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["execute-api:ManageConnections"],
            resource_arns=self.connection_arns,
        )


class WebSocketApi(Construct):
    """A WebSocket API with one stage; routes are added once their functions exist.

    Attributes:
        api: the WebSocket API.
        stage: its stage.
        endpoint: the stage's management endpoint (callback URL, grants).
        url: the `wss://` URL clients connect to.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        route_selection_expression: str,
        stage_name: str,
        throttle_rate: int = names.WEBSOCKET_THROTTLE_RATE,
        throttle_burst: int = names.WEBSOCKET_THROTTLE_BURST,
    ) -> None:
        """Create the API and its stage.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            route_selection_expression: e.g. `$request.body.action`.
            stage_name: the stage's name (part of every URL).
            throttle_rate: steady messages per second for the stage.
            throttle_burst: burst of messages for the stage.
        """
        super().__init__(scope, construct_id)
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            description="Event Horizon live updates and agent tasks",
            route_selection_expression=route_selection_expression,
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=names.LOG_RETENTION)
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=stage_name,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=throttle_rate, burst_limit=throttle_burst),
            access_log_settings=_AccessLogSettings(self.access_logs),
        )
        self.endpoint = WebSocketEndpoint(self, self.api.api_id, stage_name)
        self.url = self.stage.url

    def add_routes(
        self, routes: Mapping[str, str], functions: Mapping[str, lambda_.IFunction]
    ) -> None:
        """Route each route key ($connect, $disconnect, $default, actions) to its function.

        Args:
            routes: route key → function key (normally `wiring.WEBSOCKET_ROUTES`).
            functions: function key → function.

        Raises:
            KeyError: a route names a missing function.
        """
        integrations_by_function: dict[str, integrations.WebSocketLambdaIntegration] = {}
        for route_key, function_key in routes.items():
            integration = integrations_by_function.get(function_key)
            if integration is None:
                integration = integrations.WebSocketLambdaIntegration(
                    f"{function_key}-integration", functions[function_key]
                )
                integrations_by_function[function_key] = integration
            self.api.add_route(route_key, integration=integration)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """Access logs of the stage, one JSON object per request (structured, as for REST)."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))
