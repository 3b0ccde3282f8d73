"""Agent tasks on Fargate: VPC (public subnets, no NAT), cluster, task definition, launch grant.

One task per agent task, started by the WebSocket function with `ecs:RunTask`
(`horizon.agent.launcher.EcsTaskLauncher`). The container (agent_task/Dockerfile) is built at
deploy time; synth only fingerprints its files.
"""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from horizon import wiring
from infra import names
from infra.fargate import arm64_image, arm64_task_definition, mount_scratch
from infra.functions import Resources
from infra.network import add_flow_logs

VPC_CIDR = "10.20.0.0/16"
USER = "10001:10001"


class PublicNetwork(Construct):
    """A VPC with public subnets in two zones, no NAT, flow logs, and the tasks' security group.

    Tasks need egress (git clone, downloads) and nothing may reach them, so public subnets
    with a public IP and a security group without inbound rules are enough; a NAT gateway
    would cost more and add nothing. Written with L1 constructs: the L2 `Vpc` reads
    `stack.availability_zones`, which adds cfn-lint suppressions to every resource.

    Attributes:
        vpc, subnets, security_group: the resources.
    """

    def __init__(self, scope: Construct, construct_id: str, zones: int = 2) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.CfnVPC(
            self, "Vpc", cidr_block=VPC_CIDR, enable_dns_hostnames=True, enable_dns_support=True
        )
        gateway = ec2.CfnInternetGateway(self, "Gateway")
        attachment = ec2.CfnVPCGatewayAttachment(
            self, "GatewayAttachment", vpc_id=self.vpc.ref, internet_gateway_id=gateway.ref
        )
        routes = ec2.CfnRouteTable(self, "Routes", vpc_id=self.vpc.ref)
        default_route = ec2.CfnRoute(
            self,
            "DefaultRoute",
            route_table_id=routes.ref,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.ref,
        )
        default_route.add_dependency(attachment)
        self.subnets: list[ec2.CfnSubnet] = []
        for index in range(zones):
            subnet = ec2.CfnSubnet(
                self,
                f"Public{index + 1}",
                vpc_id=self.vpc.ref,
                cidr_block=f"10.20.{index}.0/24",
                availability_zone=Fn.select(index, Fn.get_azs()),
                map_public_ip_on_launch=False,  # RunTask assigns the public IP
            )
            ec2.CfnSubnetRouteTableAssociation(
                self, f"Public{index + 1}Routes", subnet_id=subnet.ref, route_table_id=routes.ref
            )
            self.subnets.append(subnet)
        add_flow_logs(self, self.vpc, "Writes the agent VPC's flow logs")
        self.security_group = ec2.CfnSecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc_id=self.vpc.ref,
            group_description="Agent tasks: no inbound, egress for cloning and downloads",
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="-1", cidr_ip="0.0.0.0/0", description="git clone, downloads"
                )
            ],
        )


class AgentTasks(Construct):
    """The Fargate side of agent tasks.

    Attributes:
        network, cluster, task_definition, container: the resources.
        launch_environment: the variables a launching function needs (AGENT_* , TASK_LAUNCHER).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: wiring.TaskContainerSpec,
        resources: Resources,
    ) -> None:
        """Create network, cluster and task definition for `spec`, with the role's grants.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            spec: the task container (normally `wiring.AGENT_TASK`).
            resources: tables, queues and the WebSocket endpoint, with their variables.

        Raises:
            ValueError: the spec's access map names an unknown resource or access.
        """
        super().__init__(scope, construct_id)
        self.network = PublicNetwork(self, "Network")
        self.cluster = ecs.CfnCluster(
            self,
            "Cluster",
            cluster_settings=[
                ecs.CfnCluster.ClusterSettingsProperty(name="containerInsights", value="enabled")
            ],
        )
        task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Agent task: its task's messages and @connections, nothing else",
        )
        self.task_definition = arm64_task_definition(self, spec, task_role)
        log_group = logs.LogGroup(self, "TaskLogs", retention=names.LOG_RETENTION)
        self.container = self.task_definition.add_container(
            spec.key,
            container_name=spec.key,
            image=arm64_image("agent_task"),
            user=USER,
            readonly_root_filesystem=True,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=spec.key, log_group=log_group),
            environment={
                **resources.env,
                "AGENT_SCRATCH_ROOT": spec.scratch_path,
                "TMPDIR": spec.scratch_path,
                names.LOG_LEVEL_ENV: names.DEFAULT_LOG_LEVEL,
            },
        )
        mount_scratch(self.container, spec)
        for key, access in spec.access.items():
            _grant(task_role, resources, key, access)
        self.launch_environment = {
            "TASK_LAUNCHER": "ecs",
            "AGENT_CLUSTER_ARN": self.cluster.attr_arn,
            "AGENT_TASK_DEFINITION_ARN": self.task_definition.task_definition_arn,
            "AGENT_CONTAINER_NAME": spec.key,
            "AGENT_SUBNETS": Fn.join(",", [s.ref for s in self.network.subnets]),
            "AGENT_SECURITY_GROUPS": self.network.security_group.attr_group_id,
        }

    def allow_launch(self, function: lambda_.Function) -> None:
        """Let `function` start tasks of this definition (RunTask + PassRole) and tell it how."""
        self.task_definition.grant_run(function)
        for name, value in self.launch_environment.items():
            function.add_environment(name, value)


# What the task process does, and nothing more (see horizon.agent.store, .subscriptions and
# horizon.realtime.connections.drop_gone), with the partition keys it may touch.
TABLE_ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tasks": (
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"),
        ("TASK#*",),
    ),
    "connections": (
        ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
        ("CONN#*", "SUB#task#*"),
    ),
}


def _grant(role: iam.IRole, resources: Resources, key: str, access: wiring.Access) -> None:
    if key in resources.tables and key in TABLE_ACTIONS and access == "read_write":
        actions, leading_keys = TABLE_ACTIONS[key]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(actions),
                resources=[resources.tables[key].table_arn],
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(leading_keys)}
                },
            )
        )
    elif key == names.WEBSOCKET_RESOURCE and access == "manage_connections":
        resources.websocket.grant_manage_connections(role)
    else:
        raise ValueError(f"agent task: {key!r} cannot be granted {access!r}")
