"""The code-execution sandbox's warm pool: the task's lockdown, its network, role and scaling."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from pydantic import ValidationError

from horizon import wiring
from horizon.settings import Settings
from infra import sandbox
from infra.functions import Resources
from infra.sandbox import SandboxWorkers
from sandbox_task.contract import MAX_TIMEOUT_S
from tests.infra.lookup import (
    as_list,
    env_ref,
    get_att_id,
    of_type,
    policy_statements,
    referenced_ids,
)
from tests.infra.test_nag import nag_assembly  # noqa: F401  # the cdk-nag synth, reused

SPEC = wiring.SANDBOX_TASK
# The sandbox's construct id in the stack: its resources' logical ids start with it.
SANDBOX = "Sandbox"
# What a Fargate container holds unless told otherwise (Docker's default set).
FARGATE_DEFAULT_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


def _sandbox(resources: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    found = of_type(resources, type_name)
    return {key: props for key, props in found.items() if key.startswith(SANDBOX)}


def _one(resources: dict[str, Any], type_name: str) -> tuple[str, dict[str, Any]]:
    (found,) = _sandbox(resources, type_name).items()
    return found


def _container(resources: dict[str, Any]) -> dict[str, Any]:
    (container,) = _one(resources, "AWS::ECS::TaskDefinition")[1]["ContainerDefinitions"]
    return container


def _environment(resources: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in _container(resources)["Environment"]}


def _executions_table(resources: dict[str, Any]) -> str:
    return env_ref(resources, wiring.EXECUTIONS.env)


def _execute_queue(resources: dict[str, Any]) -> str:
    return env_ref(resources, wiring.EXECUTE_QUEUE.env)


def _task_security_group(resources: dict[str, Any]) -> str:
    service = _one(resources, "AWS::ECS::Service")[1]
    (group,) = service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    return get_att_id(group)


# The task definition.


def test_the_task_is_an_arm64_fargate_task_sized_by_the_wiring(resources):
    _, task = _one(resources, "AWS::ECS::TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert task["RuntimePlatform"] == {
        "CpuArchitecture": "ARM64",
        "OperatingSystemFamily": "LINUX",
    }
    assert (task["Cpu"], task["Memory"]) == (str(SPEC.cpu), str(SPEC.memory_mb))


def test_the_container_has_a_read_only_root_and_a_scratch_volume(resources):
    _, task = _one(resources, "AWS::ECS::TaskDefinition")
    container = _container(resources)
    assert container["ReadonlyRootFilesystem"] is True
    assert "Privileged" not in container
    assert task["Volumes"] == [{"Name": "scratch"}]
    assert container["MountPoints"] == [
        {"ContainerPath": SPEC.scratch_path, "ReadOnly": False, "SourceVolume": "scratch"}
    ]
    assert container["LinuxParameters"]["InitProcessEnabled"] is True


def test_the_container_keeps_only_setuid_and_setgid(resources):
    container = _container(resources)
    # The uid switch of every run needs root: the capabilities, not the user, are the limit.
    assert container["User"] == "0:0"
    capabilities = container["LinuxParameters"]["Capabilities"]
    added = set(capabilities.get("Add", []))
    dropped = set(capabilities["Drop"])
    assert not added, "Fargate refuses to add any capability but SYS_PTRACE"
    assert (FARGATE_DEFAULT_CAPABILITIES - dropped) | added == {"SETUID", "SETGID"}
    # Named drops hold even if the default set ever grows.
    assert {"SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "NET_RAW", "KILL", "CHOWN"} <= dropped
    assert not dropped & {"SETUID", "SETGID"}


def test_the_container_runs_the_wiring_command(resources):
    container = _container(resources)
    assert container["EntryPoint"] == list(SPEC.command)
    assert "Command" not in container


def test_workers_get_time_to_finish_a_run_before_its_message_returns(resources):
    stop_timeout = _container(resources)["StopTimeout"]
    visibility = resources[_execute_queue(resources)]["Properties"]["VisibilityTimeout"]
    assert MAX_TIMEOUT_S < stop_timeout <= 120  # Fargate's most
    assert stop_timeout <= visibility


def test_the_container_environment_names_the_pool_resources(resources):
    env = _environment(resources)
    assert env[wiring.EXECUTIONS.env] == {"Ref": _executions_table(resources)}
    assert env[wiring.EXECUTE_QUEUE.env] == {"Ref": _execute_queue(resources)}
    assert env["AWS_REGION"] == {"Ref": "AWS::Region"}
    assert env["SANDBOX_ISOLATION"] == "plain"
    assert env["SANDBOX_SCRATCH_ROOT"] == SPEC.scratch_path
    assert env["POWERTOOLS_SERVICE_NAME"] == f"event-horizon-{SPEC.key}"
    assert not any("SECRET" in name or "TOKEN" in name for name in env)


def test_settings_load_from_the_container_environment(resources, monkeypatch):
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
    for name, value in _environment(resources).items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "from-cloudformation")
    Settings(_env_file=None)


def test_the_container_logs_to_a_group_with_retention(resources):
    options = _container(resources)["LogConfiguration"]
    assert options["LogDriver"] == "awslogs"
    group = resources[options["Options"]["awslogs-group"]["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] > 0


# The roles.


def test_the_task_role_reaches_only_the_executions_table_and_execute_queue(resources):
    _, task = _one(resources, "AWS::ECS::TaskDefinition")
    statements = policy_statements(resources, get_att_id(task["TaskRoleArn"]))
    table, queue = _executions_table(resources), _execute_queue(resources)
    reached: set[str] = set()
    for statement in statements:
        actions = as_list(statement["Action"])
        assert all(a.startswith(("dynamodb:", "sqs:")) for a in actions), actions
        assert not any("*" in a for a in actions), actions
        assert "*" not in as_list(statement["Resource"])
        ids = referenced_ids(statement["Resource"])
        assert ids in ({table}, {queue}), statement
        assert all(a.startswith("dynamodb:") for a in actions) == (ids == {table})
        reached |= ids
    assert reached == {table, queue}
    queue_actions = {
        a
        for s in statements
        if referenced_ids(s["Resource"]) == {queue}
        for a in as_list(s["Action"])
    }
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= queue_actions
    assert "sqs:SendMessage" not in queue_actions


def test_the_execution_role_only_pulls_the_image_and_writes_logs(resources):
    _, task = _one(resources, "AWS::ECS::TaskDefinition")
    statements = policy_statements(resources, get_att_id(task["ExecutionRoleArn"]))
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions <= {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert "ecr:BatchGetImage" in actions and "logs:PutLogEvents" in actions


# The network.


def test_the_service_runs_in_isolated_subnets_without_public_ip(resources):
    _, service = _one(resources, "AWS::ECS::Service")
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert service["LaunchType"] == "FARGATE"
    assert network["AssignPublicIp"] == "DISABLED"
    assert service["EnableExecuteCommand"] is False
    subnets = {ref["Ref"] for ref in network["Subnets"]}
    assert subnets == set(_sandbox(resources, "AWS::EC2::Subnet"))
    assert len(subnets) == 2
    vpc_id, _ = _one(resources, "AWS::EC2::VPC")
    route_tables = {
        props["RouteTableId"]["Ref"]
        for props in of_type(resources, "AWS::EC2::SubnetRouteTableAssociation").values()
        if props["SubnetId"]["Ref"] in subnets
    }
    # No route but the local one: nothing leads out of the VPC except the endpoints.
    routes = of_type(resources, "AWS::EC2::Route").values()
    assert not [r for r in routes if r["RouteTableId"]["Ref"] in route_tables]
    gateways = of_type(resources, "AWS::EC2::VPCGatewayAttachment").values()
    assert not [g for g in gateways if g["VpcId"] == {"Ref": vpc_id}]
    assert of_type(resources, "AWS::EC2::NatGateway") == {}
    for subnet in subnets:
        assert resources[subnet]["Properties"]["MapPublicIpOnLaunch"] is False
    (flow_log,) = _sandbox(resources, "AWS::EC2::FlowLog").values()
    assert flow_log["ResourceId"] == {"Ref": vpc_id}
    assert flow_log["TrafficType"] == "ALL"


def test_the_cluster_is_the_pools_own_with_container_insights(resources):
    cluster_id, cluster = _one(resources, "AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]
    assert _one(resources, "AWS::ECS::Service")[1]["Cluster"] == {"Ref": cluster_id}


def test_deployments_keep_the_pool_warm_and_roll_back_broken_images(resources):
    _, service = _one(resources, "AWS::ECS::Service")
    deployment = service["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert deployment["MinimumHealthyPercent"] == 100
    assert service["DesiredCount"] == sandbox.DEFAULT_MIN_WORKERS
    # Tasks pull their image and send logs through the endpoints: those come first.
    endpoints = set(_sandbox(resources, "AWS::EC2::VPCEndpoint"))
    service_id, _ = _one(resources, "AWS::ECS::Service")
    assert endpoints <= set(resources[service_id]["DependsOn"])


def _egress_rules(resources: dict[str, Any], group_id: str) -> list[dict[str, Any]]:
    rules = list(resources[group_id]["Properties"].get("SecurityGroupEgress", []))
    for props in of_type(resources, "AWS::EC2::SecurityGroupEgress").values():
        if get_att_id(props["GroupId"]) == group_id:
            rules.append(props)
    return rules


def test_the_task_security_group_admits_nothing_and_speaks_https_to_endpoints_only(resources):
    group_id = _task_security_group(resources)
    assert "SecurityGroupIngress" not in resources[group_id]["Properties"]
    for props in of_type(resources, "AWS::EC2::SecurityGroupIngress").values():
        assert get_att_id(props["GroupId"]) != group_id
    rules = _egress_rules(resources, group_id)
    (endpoint_group,) = {
        get_att_id(r["DestinationSecurityGroupId"])
        for r in rules
        if "DestinationSecurityGroupId" in r
    }
    prefix_lists = {
        get_att_id(r["DestinationPrefixListId"]) for r in rules if "DestinationPrefixListId" in r
    }
    assert len(prefix_lists) == 2  # S3 and DynamoDB
    for rule in rules:
        assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, rule
    # The endpoints' group admits HTTPS from the tasks and sends nothing.
    endpoint_props = resources[endpoint_group]["Properties"]
    (ingress,) = endpoint_props["SecurityGroupIngress"]
    assert get_att_id(ingress["SourceSecurityGroupId"]) == group_id
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)
    (egress,) = endpoint_props["SecurityGroupEgress"]
    assert egress["CidrIp"] == "255.255.255.255/32"


def _endpoints(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Service suffix ("sqs", "ecr.api", ...) → the endpoint's properties."""
    found = {}
    for props in _sandbox(resources, "AWS::EC2::VPCEndpoint").values():
        parts = props["ServiceName"]["Fn::Join"][1]
        found[parts[-1].lstrip(".")] = props
    return found


