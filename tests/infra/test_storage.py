"""The uploads bucket, its access-logs bucket and its notifications, as synthesized."""

from __future__ import annotations

from horizon import wiring
from infra import names
from tests.infra.lookup import env_ref, get_att_id, of_type


def _uploads_id(resources):
    return env_ref(resources, wiring.UPLOADS.env)


def test_every_bucket_is_encrypted_and_blocks_public_access(resources):
    buckets = of_type(resources, "AWS::S3::Bucket")
    assert len(buckets) >= 2  # the uploads bucket and its access-logs bucket
    for logical_id, props in buckets.items():
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", logical_id
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert props["LifecycleConfiguration"]["Rules"], logical_id
        assert resources[logical_id]["DeletionPolicy"] == "Retain", logical_id


def test_every_bucket_denies_requests_without_tls(resources):
    tls_only = set()
    for props in of_type(resources, "AWS::S3::BucketPolicy").values():
        for statement in props["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
                == "false"
            ):
                tls_only.add(props["Bucket"]["Ref"])
    assert tls_only == set(of_type(resources, "AWS::S3::Bucket"))


def test_uploads_expire_and_incomplete_uploads_are_aborted(resources):
    props = resources[_uploads_id(resources)]["Properties"]
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == wiring.UPLOADS.expire_after_days
    assert rule["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": names.ABORT_INCOMPLETE_UPLOADS_AFTER.to_days()
    }


def test_uploads_log_access_to_a_separate_bucket(resources):
    uploads_id = _uploads_id(resources)
    logging = resources[uploads_id]["Properties"]["LoggingConfiguration"]
    logs_id = logging["DestinationBucketName"]["Ref"]
    assert logs_id != uploads_id
    assert resources[logs_id]["Type"] == "AWS::S3::Bucket"
    assert (
        resources[logs_id]["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]
        > 0
    )


def test_uploads_accept_browser_presigned_posts(resources):
    [rule] = resources[_uploads_id(resources)]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert "POST" in rule["AllowedMethods"]
    assert rule["AllowedOrigins"]


def test_bucket_notifications_target_the_wiring_queues(resources):
    uploads_id = _uploads_id(resources)
    [notifications] = [
        props
        for props in of_type(resources, "Custom::S3BucketNotifications").values()
        if props["BucketName"] == {"Ref": uploads_id}
    ]
    configured = [
        (
            get_att_id(config["QueueArn"]),
            tuple(config["Events"]),
            config["Filter"]["Key"]["FilterRules"],
        )
        for config in notifications["NotificationConfiguration"]["QueueConfigurations"]
    ]
    expected = [
        (
            env_ref(resources, wiring.queue(notification.queue).env),
            (event,),
            [{"Name": "prefix", "Value": notification.prefix}],
        )
        for notification in wiring.UPLOADS.notifications
        for event in notification.events
    ]
    assert configured == expected


def test_queues_let_only_the_uploads_bucket_send_notifications(resources):
    uploads_id = _uploads_id(resources)
    for notification in wiring.UPLOADS.notifications:
        queue_id = env_ref(resources, wiring.queue(notification.queue).env)
        allows = [
            statement
            for props in of_type(resources, "AWS::SQS::QueuePolicy").values()
            if {"Ref": queue_id} in props["Queues"]
            for statement in props["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Allow"
        ]
        [allow] = allows
        assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
        assert get_att_id(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == uploads_id
