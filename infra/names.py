"""Constants shared by the CDK app and its tests: output ids, stage names, env var names.

Output ids are part of the deployment's interface (scripts and people read them with
`aws cloudformation describe-stacks`), so they are fixed here and never derived from paths.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_logs as logs

from horizon.metrics import names as metric_names

STACK_ID = "EventHorizon"
DEFAULT_DEPS_LAYER_DIR = "build/deps-layer"

# CloudFormation outputs (stable logical ids).
OUTPUT_REST_API_URL = "RestApiUrl"
OUTPUT_WEBSOCKET_URL = "WebSocketUrl"
OUTPUT_WEBSOCKET_CALLBACK_URL = "WebSocketCallbackUrl"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
OUTPUT_UPLOADS_BUCKET = "UploadsBucketName"
OUTPUT_API_TOKENS_SECRET_ARN = "ApiTokensSecretArn"  # noqa: S105 - an output id
OUTPUT_ADMIN_KEY_SECRET_ARN = "AdminKeySecretArn"  # noqa: S105 - an output id
OUTPUT_USER_POOL_ID = "UserPoolId"
OUTPUT_USER_POOL_CLIENT_ID = "UserPoolClientId"
OUTPUT_CONSOLE_URL = "ConsoleUrl"

# The REST API's stage (the WebSocket stage is `wiring.WEBSOCKET_STAGE`).
REST_STAGE = "prod"

# Resource key of the WebSocket API in a FunctionSpec's `access` map, and the variable that
# carries its @connections endpoint (read by `horizon.settings` as `websocket_callback_url`).
WEBSOCKET_RESOURCE = "websocket"
WEBSOCKET_CALLBACK_ENV = "WEBSOCKET_CALLBACK_URL"

# Variables every function gets besides its resources.
POWERTOOLS_SERVICE_ENV = "POWERTOOLS_SERVICE_NAME"
LOG_LEVEL_ENV = "LOG_LEVEL"
SERVICE_NAME = "event-horizon"
DEFAULT_LOG_LEVEL = "INFO"
# Where the business metrics (EMF, `horizon.metrics`) go; the dashboard graphs this namespace.
METRICS_NAMESPACE_ENV = metric_names.NAMESPACE_ENV
METRICS_NAMESPACE = metric_names.DEFAULT_NAMESPACE

# Log retention of function, API access and execution logs.
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# Upload housekeeping.
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(1)
ACCESS_LOGS_EXPIRE_AFTER = Duration.days(90)

# API throttling (per stage): steady requests per second and burst.
REST_THROTTLE_RATE = 100
REST_THROTTLE_BURST = 200
# WAF's rate rule: requests one client IP may make in any 5 minutes (its evaluation window).
WAF_RATE_PER_IP = 3000
WEBSOCKET_THROTTLE_RATE = 50
WEBSOCKET_THROTTLE_BURST = 100