def test_the_endpoints_cover_what_a_worker_needs(resources):
    endpoints = _endpoints(resources)
    assert set(endpoints) == {"s3", "dynamodb", "sqs", "ecr.api", "ecr.dkr", "logs"}
    subnets = {
        ref["Ref"]
        for ref in _one(resources, "AWS::ECS::Service")[1]["NetworkConfiguration"][
            "AwsvpcConfiguration"
        ]["Subnets"]
    }
    for name in ("s3", "dynamodb"):
        assert endpoints[name]["VpcEndpointType"] == "Gateway"
        assert endpoints[name]["RouteTableIds"]
    for name in ("sqs", "ecr.api", "ecr.dkr", "logs"):
        endpoint = endpoints[name]
        assert endpoint["VpcEndpointType"] == "Interface"
        assert endpoint["PrivateDnsEnabled"] is True
        assert {ref["Ref"] for ref in endpoint["SubnetIds"]} == subnets


def test_the_data_endpoints_lead_only_to_the_pools_table_queue_and_image_layers(resources):
    endpoints = _endpoints(resources)
    table, queue = _executions_table(resources), _execute_queue(resources)

    def reached(name: str) -> set[str]:
        statements = endpoints[name]["PolicyDocument"]["Statement"]
        assert all(s["Effect"] == "Allow" for s in statements)
        return set().union(*(referenced_ids(s["Resource"]) for s in statements))

    assert reached("dynamodb") == {table}
    assert reached("sqs") == {queue}
    (layers,) = endpoints["s3"]["PolicyDocument"]["Statement"]
    assert layers["Action"] == "s3:GetObject"
    assert "starport-layer-bucket" in json.dumps(layers["Resource"])


