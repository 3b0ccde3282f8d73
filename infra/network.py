"""Networks of the Fargate tasks, written with L1 constructs (see `infra.agent.PublicNetwork`).

`IsolatedNetwork` has no way out of the VPC at all: private subnets whose only route is the
local one, no internet gateway, no NAT. The AWS services its tasks need are reached through
VPC endpoints, and its tasks' security group lets them speak HTTPS to those endpoints only.
`add_flow_logs` is shared with the agent's public network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from aws_cdk import Aws, Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import names

HTTPS = 443
# Gateway endpoints are routes to the services' public ranges (their managed prefix lists);
# S3 also carries the image layers ECR serves.
GATEWAY_SERVICES = ("s3", "dynamodb")
# What a Fargate task needs without internet: the queue, the image (ECR API and registry)
# and its logs.
INTERFACE_SERVICES = ("sqs", "ecr.api", "ecr.dkr", "logs")
# The rule the L2 SecurityGroup writes for "no egress": a security group created without any
# egress rule would get CloudFormation's default allow-all rule instead.
NO_EGRESS = ec2.CfnSecurityGroup.EgressProperty(
    ip_protocol="icmp",
    cidr_ip="255.255.255.255/32",
    from_port=252,
    to_port=86,
    description="Disallow all traffic",
)


def add_flow_logs(scope: Construct, vpc: ec2.CfnVPC, description: str) -> ec2.CfnFlowLog:
    """Record all of `vpc`'s traffic in a log group with the platform's retention.

    Args:
        scope: where the log group, its writer role and the flow log are created.
        vpc: the VPC to watch.
        description: the writer role's description.

    Returns:
        The flow log.
    """
    flow_logs = logs.LogGroup(scope, "FlowLogs", retention=names.LOG_RETENTION)
    flow_role = iam.Role(
        scope,
        "FlowLogsRole",
        assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com"),
        description=description,
    )
    flow_logs.grant_write(flow_role)
    return ec2.CfnFlowLog(
        scope,
        "FlowLog",
        resource_id=vpc.ref,
        resource_type="VPC",
        traffic_type="ALL",
        log_destination_type="cloud-watch-logs",
        log_group_name=flow_logs.log_group_name,
        deliver_logs_permission_arn=flow_role.role_arn,
    )


class IsolatedNetwork(Construct):
    """A VPC without internet: isolated subnets, VPC endpoints, flow logs, the tasks' group.

    The tasks' security group has no inbound rule and sends HTTPS only to the interface
    endpoints' security group and to the gateway services' managed prefix lists, whose ids
    are looked up at deploy time (CloudFormation exposes them nowhere else).

    Attributes:
        vpc, subnets, route_table: the network.
        security_group: for the tasks.
        endpoint_security_group: for the interface endpoints (HTTPS from the tasks only).
        endpoints: service name ("sqs", "s3", ...) → its VPC endpoint.
        prefix_lists: gateway service name → the id of its managed prefix list.
        prefix_list_lookups: the deploy-time lookups of those ids (custom resources).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        purpose: str,
        zones: int = 2,
        endpoint_policies: Mapping[str, iam.PolicyDocument] | None = None,
    ) -> None:
        """Create the network.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            cidr: the VPC's range; each zone gets the next /24 of it.
            purpose: who uses it, for descriptions ("Sandbox workers").
            zones: how many availability zones (and subnets).
            endpoint_policies: service name → the policy of its endpoint, to narrow what
                can be reached through it (default: the endpoint's full-access policy).
        """
        super().__init__(scope, construct_id)
        policies = dict(endpoint_policies or {})
        self.vpc = ec2.CfnVPC(
            self, "Vpc", cidr_block=cidr, enable_dns_hostnames=True, enable_dns_support=True
        )
        # Private DNS of interface endpoints needs both DNS attributes above.
        self.route_table = ec2.CfnRouteTable(self, "Routes", vpc_id=self.vpc.ref)
        ranges = ipaddress.ip_network(cidr).subnets(new_prefix=24)
        self.subnets: list[ec2.CfnSubnet] = []
        for index, subnet_range in zip(range(zones), ranges, strict=False):
            subnet = ec2.CfnSubnet(
                self,
                f"Isolated{index + 1}",
                vpc_id=self.vpc.ref,
                cidr_block=str(subnet_range),
                availability_zone=Fn.select(index, Fn.get_azs()),
                map_public_ip_on_launch=False,
            )
            ec2.CfnSubnetRouteTableAssociation(
                self,
                f"Isolated{index + 1}Routes",
                subnet_id=subnet.ref,
                route_table_id=self.route_table.ref,
            )
            self.subnets.append(subnet)
        add_flow_logs(self, self.vpc, f"Writes the {purpose} VPC's flow logs")
        self.prefix_list_lookups: list[cr.AwsCustomResource] = []
        self.prefix_lists = {
            service: self._managed_prefix_list(service) for service in GATEWAY_SERVICES
        }
        self.security_group = ec2.CfnSecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc_id=self.vpc.ref,
            group_description=f"{purpose}: no inbound, HTTPS to the VPC endpoints only",
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="tcp",
                    from_port=HTTPS,
                    to_port=HTTPS,
                    destination_prefix_list_id=prefix_list,
                    description=f"{service} through its gateway endpoint",
                )
                for service, prefix_list in self.prefix_lists.items()
            ],
        )
        self.endpoint_security_group = ec2.CfnSecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc_id=self.vpc.ref,
            group_description=f"{purpose}: interface endpoints, HTTPS from the tasks only",
            security_group_ingress=[
                ec2.CfnSecurityGroup.IngressProperty(
                    ip_protocol="tcp",
                    from_port=HTTPS,
                    to_port=HTTPS,
                    source_security_group_id=self.security_group.attr_group_id,
                    description="HTTPS from the tasks",
                )
            ],
            security_group_egress=[NO_EGRESS],
        )
        # A rule of its own: inline, the two groups would refer to each other.
        ec2.CfnSecurityGroupEgress(
            self,
            "TaskToEndpoints",
            group_id=self.security_group.attr_group_id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            destination_security_group_id=self.endpoint_security_group.attr_group_id,
            description="AWS services through the interface endpoints",
        )
        self.endpoints: dict[str, ec2.CfnVPCEndpoint] = {}
        for service in GATEWAY_SERVICES:
            self.endpoints[service] = ec2.CfnVPCEndpoint(
                self,
                f"{_pascal(service)}Endpoint",
                vpc_id=self.vpc.ref,
                service_name=_service_name(service),
                vpc_endpoint_type="Gateway",
                route_table_ids=[self.route_table.ref],
                policy_document=policies.get(service),
            )
        for service in INTERFACE_SERVICES:
            self.endpoints[service] = ec2.CfnVPCEndpoint(
                self,
                f"{_pascal(service)}Endpoint",
                vpc_id=self.vpc.ref,
                service_name=_service_name(service),
                vpc_endpoint_type="Interface",
                subnet_ids=[subnet.ref for subnet in self.subnets],
                security_group_ids=[self.endpoint_security_group.attr_group_id],
                private_dns_enabled=True,
                policy_document=policies.get(service),
            )

    @property
    def subnet_ids(self) -> list[str]:
        """The subnets' ids."""
        return [subnet.ref for subnet in self.subnets]

    def _managed_prefix_list(self, service: str) -> str:
        """Return the id of the region's managed prefix list of `service`, read at deploy."""
        name = _service_name(service)
        call = cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [name]}]},
            physical_resource_id=cr.PhysicalResourceId.from_response("PrefixLists.0.PrefixListId"),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        lookup = cr.AwsCustomResource(
            self,
            f"{_pascal(service)}PrefixList",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(
                resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE
            ),
            install_latest_aws_sdk=False,
        )
        self.prefix_list_lookups.append(lookup)
        return lookup.get_response_field("PrefixLists.0.PrefixListId")


def endpoint_policy(statements: Iterable[iam.PolicyStatement]) -> iam.PolicyDocument:
    """Return an endpoint policy allowing only `statements` (to any principal)."""
    document = iam.PolicyDocument()
    for statement in statements:
        statement.add_any_principal()
        document.add_statements(statement)
    return document


def _service_name(service: str) -> str:
    return f"com.amazonaws.{Aws.REGION}.{service}"


def _pascal(service: str) -> str:
    return "".join(part.capitalize() for part in service.replace(".", "_").split("_"))
