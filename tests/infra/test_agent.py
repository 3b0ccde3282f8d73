"""Agent tasks on Fargate: the task definition's lockdown, the task role, the launch grant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from horizon import wiring
from tests.infra.lookup import (
    environment,
    functions,
    get_att_id,
    of_type,
    policy_statements,
    referenced_ids,
)

ROOT = Path(__file__).resolve().parents[2]
# The construct id of the agent's resources in the stack: their logical ids start with it (the
# sandbox's pool has a network, cluster and task definition of its own).
AGENT = "Agent"


def _agent(resources: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    found = of_type(resources, type_name)
    return {
        logical_id: props for logical_id, props in found.items() if logical_id.startswith(AGENT)
    }


def _task_definition(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = _agent(resources, "AWS::ECS::TaskDefinition").items()
    return found


def _table_id(resources: dict[str, Any], key: str) -> str:
    env = next(spec.env for spec in wiring.TABLES if spec.key == key)
    (container,) = _task_definition(resources)[1]["ContainerDefinitions"]
    value = next(item["Value"] for item in container["Environment"] if item["Name"] == env)
    return value["Ref"]


def test_the_container_is_locked_down(resources: dict[str, Any]) -> None:
    _, task = _task_definition(resources)
    spec = wiring.AGENT_TASK
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert (task["Cpu"], task["Memory"]) == (str(spec.cpu), str(spec.memory_mb))
    (container,) = task["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True
    assert container["User"] == "10001:10001"
    assert "Privileged" not in container and "LinuxParameters" not in container
    assert task["Volumes"] == [{"Name": "scratch"}]
    assert container["MountPoints"] == [
        {"ContainerPath": spec.scratch_path, "ReadOnly": False, "SourceVolume": "scratch"}
    ]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"


def test_the_container_gets_every_variable_the_settings_require(resources: dict[str, Any]) -> None:
    (container,) = _task_definition(resources)[1]["ContainerDefinitions"]
    names = {item["Name"] for item in container["Environment"]}
    required = {spec.env for spec in (*wiring.TABLES, *wiring.QUEUES, *wiring.BUCKETS)}
    assert required | {"WEBSOCKET_CALLBACK_URL", "AGENT_SCRATCH_ROOT"} <= names
    assert not any("SECRET" in name or "TOKEN" in name for name in names)


def test_the_image_runs_the_wiring_entry_point_as_non_root() -> None:
    dockerfile = (ROOT / "agent_task" / "Dockerfile").read_text()
    command = ", ".join(f'"{part}"' for part in wiring.AGENT_TASK.command)
    assert f"ENTRYPOINT [{command}]" in dockerfile
    assert "USER 10001:10001" in dockerfile


def test_the_task_role_touches_only_its_tables_and_connections(
    resources: dict[str, Any],
) -> None:
    _, task = _task_definition(resources)
    role_id = get_att_id(task["TaskRoleArn"])
    statements = policy_statements(resources, role_id)
    tables = {_table_id(resources, "tasks"), _table_id(resources, "connections")}
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all(a.startswith(("dynamodb:", "execute-api:ManageConnections")) for a in actions)
        assert not any(
            "*" in a or a in ("dynamodb:Scan", "dynamodb:BatchWriteItem") for a in actions
        )
        if actions[0].startswith("dynamodb:"):
            assert referenced_ids(statement["Resource"]) <= tables
            assert "dynamodb:LeadingKeys" in statement["Condition"]["ForAllValues:StringLike"]
    assert any("execute-api:ManageConnections" in str(s["Action"]) for s in statements)


def test_the_websocket_function_may_launch_tasks_and_knows_how(
    resources: dict[str, Any],
) -> None:
    task_id, task = _task_definition(resources)
    env = environment(resources, wiring.WEBSOCKET_FUNCTION.key)
    assert env["TASK_LAUNCHER"] == "ecs"
    assert env["AGENT_TASK_DEFINITION_ARN"] == {"Ref": task_id}
    assert env["AGENT_CONTAINER_NAME"] == task["ContainerDefinitions"][0]["Name"]
    for name in ("AGENT_CLUSTER_ARN", "AGENT_SUBNETS", "AGENT_SECURITY_GROUPS"):
        assert referenced_ids(env[name]), name
    _, function = functions(resources)[wiring.WEBSOCKET_FUNCTION.key]
    statements = policy_statements(resources, get_att_id(function["Role"]))
    run = [s for s in statements if s["Action"] == "ecs:RunTask"]
    assert run and run[0]["Resource"] == {"Ref": task_id}
    passes = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert referenced_ids(passes[0]["Resource"]) == {
        get_att_id(task["TaskRoleArn"]),
        get_att_id(task["ExecutionRoleArn"]),
    }


def test_the_network_has_no_nat_no_inbound_and_flow_logs(resources: dict[str, Any]) -> None:
    assert of_type(resources, "AWS::EC2::NatGateway") == {}
    (group,) = _agent(resources, "AWS::EC2::SecurityGroup").values()
    assert "SecurityGroupIngress" not in group
    assert _agent(resources, "AWS::EC2::SecurityGroupIngress") == {}
    (flow_log,) = _agent(resources, "AWS::EC2::FlowLog").values()
    assert flow_log["TrafficType"] == "ALL"
    assert len(_agent(resources, "AWS::EC2::Subnet")) == 2
    (cluster,) = _agent(resources, "AWS::ECS::Cluster").values()
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]


def test_the_tasks_table_expires_its_items(resources: dict[str, Any]) -> None:
    table = resources[_table_id(resources, "tasks")]["Properties"]
    assert table["TimeToLiveSpecification"] == {
        "AttributeName": wiring.TASKS.ttl_attribute,
        "Enabled": True,
    }