# Scaling and alarms.


def _alarms_on(resources: dict[str, Any], metric_name: str) -> list[dict[str, Any]]:
    queue = _execute_queue(resources)
    found = []
    for props in of_type(resources, "AWS::CloudWatch::Alarm").values():
        stats = [props] + [
            m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m
        ]
        for stat in stats:
            dimensions = stat.get("Dimensions", [])
            if stat.get("MetricName") == metric_name and dimensions == [
                {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
            ]:
                found.append(props)
    return found


def _policy(resources: dict[str, Any], alarm: dict[str, Any]) -> dict[str, Any]:
    (action,) = alarm["AlarmActions"]
    policy = resources[action["Ref"]]
    assert policy["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
    return policy["Properties"]


def test_the_pool_scales_between_min_and_max_on_the_service(resources):
    target_id, target = _one(resources, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        sandbox.DEFAULT_MIN_WORKERS,
        sandbox.DEFAULT_MAX_WORKERS,
    )
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    service_id, _ = _one(resources, "AWS::ECS::Service")
    cluster_id, _ = _one(resources, "AWS::ECS::Cluster")
    assert referenced_ids(target["ResourceId"]) == {service_id, cluster_id}
    for props in _sandbox(resources, "AWS::ApplicationAutoScaling::ScalingPolicy").values():
        assert props["ScalingTargetId"] == {"Ref": target_id}


def test_a_backlog_in_the_execute_queue_adds_workers(resources):
    (alarm,) = [
        a
        for a in _alarms_on(resources, "ApproximateNumberOfMessagesVisible")
        if a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    ]
    assert alarm["Threshold"] == 1  # one waiting execution: every warm worker is busy
    assert alarm["EvaluationPeriods"] == 1
    policy = _policy(resources, alarm)
    steps = policy["StepScalingPolicyConfiguration"]
    assert steps["AdjustmentType"] == "ChangeInCapacity"
    changes = [step["ScalingAdjustment"] for step in steps["StepAdjustments"]]
    assert changes == sorted(changes) and changes[0] > 0  # more backlog, more workers


def test_an_idle_queue_brings_the_pool_back_to_its_minimum(resources):
    (alarm,) = [
        a
        for a in _alarms_on(resources, "ApproximateNumberOfMessagesNotVisible")
        if a["ComparisonOperator"] == "LessThanOrEqualToThreshold"
    ]
    # Nothing waiting and nothing running, for several minutes.
    assert alarm["Threshold"] == 0
    assert alarm["EvaluationPeriods"] >= 3
    assert alarm["TreatMissingData"] == "breaching"  # a queue without traffic is idle
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}
    (step,) = _policy(resources, alarm)["StepScalingPolicyConfiguration"]["StepAdjustments"]
    assert step["ScalingAdjustment"] <= -sandbox.DEFAULT_MAX_WORKERS  # down to the minimum


def test_a_starved_queue_raises_an_alarm(resources):
    (alarm,) = _alarms_on(resources, "ApproximateAgeOfOldestMessage")
    assert alarm["Threshold"] == sandbox.STARVED_AFTER.to_seconds()
    [topic] = alarm["AlarmActions"]
    assert resources[topic["Ref"]]["Type"] == "AWS::SNS::Topic"


def test_the_execute_queue_has_a_dead_letter_alarm(resources):
    queue = resources[_execute_queue(resources)]["Properties"]
    dlq = get_att_id(queue["RedrivePolicy"]["deadLetterTargetArn"])
    dimensions = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    assert [a for a in alarms if a.get("Dimensions") == dimensions]


# cdk-nag.


def test_the_pool_passes_cdk_nag_with_reasoned_acknowledgments(nag_assembly):  # noqa: F811
    from infra.names import STACK_ID

    report = json.loads((nag_assembly / "validation-report.json").read_text())
    violations = [v for p in report.get("pluginReports", []) for v in p.get("violations", [])]
    assert violations == []
    template = json.loads((nag_assembly / f"{STACK_ID}.template.json").read_text())
    acknowledged = {
        rule["id"]
        for logical_id, resource in template["Resources"].items()
        if logical_id.startswith(SANDBOX)
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    # Only what Fargate and the prefix-list lookup cannot avoid.
    assert acknowledged == {"AwsSolutions-ECS2", "AwsSolutions-IAM5[Resource::*]"}


# The construct on its own: pool sizes from the context, validation.


def _pool_template(context: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    app = cdk.App(context=context)
    stack = cdk.Stack(app, "Pool")
    table = dynamodb.Table(
        stack,
        "Executions",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
    )
    queue = sqs.Queue(stack, "Execute")
    resources = Resources(
        tables={"executions": table}, buckets={}, queues={"execute": queue}, websocket=None
    )
    SandboxWorkers(stack, "Sandbox", spec=SPEC, resources=resources, **kwargs)
    return Template.from_stack(stack).to_json()["Resources"]


def test_the_pool_size_comes_from_the_context():
    resources = _pool_template({sandbox.MIN_WORKERS_CONTEXT: "3", sandbox.MAX_WORKERS_CONTEXT: 7})
    (target,) = of_type(resources, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 7)
    (service,) = of_type(resources, "AWS::ECS::Service").values()
    assert service["DesiredCount"] == 3


def test_construct_properties_win_over_the_context():
    resources = _pool_template({sandbox.MIN_WORKERS_CONTEXT: 3}, min_workers=1, max_workers=4)
    (target,) = of_type(resources, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)


@pytest.mark.parametrize(("minimum", "maximum"), [(0, 5), (6, 5)])
def test_inconsistent_pool_sizes_are_refused(minimum, maximum):
    with pytest.raises(ValueError, match="min"):
        _pool_template({}, min_workers=minimum, max_workers=maximum)
