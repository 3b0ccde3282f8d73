"""Tables, queues with their DLQs, event source mappings and DLQ alarms, against the wiring."""

from __future__ import annotations

import pytest

from horizon import wiring
from tests.infra.lookup import env_ref, functions, get_att_id, of_type, queue_id


@pytest.mark.parametrize("spec", wiring.TABLES, ids=lambda spec: spec.key)
def test_table_matches_the_wiring(resources, spec):
    logical_id = env_ref(resources, spec.env)
    table = resources[logical_id]
    props = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    expected_keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    if spec.sort_key:
        expected_keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
    assert props["KeySchema"] == expected_keys
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types[spec.partition_key] == "S"
    if spec.sort_key:
        assert types[spec.sort_key] == spec.sort_key_type
    if spec.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {
            "AttributeName": spec.ttl_attribute,
            "Enabled": True,
        }
    else:
        assert "TimeToLiveSpecification" not in props


def _consumer_timeouts(resources, queue_id):
    by_id = {logical_id: props for logical_id, props in functions(resources).values()}
    return [
        by_id[mapping["FunctionName"]["Ref"]]["Timeout"]
        for mapping in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if get_att_id(mapping["EventSourceArn"]) == queue_id
    ]


@pytest.mark.parametrize("spec", wiring.QUEUES, ids=lambda spec: spec.key)
def test_queue_matches_the_wiring(resources, spec):
    queue_id = env_ref(resources, spec.env)
    props = resources[queue_id]["Properties"]
    assert props["VisibilityTimeout"] == spec.visibility_timeout_s
    assert props["SqsManagedSseEnabled"] is True
    redrive = props["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == spec.max_receive_count
    dlq_id = get_att_id(redrive["deadLetterTargetArn"])
    assert dlq_id != queue_id
    dlq = resources[dlq_id]["Properties"]
    assert dlq["MessageRetentionPeriod"] == spec.dlq_retention_days * 86400
    assert dlq["SqsManagedSseEnabled"] is True
    # A message must not come back while its consumer may still be working on it.
    timeouts = _consumer_timeouts(resources, queue_id)
    # Task containers (the sandbox's workers) consume too; test_sandbox checks their timing.
    task_consumers = [t for t in wiring.TASK_CONTAINERS if t.access.get(spec.key) == "consume"]
    assert timeouts or task_consumers, f"nothing consumes {spec.key}"
    assert all(props["VisibilityTimeout"] >= 6 * timeout for timeout in timeouts)


def test_every_queue_denies_requests_without_tls(resources):
    tls_only = set()
    for props in of_type(resources, "AWS::SQS::QueuePolicy").values():
        for statement in props["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
                == "false"
            ):
                tls_only |= {queue["Ref"] for queue in props["Queues"]}
    assert tls_only == set(of_type(resources, "AWS::SQS::Queue"))


@pytest.mark.parametrize("trigger", wiring.QUEUE_TRIGGERS, ids=lambda t: t.queue)
def test_event_source_mapping_matches_the_wiring(resources, trigger):
    source_id = queue_id(resources, trigger.queue)  # a work queue or a DLQ
    function_id = functions(resources)[trigger.function][0]
    [mapping] = [
        props
        for props in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if get_att_id(props["EventSourceArn"]) == source_id
        and props["FunctionName"] == {"Ref": function_id}
    ]
    assert mapping["BatchSize"] == trigger.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": trigger.max_concurrency}
    window = mapping.get("MaximumBatchingWindowInSeconds", 0)
    assert window == trigger.max_batching_window_s


@pytest.mark.parametrize("spec", wiring.QUEUES, ids=lambda spec: spec.key)
def test_each_dead_letter_queue_raises_an_alarm(resources, spec):
    queue_id = env_ref(resources, spec.env)
    dlq_id = get_att_id(resources[queue_id]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
    [alarm] = [
        props
        for props in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if props.get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
        # A consumed DLQ has a second alarm, on what its consumer receives (test_execution_failures).
        and props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    ]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    [topic_ref] = alarm["AlarmActions"]
    topic = resources[topic_ref["Ref"]]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert "KmsMasterKeyId" in topic["Properties"]


def test_alarm_topic_key_rotates_and_admits_cloudwatch(resources):
    [topic] = of_type(resources, "AWS::SNS::Topic").values()
    key = resources[get_att_id(topic["KmsMasterKeyId"])]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = [s.get("Principal", {}) for s in key["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals
