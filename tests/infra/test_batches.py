"""The batch capability in the synthesized template: queues and DLQs with alarms, the three
functions' mappings, the worker's reserved concurrency, the table and the manifest bucket, and
least-privilege grants."""

from __future__ import annotations

import json

from horizon import wiring
from tests.infra.lookup import (
    env_ref,
    functions,
    get_att_id,
    of_type,
    policy_statements,
    queue_id,
    referenced_ids,
)


def _mapping(resources, queue_key):
    [mapping] = [
        props
        for props in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if get_att_id(props["EventSourceArn"]) == queue_id(resources, queue_key)
    ]
    return mapping


def _role_id(resources, key):
    _, props = functions(resources)[key]
    return get_att_id(props["Role"])


def _touched(resources, key):
    """The logical ids a function's role statements name."""
    found = set()
    for statement in policy_statements(resources, _role_id(resources, key)):
        found |= referenced_ids(statement.get("Resource"))
    return found


def test_each_batch_queue_feeds_its_function_with_partial_batch_responses(resources):
    for queue_key, function_key in (
        ("batch_fanout", "batch_fanout"),
        ("batch_tasks", "batch_worker"),
        (wiring.BATCH_TASKS_DLQ, "batch_failures"),
    ):
        mapping = _mapping(resources, queue_key)
        function_id, _ = functions(resources)[function_key]
        assert mapping["FunctionName"] == {"Ref": function_id}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _mapping(resources, "batch_tasks")["BatchSize"] == 10


def test_queues_outlast_their_consumers_and_redrive_to_dlqs(resources):
    for queue_key, function_key in (
        ("batch_fanout", "batch_fanout"),
        ("batch_tasks", "batch_worker"),
    ):
        queue = resources[queue_id(resources, queue_key)]["Properties"]
        _, function = functions(resources)[function_key]
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
        redrive = queue["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == wiring.queue(queue_key).max_receive_count
        assert get_att_id(redrive["deadLetterTargetArn"]) == queue_id(
            resources, wiring.dead_letter_key(queue_key)
        )


def test_both_batch_dlqs_raise_an_alarm(resources):
    alarmed = {
        get_att_id(dimension["Value"])
        for props in of_type(resources, "AWS::CloudWatch::Alarm").values()
        for dimension in props.get("Dimensions", [])
        if dimension["Name"] == "QueueName"
    }
    assert queue_id(resources, wiring.dead_letter_key("batch_fanout")) in alarmed
    assert queue_id(resources, wiring.BATCH_TASKS_DLQ) in alarmed


def test_the_worker_has_reserved_concurrency_and_time_for_a_task(resources):
    _, worker = functions(resources)["batch_worker"]
    assert (
        worker["ReservedConcurrentExecutions"] == wiring.BATCH_WORKER_FUNCTION.reserved_concurrency
    )
    assert worker["Timeout"] > 60 + 10  # BATCH_TASK_TIMEOUT_S + BATCH_TIME_RESERVE_S
    _, fanout = functions(resources)["batch_fanout"]
    assert "ReservedConcurrentExecutions" not in fanout


def test_the_batches_table_is_on_demand_with_pitr_and_ttl(resources):
    table = resources[env_ref(resources, wiring.BATCHES.env)]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_manifest_bucket_is_private_encrypted_and_expiring(resources):
    bucket = resources[env_ref(resources, wiring.BATCH_MANIFESTS.env)]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    assert "BucketEncryption" in bucket
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any(
        rule.get("ExpirationInDays") == wiring.BATCH_MANIFESTS.expire_after_days for rule in rules
    )


def test_grants_are_least_privilege(resources):
    manifests = env_ref(resources, wiring.BATCH_MANIFESTS.env)
    table = env_ref(resources, wiring.BATCHES.env)
    tasks_queue = queue_id(resources, "batch_tasks")
    # The worker runs untrusted tasks: it touches its table, its queue and the connections only.
    worker = _touched(resources, "batch_worker")
    assert table in worker and tasks_queue in worker
    assert manifests not in worker
    assert env_ref(resources, wiring.UPLOADS.env) not in worker
    assert env_ref(resources, wiring.EXECUTIONS.env) not in worker
    # The fan-out reads manifests; only the API writes them.
    fanout_actions = json.dumps(
        [
            s
            for s in policy_statements(resources, _role_id(resources, "batch_fanout"))
            if manifests in referenced_ids(s.get("Resource"))
        ]
    )
    assert "s3:GetObject" in fanout_actions and "s3:PutObject" not in fanout_actions
    assert manifests in _touched(resources, "api")
    assert tasks_queue not in _touched(resources, "api")
    assert table in _touched(resources, "websocket")
