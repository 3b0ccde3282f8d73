"""cdk-nag (v3) acknowledgments: each finding the stack accepts, with the reason why.

cdk-nag v3 runs as a CDK policy-validation plugin; a finding is acknowledged with
`Validations.of(construct).acknowledge(...)`, which covers the construct and its children.
Ids of granular findings (`AwsSolutions-IAM5[Resource::...]`) name CloudFormation logical ids,
so they are computed from the constructs here rather than copied from a report.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnResource, DefaultStackSynthesizer, Stack, Validations
from aws_cdk import aws_ecs as ecs
from aws_cdk import custom_resources as cr
from constructs import IConstruct

from horizon import wiring
from infra import names
from infra.websocket_api import MANAGE_CONNECTIONS_METHODS

if TYPE_CHECKING:
    from infra.stack import EventHorizonStack

AUTH_REASON = (
    "Callers authenticate with API keys, bearer API tokens (the ApiTokens secret, required by "
    "REQUIRE_API_TOKENS) or Cognito user pool tokens, all checked by the application, which "
    "maps each to a tenant; every stored item is scoped by that tenant."
)
# The construct id of aws-cdk-lib's singleton function behind AwsCustomResource.
AWS_CUSTOM_RESOURCE_PROVIDER = "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")
# Actions the L2 bucket grants produce, by the access of a FunctionSpec.
# The construct id prefix of aws-cdk-lib's singleton function behind every BucketDeployment.
BUCKET_DEPLOYMENT_PROVIDER = "Custom::CDKBucketDeployment"
BUCKET_GRANT_ACTIONS: dict[str, tuple[str, ...]] = {
    "read": ("s3:GetBucket*", "s3:GetObject*", "s3:List*"),
    "write": ("s3:Abort*",),
    "read_write": ("s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*", "s3:DeleteObject*"),
}


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge the AwsSolutions finding `rule` on `scope` and everything under it.

    Args:
        scope: the construct the finding is reported on (or a parent).
        rule: the rule id without the pack, e.g. "APIG2" or "IAM5[Action::s3:List*]".
        reason: why the finding is accepted (shown in reports and reviews).
    """
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))


def _ref(scope: IConstruct) -> str:
    """Return the `<LogicalId>` placeholder cdk-nag writes for a reference to `scope`."""
    default = scope.node.default_child
    assert isinstance(default, CfnResource)
    return Stack.of(scope).resolve(Stack.of(scope).get_logical_id(default))


def add_suppressions(stack: EventHorizonStack) -> None:
    """Acknowledge the AwsSolutions findings this stack accepts, each with its reason.

    Args:
        stack: the composed stack.
    """
    _apis(stack)
    _function_roles(stack)
    _agent_tasks(stack)
    _sandbox(stack)
    _console(stack)
    acknowledge(
        stack.users.user_pool,
        "COG2",
        "MFA is optional: users are created by administrators and may turn on an authenticator "
        "app (then required for them); threat protection (Plus plan, full function) challenges "
        "or blocks risky sign-ins for everyone.",
    )
    acknowledge(
        stack.api_tokens.secret,
        "SMG4",
        "Static API bearer tokens handed to tenants: rotating them automatically would lock "
        "clients out; operators rotate a tenant's token by editing the secret (picked up "
        "within 5 minutes).",
    )
    acknowledge(
        stack.api_tokens.admin_key_secret,
        "SMG4",
        "The admin API key is handed to the platform's operators: an automatic rotation would "
        "lock them out without a rotation function that tells them; they rotate it by editing "
        "the secret (picked up within 5 minutes) after creating their own admin keys.",
    )
    for child in stack.node.children:
        # aws-cdk-lib's own singleton that writes the bucket notification configuration.
        if child.node.id.startswith("BucketNotificationsHandler"):
            acknowledge(
                child,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "aws-cdk-lib's BucketNotificationsHandler custom resource; the managed policy "
                "only lets it write its own logs and its role is not configurable.",
            )


def _apis(stack: EventHorizonStack) -> None:
    rest = stack.rest_api
    acknowledge(rest, "APIG4", AUTH_REASON)
    acknowledge(stack.websocket, "APIG4", AUTH_REASON)
    acknowledge(
        rest,
        "COG4",
        "Cognito tokens are verified by the application (signature against the pool's JWKS, "
        "issuer, app client, expiry), beside API keys and tokens, so that the REST API and the "
        "WebSocket $connect share one check; an API Gateway authorizer would refuse API keys.",
    )
    acknowledge(
        rest,
        "APIG2",
        "Lambda proxy API: FastAPI validates every body, path and query parameter with "
        "pydantic models; API Gateway holds no models a validator could apply.",
    )
    acknowledge(
        rest,
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        "The AWS-documented policy of API Gateway's account-wide CloudWatch Logs role, "
        "required for execution logging.",
    )


def _function_roles(stack: EventHorizonStack) -> None:
    api_ref = _ref(stack.websocket.api)
    for spec in wiring.FUNCTIONS:
        role = stack.functions.functions[spec.key].role
        assert role is not None
        acknowledge(
            role,
            "IAM5[Resource::*]",
            "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no "
            "resource-level permissions.",
        )
        for key, access in spec.access.items():
            if key == names.WEBSOCKET_RESOURCE:
                for method in MANAGE_CONNECTIONS_METHODS:
                    acknowledge(
                        role,
                        "IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
                        f"<AWS::AccountId>:<{api_ref}>/{wiring.WEBSOCKET_STAGE}/{method}/@connections/*]",
                        "Connection ids exist only at run time; the grant is limited to this "
                        "API, its stage and the @connections method.",
                    )
            elif key in stack.storage.buckets:
                bucket_ref = _ref(stack.storage.buckets[key])
                acknowledge(
                    role,
                    f"IAM5[Resource::<{bucket_ref}.Arn>/*]",
                    f"Objects of the {key} bucket, as the L2 bucket grant scopes them; keys "
                    "are created per upload.",
                )
                for action in BUCKET_GRANT_ACTIONS[access]:
                    acknowledge(
                        role,
                        f"IAM5[Action::{action}]",
                        f"Action group of the L2 bucket grant ({access}), limited to the "
                        f"{key} bucket.",
                    )


