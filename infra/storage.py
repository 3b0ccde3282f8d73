"""The buckets of `wiring.BUCKETS`, their notifications, and the bucket their access logs go to."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from horizon import wiring
from infra import names


def event_type(event: str) -> s3.EventType:
    """Return the CDK enum member of an S3 event name.

    Args:
        event: an S3 event as AWS spells it, e.g. "s3:ObjectCreated:*" or "s3:ObjectCreated:Put".

    Returns:
        The matching `s3.EventType` (OBJECT_CREATED, OBJECT_CREATED_PUT, ...).

    Raises:
        ValueError: the name is not an S3 event CDK knows.
    """
    parts = [part for part in event.removeprefix("s3:").split(":") if part != "*"]
    words = [re.sub(r"(?<!^)(?=[A-Z])", "_", part).upper() for part in parts]
    try:
        return s3.EventType["_".join(words)]
    except KeyError:
        raise ValueError(f"unknown S3 event type: {event!r}") from None


class Storage(Construct):
    """The data buckets and a separate bucket for their server access logs.

    Every bucket is encrypted (S3-managed keys), blocks public access, accepts TLS only and
    expires what it holds; uploads may come straight from browsers through presigned POSTs,
    hence CORS. Bucket notifications go to the queues the wiring names.

    Attributes:
        buckets: resource key → bucket.
        access_logs: the bucket receiving the server access logs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Iterable[wiring.BucketSpec],
        queues: Mapping[str, sqs.IQueue],
        cors_allowed_origins: Sequence[str] = ("*",),
    ) -> None:
        """Create the buckets and their notifications.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            specs: the buckets to create (normally `wiring.BUCKETS`).
            queues: queue key → queue, the targets of the specs' notifications.
            cors_allowed_origins: the web origins allowed to upload with a presigned POST.

        Raises:
            KeyError: a notification names a queue missing from `queues`.
        """
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=names.ACCESS_LOGS_EXPIRE_AFTER,
                    abort_incomplete_multipart_upload_after=names.ABORT_INCOMPLETE_UPLOADS_AFTER,
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.buckets: dict[str, s3.Bucket] = {}
        for spec in specs:
            bucket = self._bucket(spec, list(cors_allowed_origins))
            for notification in spec.notifications:
                destination = s3n.SqsDestination(queues[notification.queue])
                for event in notification.events:
                    bucket.add_event_notification(
                        event_type(event),
                        destination,
                        s3.NotificationKeyFilter(prefix=notification.prefix),
                    )
            self.buckets[spec.key] = bucket

    def _bucket(self, spec: wiring.BucketSpec, origins: list[str]) -> s3.Bucket:
        name = "".join(part.capitalize() for part in spec.key.split("_"))
        return s3.Bucket(
            self,
            f"{name}Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{spec.key}/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-objects",
                    expiration=Duration.days(spec.expire_after_days),
                    abort_incomplete_multipart_upload_after=names.ABORT_INCOMPLETE_UPLOADS_AFTER,
                )
            ],
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.PUT],
                    allowed_origins=origins,
                    allowed_headers=["*"],
                    exposed_headers=["ETag"],
                    max_age=3000,
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
