"""Email jobs in the template: tables, the email queue and its DLQ alarm, the worker, SES."""

from __future__ import annotations

from horizon import wiring
from horizon.email_jobs.settings import DEFAULT_SENDER, EmailSettings
from tests.infra.lookup import (
    as_list,
    environment,
    functions,
    get_att_id,
    of_type,
    policy_statements,
    queue_id,
    referenced_ids,
)

WORKER = wiring.EMAIL_WORKER_FUNCTION


def _role_id(resources, key):
    _, props = functions(resources)[key]
    return get_att_id(props["Role"])


def test_the_email_tables_have_the_wirings_keys(resources):
    tables = of_type(resources, "AWS::DynamoDB::Table")
    for spec in (wiring.NONPROFITS, wiring.EMAIL_JOBS):
        table_id = environment(resources, "api")[spec.env]["Ref"]
        keys = {k["AttributeName"]: k["KeyType"] for k in tables[table_id]["KeySchema"]}
        assert keys == {"pk": "HASH", "sk": "RANGE"}
    jobs_id = environment(resources, "api")[wiring.EMAIL_JOBS.env]["Ref"]
    assert tables[jobs_id]["TimeToLiveSpecification"]["AttributeName"] == "expires_at"


def test_the_email_queue_feeds_the_worker_with_partial_batch_responses(resources):
    function_id, function = functions(resources)[WORKER.key]
    email_queue = queue_id(resources, "email")
    [mapping] = [
        props
        for props in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if get_att_id(props["EventSourceArn"]) == email_queue
    ]
    assert mapping["FunctionName"] == {"Ref": function_id}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources[email_queue]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    dlq_id = get_att_id(queue["RedrivePolicy"]["deadLetterTargetArn"])
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    assert any(dlq_id in referenced_ids(alarm.get("Dimensions", [])) for alarm in alarms)


def test_the_worker_may_send_only_as_the_identity_through_the_configuration_set(resources):
    [identity_id] = of_type(resources, "AWS::SES::EmailIdentity")
    identity = resources[identity_id]["Properties"]
    assert identity["EmailIdentity"] == DEFAULT_SENDER
    [config_set_id] = of_type(resources, "AWS::SES::ConfigurationSet")
    assert identity["ConfigurationSetAttributes"]["ConfigurationSetName"] == {"Ref": config_set_id}
    statements = [
        s
        for s in policy_statements(resources, _role_id(resources, WORKER.key))
        if any(str(a).startswith("ses:") for a in as_list(s["Action"]))
    ]
    assert statements
    for statement in statements:
        assert set(as_list(statement["Action"])) == {"ses:SendEmail", "ses:SendRawEmail"}
        assert "*" not in as_list(statement["Resource"])
        assert config_set_id in referenced_ids(statement["Resource"])
    env = environment(resources, WORKER.key)
    assert env["EMAIL_SENDER"] == DEFAULT_SENDER
    assert env["EMAIL_CONFIGURATION_SET"] == {"Ref": config_set_id}


def test_only_the_worker_may_send_email(resources):
    for key in functions(resources):
        if key == WORKER.key:
            continue
        actions = [
            a
            for s in policy_statements(resources, _role_id(resources, key))
            for a in as_list(s["Action"])
        ]
        assert not any(str(a).startswith("ses:") for a in actions), key


FAILURES = wiring.EMAIL_FAILURES_FUNCTION


def test_the_email_dlq_feeds_the_failures_function_and_nothing_else(resources):
    email_queue = resources[queue_id(resources, "email")]["Properties"]
    dlq_id = get_att_id(email_queue["RedrivePolicy"]["deadLetterTargetArn"])
    assert dlq_id == queue_id(resources, wiring.EMAIL_DLQ)
    function_id, function = functions(resources)[FAILURES.key]
    mappings = [
        props
        for props in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if props["FunctionName"] == {"Ref": function_id}
        or get_att_id(props["EventSourceArn"]) == dlq_id
    ]
    [mapping] = mappings
    assert get_att_id(mapping["EventSourceArn"]) == dlq_id
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    dlq = resources[dlq_id]["Properties"]
    assert dlq["VisibilityTimeout"] >= 6 * function["Timeout"]
    # A record put back because a delivery still held a recipient comes back after its lease.
    lease_s = EmailSettings.model_fields["sending_lease_s"].default
    assert dlq["VisibilityTimeout"] > lease_s


def test_the_failures_function_may_not_send_email_nor_queue_it(resources):
    statements = policy_statements(resources, _role_id(resources, FAILURES.key))
    actions = {str(a) for s in statements for a in as_list(s["Action"])}
    assert not any(a.startswith("ses:") for a in actions)
    email_queue = queue_id(resources, "email")
    for statement in statements:
        if email_queue in referenced_ids(statement["Resource"]):
            raise AssertionError(f"the failures function may touch the email queue: {statement}")
