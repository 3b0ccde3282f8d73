"""The wiring provisions on moto: every table, queue with DLQ, and the bucket's notification."""

import json

from horizon import wiring


def test_every_table_queue_and_bucket_exists(aws):
    tables = aws.dynamodb.list_tables()["TableNames"]
    for spec in wiring.TABLES:
        assert aws.env[spec.env] in tables
    for spec in wiring.QUEUES:
        attributes = aws.sqs.get_queue_attributes(
            QueueUrl=aws.env[spec.env], AttributeNames=["All"]
        )["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["maxReceiveCount"] == spec.max_receive_count
        assert redrive["deadLetterTargetArn"].endswith(f"-{spec.key}-dlq")
    config = aws.s3.get_bucket_notification_configuration(Bucket=aws.env["UPLOADS_BUCKET"])
    assert config["QueueConfigurations"][0]["Events"] == ["s3:ObjectCreated:*"]


def test_uploaded_object_notifies_the_ingest_queue(aws):
    queue_url = aws.env["INGEST_QUEUE_URL"]
    aws.s3.put_object(Bucket=aws.env["UPLOADS_BUCKET"], Key="uploads/o/j/a+b c.jsonl", Body=b"{}\n")
    bodies = []
    for _ in range(3):
        messages = aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        bodies += [json.loads(m["Body"]) for m in messages]
    records = [r for body in bodies for r in body.get("Records", [])]
    assert len(records) == 1
    assert records[0]["eventName"].startswith("ObjectCreated")


def test_provisioning_twice_reuses_what_exists(aws):
    from local.provision import provision

    clients = {"dynamodb": aws.dynamodb, "sqs": aws.sqs, "s3": aws.s3, "ses": aws.ses}
    prefix = aws.env["JOBS_TABLE"].removesuffix("-jobs")
    again = provision(clients, prefix=prefix, visibility_timeout_s=7)
    assert again.env == aws.env
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=aws.env["INGEST_QUEUE_URL"], AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "7"


def test_the_email_sender_is_verified_on_the_planes_ses(aws):
    assert aws.env["EMAIL_SENDER"] == "noreply@horizon.local"
    identities = aws.ses.list_identities()["Identities"]
    assert "noreply@horizon.local" in identities


def test_the_user_pool_and_its_client_are_made_and_found_again(aws):
    import boto3

    from local.provision import provision

    spec = wiring.USER_POOL
    clients = {
        "dynamodb": aws.dynamodb,
        "sqs": aws.sqs,
        "s3": aws.s3,
        "cognito-idp": boto3.client("cognito-idp", region_name="us-east-1"),
    }
    prefix = aws.env["JOBS_TABLE"].removesuffix("-jobs")
    first = provision(clients, prefix=prefix)
    pool_id = first.env[spec.pool_env]
    cognito = clients["cognito-idp"]
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["Name"] == f"{prefix}-{spec.key}"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    schema = {attribute["Name"] for attribute in pool["SchemaAttributes"]}
    assert {f"custom:{name}" for name in spec.custom_attributes} <= schema
    client = cognito.describe_user_pool_client(
        UserPoolId=pool_id, ClientId=first.env[spec.client_env]
    )["UserPoolClient"]
    assert client["ClientName"] == spec.client_name
    assert "ALLOW_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]
    assert first.env[spec.issuer_env] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    assert first.env[spec.jwks_env].endswith(f"/{pool_id}/.well-known/jwks.json")
    again = provision(clients, prefix=prefix)
    assert {name: again.env[name] for name in (spec.pool_env, spec.client_env)} == {
        name: first.env[name] for name in (spec.pool_env, spec.client_env)
    }
