"""Create the resources `horizon.wiring` describes on an AWS plane (moto, LocalStack).

Used by the local stack and by the test fixtures, so both provision exactly what CDK declares.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from horizon import wiring
from horizon.dynamo import error_code
from horizon.email_jobs.settings import DEFAULT_SENDER

# Provisioning again on a plane that already has the resources (a restarted local stack on the
# same LocalStack or moto server) reuses them.
_ALREADY_THERE = {"ResourceInUseException", "BucketAlreadyOwnedByYou"}


@dataclass
class Provisioned:
    """The names and URLs of what was created, and the environment the handlers need.

    `queue_urls` and `queue_arns` hold every queue by its resource key, DLQs under
    `wiring.dead_letter_key(...)`; `dlq_urls` holds each work queue's DLQ by the work queue's key.
    """

    env: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)


def _table(client: Any, spec: wiring.TableSpec, name: str) -> None:
    keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    attributes = [{"AttributeName": spec.partition_key, "AttributeType": "S"}]
    if spec.sort_key:
        keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
        attributes.append({"AttributeName": spec.sort_key, "AttributeType": spec.sort_key_type})
    try:
        client.create_table(
            TableName=name,
            KeySchema=keys,
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as error:
        if error_code(error) not in _ALREADY_THERE:
            raise
        return
    if spec.ttl_attribute:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )


def _create_queue(client: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    """Create the queue `name` with `attributes`, or bring an existing one to them.

    Returns:
        The queue's URL and ARN.
    """
    try:
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as error:
        if "QueueAlreadyExists" not in error_code(error):
            raise
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
        client.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _queue(
    client: Any, spec: wiring.QueueSpec, name: str, visibility_timeout_s: int | None
) -> tuple[tuple[str, str], tuple[str, str]]:
    """Create the work queue `name` and its DLQ `name-dlq`, with the redrive between them.

    Returns:
        (URL, ARN) of the queue, then of its DLQ.
    """
    dlq_attributes = {"MessageRetentionPeriod": str(spec.dlq_retention_days * 86400)}
    if spec.dlq_visibility_timeout_s is not None:
        # A DLQ with a consumer: as short as the work queues' locally, so that a record put
        # back comes again within seconds.
        dlq_attributes["VisibilityTimeout"] = str(
            visibility_timeout_s or spec.dlq_visibility_timeout_s
        )
    dlq_url, dlq_arn = _create_queue(client, f"{name}-dlq", dlq_attributes)
    attributes = {
        "VisibilityTimeout": str(visibility_timeout_s or spec.visibility_timeout_s),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
        ),
    }
    return _create_queue(client, name, attributes), (dlq_url, dlq_arn)


def _bucket(
    s3: Any, sqs: Any, spec: wiring.BucketSpec, name: str, provisioned: Provisioned, region: str
) -> None:
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as error:
        if error_code(error) not in _ALREADY_THERE:
            raise
    configurations = []
    for notification in spec.notifications:
        queue_arn = provisioned.queue_arns[notification.queue]
        # The queue must let S3 send to it, as the CDK stack's queue policy does.
        sqs.set_queue_attributes(
            QueueUrl=provisioned.queue_urls[notification.queue],
            Attributes={
                "Policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": queue_arn,
                                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{name}"}},
                            }
                        ],
                    }
                )
            },
        )
        configurations.append(
            {
                "QueueArn": queue_arn,
                "Events": list(notification.events),
                "Filter": {
                    "Key": {"FilterRules": [{"Name": "prefix", "Value": notification.prefix}]}
                },
            }
        )
    if configurations:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"QueueConfigurations": configurations}
        )


def _email_sender(ses: Any, provisioned: Provisioned) -> None:
    """Verify the sender identity (EMAIL_SENDER: an address, or a domain) on the plane's SES,
    as the account's verified identity is in AWS, and hand the handlers the same sender."""
    sender = os.environ.get("EMAIL_SENDER") or DEFAULT_SENDER
    if "@" in sender:
        ses.verify_email_identity(EmailAddress=sender)
    else:
        ses.verify_domain_identity(Domain=sender)
    provisioned.env["EMAIL_SENDER"] = sender


def _named(pages: Any, key: str, name_field: str, name: str) -> dict[str, Any] | None:
    """Return the first item called `name` in a paginator's pages (items under `key`)."""
    for page in pages:
        for item in page.get(key, []):
            if item.get(name_field) == name:
                return dict(item)
    return None


