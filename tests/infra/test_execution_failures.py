"""The execute queue's DLQ feeds the execution_failures function: mapping, timing, role, alarm."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from horizon import wiring
from horizon.executions.limits import MAX_TIMEOUT_S
from horizon.executions.settings import ExecutionSettings
from tests.infra.lookup import (
    as_list,
    env_ref,
    functions,
    get_att_id,
    of_type,
    policy_statements,
    queue_id,
    referenced_ids,
)

FUNCTION = wiring.EXECUTION_FAILURES_FUNCTION


def _dlq_id(resources):
    return queue_id(resources, wiring.EXECUTE_DLQ)


def test_the_dlq_is_the_execute_queues_redrive_target(resources):
    execute = resources[env_ref(resources, wiring.EXECUTE_QUEUE.env)]["Properties"]
    assert get_att_id(execute["RedrivePolicy"]["deadLetterTargetArn"]) == _dlq_id(resources)
    assert resources[_dlq_id(resources)]["Type"] == "AWS::SQS::Queue"


def test_the_dlq_invokes_the_function_with_partial_batch_responses(resources):
    function_id, _ = functions(resources)[FUNCTION.key]
    [mapping] = [
        props
        for props in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if get_att_id(props["EventSourceArn"]) == _dlq_id(resources)
    ]
    assert mapping["FunctionName"] == {"Ref": function_id}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    # Nothing else reads the DLQ, and the function reads nothing but the DLQ.
    sources = [
        get_att_id(props["EventSourceArn"])
        for props in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if props["FunctionName"] == {"Ref": function_id}
    ]
    assert sources == [_dlq_id(resources)]


def test_a_record_put_back_comes_again_after_its_consumer_and_any_claim(resources):
    dlq = resources[_dlq_id(resources)]["Properties"]
    _, function = functions(resources)[FUNCTION.key]
    assert dlq["VisibilityTimeout"] >= 6 * function["Timeout"]
    # A record whose execution a worker still held comes back once the claim has lapsed.
    longest_claim = MAX_TIMEOUT_S + ExecutionSettings.model_fields["lease_grace_s"].default
    assert dlq["VisibilityTimeout"] > longest_claim
    assert dlq["SqsManagedSseEnabled"] is True


def test_the_role_consumes_the_dlq_and_updates_executions_only(resources):
    _, props = functions(resources)[FUNCTION.key]
    statements = policy_statements(resources, get_att_id(props["Role"]))
    executions_table = env_ref(resources, wiring.EXECUTIONS.env)
    actions_by_target: dict[str, set[str]] = {}
    for statement in statements:
        for ref in referenced_ids(statement["Resource"]):
            actions_by_target.setdefault(ref, set()).update(as_list(statement["Action"]))
    data_targets = {
        ref
        for ref in actions_by_target
        if resources[ref]["Type"] in {"AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::S3::Bucket"}
    }
    assert data_targets == {_dlq_id(resources), executions_table}
    dlq_actions = actions_by_target[_dlq_id(resources)]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= dlq_actions
    assert "sqs:SendMessage" not in dlq_actions
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem"} <= actions_by_target[executions_table]


def test_every_message_reaching_the_consumed_dlq_raises_an_alarm(resources):
    [alarm] = [
        props
        for props in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if props.get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [_dlq_id(resources), "QueueName"]}}]
        and props["MetricName"] == "NumberOfMessagesReceived"
    ]
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 60, 0)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    [topic_ref] = alarm["AlarmActions"]
    assert resources[topic_ref["Ref"]]["Type"] == "AWS::SNS::Topic"


def test_the_function_reads_the_execution_settings_from_its_environment(resources, monkeypatch):
    for field in ExecutionSettings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    with pytest.raises(ValidationError):
        ExecutionSettings()
    _, props = functions(resources)[FUNCTION.key]
    for name, value in props["Environment"]["Variables"].items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "from-cloudformation")
    ExecutionSettings()  # EXECUTIONS_TABLE and EXECUTE_QUEUE_URL are both there