def _agent_tasks(stack: EventHorizonStack) -> None:
    agent = stack.agent
    api_ref = _ref(stack.websocket.api)
    for method in MANAGE_CONNECTIONS_METHODS:
        acknowledge(
            agent.task_definition.task_role,
            "IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
            f"<AWS::AccountId>:<{api_ref}>/{wiring.WEBSOCKET_STAGE}/{method}/@connections/*]",
            "An agent task pushes to the connections subscribed to it, known only at run "
            "time; the grant is limited to this API, its stage and the @connections method.",
        )
    _task_definition(agent.task_definition)


def _sandbox(stack: EventHorizonStack) -> None:
    sandbox = stack.sandbox
    _task_definition(sandbox.task_definition)
    for lookup in sandbox.network.prefix_list_lookups:
        acknowledge(
            lookup,
            "IAM5[Resource::*]",
            "ec2:DescribeManagedPrefixLists supports no resource-level permissions; the "
            "deploy-time lookup only reads the id of AWS's prefix list for a gateway endpoint.",
        )
    for child in stack.node.children:
        # aws-cdk-lib's singleton function behind every AwsCustomResource (prefix list lookups).
        if child.node.id.startswith(AWS_CUSTOM_RESOURCE_PROVIDER):
            acknowledge(
                child,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "aws-cdk-lib's AwsCustomResource provider, which runs only at deployment (the "
                "prefix list lookups); the managed policy only lets it write its own logs.",
            )


def _task_definition(task_definition: ecs.TaskDefinition) -> None:
    """Acknowledge what every Fargate task definition of the stack shares."""
    acknowledge(
        task_definition,
        "ECS2",
        "The container's variables are resource names and limits, no secrets; they change "
        "only with a deployment, like the functions' environment.",
    )
    execution_role = task_definition.execution_role
    assert execution_role is not None
    acknowledge(
        execution_role,
        "IAM5[Resource::*]",
        "ecr:GetAuthorizationToken supports no resource-level permissions; image pulls are "
        "limited to the asset repository by the other statements.",
    )


def _assets_bucket_objects() -> str:
    """Return how cdk-nag writes the objects of the default synthesizer's file assets bucket:
    `arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*`."""
    name = DefaultStackSynthesizer.DEFAULT_FILE_ASSETS_BUCKET_NAME.replace(
        "${Qualifier}", DefaultStackSynthesizer.DEFAULT_QUALIFIER
    )
    return "arn:<AWS::Partition>:s3:::" + re.sub(r"\$\{([^}]+)\}", r"<\1>", name) + "/*"


def _console(stack: EventHorizonStack) -> None:
    console = stack.console
    distribution = console.distribution
    acknowledge(
        distribution,
        "CFR1",
        "The console is for tenants wherever they are; it holds only public static files, and "
        "what a caller may do is decided by its API key at the REST API.",
    )
    acknowledge(
        distribution,
        "CFR2",
        "A CloudFront web ACL must be created in us-east-1 and this stack is regional; the "
        "distribution only answers GET and HEAD with static files from a private bucket, and "
        "every call that reaches data goes to the REST API, which has its own web ACL.",
    )
    acknowledge(
        distribution,
        "CFR3",
        "CloudFront standard logs need a bucket with ACLs enabled, which the stack's buckets "
        "disable (BucketOwnerEnforced); the files are public and static, and the API calls the "
        "console makes are in the REST API's access logs.",
    )
    acknowledge(
        distribution,
        "CFR4",
        "No custom domain: with the default *.cloudfront.net certificate the minimum protocol "
        "cannot be raised (browsers negotiate TLS 1.2 or 1.3); a custom domain needs an ACM "
        "certificate in us-east-1.",
    )
    role = console.deployment.handler_role
    acknowledge(
        role,
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "aws-cdk-lib's BucketDeployment custom resource, run only at deployment; the managed "
        "policy only lets it write its own logs.",
    )
    bucket_ref = _ref(console.bucket)
    for resource, why in (
        (_assets_bucket_objects(), "the console's asset zip in the CDK assets bucket"),
        (f"<{bucket_ref}.Arn>/*", "the console bucket's objects, replaced on each deployment"),
    ):
        acknowledge(
            role,
            f"IAM5[Resource::{resource}]",
            f"BucketDeployment's L2 bucket grant, limited to {why}.",
        )
    # Read on the assets bucket, read-write on the console bucket.
    actions = dict.fromkeys((*BUCKET_GRANT_ACTIONS["read"], *BUCKET_GRANT_ACTIONS["read_write"]))
    for action in actions:
        acknowledge(
            role,
            f"IAM5[Action::{action}]",
            "Action group of BucketDeployment's L2 bucket grants: read on the assets bucket, "
            "read-write on the console bucket only.",
        )
    for child in stack.node.children:
        if child.node.id.startswith(BUCKET_DEPLOYMENT_PROVIDER):
            acknowledge(
                child,
                "L1",
                "aws-cdk-lib picks the runtime of the BucketDeployment function (no property "
                "sets it); it runs only at deployment, never on a request.",
            )