def _user_pool(
    cognito: Any, spec: wiring.UserPoolSpec, name: str, provisioned: Provisioned
) -> None:
    """Create the user pool `name` and its app client as CDK declares them (or find the ones a
    restarted stack made), and hand the verifying functions their ids, issuer and JWKS URL."""
    found = _named(
        cognito.get_paginator("list_user_pools").paginate(MaxResults=60), "UserPools", "Name", name
    )
    if found:
        pool_id = found["Id"]
    else:
        pool_id = cognito.create_user_pool(
            PoolName=name,
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
            # AWS's is optional TOTP; no one enrols an authenticator app in a local pool.
            MfaConfiguration="OFF",
            Schema=[
                {"Name": attribute, "AttributeDataType": "String", "Mutable": mutable}
                for attribute, mutable in spec.custom_attributes.items()
            ],
        )["UserPool"]["Id"]
    client = _named(
        cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id),
        "UserPoolClients",
        "ClientName",
        spec.client_name,
    )
    if client:
        client_id = client["ClientId"]
    else:
        custom = [f"custom:{attribute}" for attribute in spec.custom_attributes]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=spec.client_name,
            GenerateSecret=False,
            ExplicitAuthFlows=[
                "ALLOW_USER_PASSWORD_AUTH",
                "ALLOW_USER_SRP_AUTH",
                "ALLOW_REFRESH_TOKEN_AUTH",
            ],
            IdTokenValidity=spec.id_token_minutes,
            AccessTokenValidity=spec.access_token_minutes,
            RefreshTokenValidity=spec.refresh_token_days,
            TokenValidityUnits={
                "IdToken": "minutes",
                "AccessToken": "minutes",
                "RefreshToken": "days",
            },
            ReadAttributes=["email", "email_verified", *custom],
            WriteAttributes=["email"],
        )["UserPoolClient"]["ClientId"]
    region = pool_id.split("_", 1)[0]
    provisioned.env[spec.pool_env] = pool_id
    provisioned.env[spec.client_env] = client_id
    # moto signs its tokens with Cognito's issuer (checked by the identity tests) but serves the
    # keys at its own endpoint.
    provisioned.env[spec.issuer_env] = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
    endpoint = cognito.meta.endpoint_url.rstrip("/")
    provisioned.env[spec.jwks_env] = f"{endpoint}/{pool_id}/.well-known/jwks.json"


def provision(
    clients: dict[str, Any],
    prefix: str = "horizon",
    region: str = "us-east-1",
    visibility_timeout_s: int | None = None,
) -> Provisioned:
    """Create every table, queue (with its DLQ) and bucket of the wiring.

    Args:
        clients: boto3 clients keyed "dynamodb", "sqs", "s3", and optionally "ses" (the email
            sender identity is verified there) and "cognito-idp" (the user pool is made there).
        prefix: the start of every resource name (tests use a unique one).
        region: the region the clients talk to.
        visibility_timeout_s: overrides the queues' visibility timeout (the local stack uses a
            short one so that a failed message comes back in seconds, not half an hour).

    Returns:
        What was created, with `env`: the variables the handlers read (JOBS_TABLE, ...,
        COGNITO_USER_POOL_ID with a Cognito client).
    """
    provisioned = Provisioned()
    for table in wiring.TABLES:
        name = f"{prefix}-{table.key}"
        _table(clients["dynamodb"], table, name)
        provisioned.env[table.env] = name
    for queue in wiring.QUEUES:
        (url, arn), (dlq_url, dlq_arn) = _queue(
            clients["sqs"], queue, f"{prefix}-{queue.key}", visibility_timeout_s
        )
        provisioned.queue_urls[queue.key] = url
        provisioned.queue_arns[queue.key] = arn
        provisioned.dlq_urls[queue.key] = dlq_url
        provisioned.env[queue.env] = url
        # The DLQ is also a queue of its own key, which the wiring's triggers may name (the
        # local stack starts their pollers from `queue_urls`/`queue_arns`, as for any queue).
        dead_letter_key = wiring.dead_letter_key(queue.key)
        provisioned.queue_urls[dead_letter_key] = dlq_url
        provisioned.queue_arns[dead_letter_key] = dlq_arn
    for bucket in wiring.BUCKETS:
        name = f"{prefix}-{bucket.key}"
        _bucket(clients["s3"], clients["sqs"], bucket, name, provisioned, region)
        provisioned.env[bucket.env] = name
    if "ses" in clients:
        _email_sender(clients["ses"], provisioned)
    if "cognito-idp" in clients:
        _user_pool(
            clients["cognito-idp"],
            wiring.USER_POOL,
            f"{prefix}-{wiring.USER_POOL.key}",
            provisioned,
        )
    return provisioned
