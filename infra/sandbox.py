"""The code-execution sandbox in AWS: a warm pool of single-use Fargate workers.

What it is: an ECS service whose tasks each start the fork server (pandas, numpy and scipy
already imported), wait on the execute queue, take ONE execution, store its result and exit;
the service then starts a replacement. Application Auto Scaling adds workers while executions
wait in the queue and goes back to the minimum once nothing waits or runs.

Why: every run gets a fresh microVM, so nothing a run leaves behind (files, processes, a
tampered interpreter) can meet the next one, and a run still starts at once, because an idle
worker is already waiting on the queue instead of a task being launched for it (tens of
seconds on Fargate).

Lockdown: a VPC without internet (`infra.network.IsolatedNetwork`) whose endpoints admit only
this pool's table, queue and image layers; a read-only root file system with a scratch
volume; every capability dropped but CAP_SETUID and CAP_SETGID; a task role that reaches only
what `wiring.SANDBOX_TASK.access` names. The container (sandbox_task/Dockerfile) is built at
deploy time; synth only fingerprints its files.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from horizon import wiring
from infra import names
from infra.fargate import arm64_image, arm64_task_definition, mount_scratch
from infra.functions import Resources
from infra.grants import grant_access
from infra.network import IsolatedNetwork, endpoint_policy

VPC_CIDR = "10.21.0.0/16"
# Fargate has no user namespaces and admits no seccomp profile of ours: the runner isolates
# runs with uids, rlimits and its own seccomp filter ("plain"), not with bubblewrap.
ISOLATION = "plain"
# The runner switches each run to an unprivileged uid of its own, so the worker starts as
# root; dropping the capabilities below leaves that root nothing but the switch itself.
USER = "0:0"
KEPT_CAPABILITIES = (ecs.Capability.SETUID, ecs.Capability.SETGID)
# Fargate refuses to add any capability but SYS_PTRACE, so "drop ALL, add SETUID and SETGID"
# cannot be registered. Dropping every other capability by name leaves the same set: the two
# kept ones, which the default set holds.
DROPPED_CAPABILITIES = tuple(
    capability
    for capability in ecs.Capability
    if capability not in (*KEPT_CAPABILITIES, ecs.Capability.ALL)
)
# On scale-in or a deployment ECS stops workers with SIGTERM, possibly in the middle of a run;
# Fargate waits at most 120 s before SIGKILL, which covers the longest run (60 s) and the
# result's write. A run cut anyway comes back through the queue's visibility timeout.
STOP_TIMEOUT = Duration.seconds(120)

# Pool size: context values (`cdk deploy -c sandbox:minWorkers=4`) or construct properties.
MIN_WORKERS_CONTEXT = "sandbox:minWorkers"
MAX_WORKERS_CONTEXT = "sandbox:maxWorkers"
DEFAULT_MIN_WORKERS = 2
DEFAULT_MAX_WORKERS = 20
# Executions waiting (not yet taken by a worker) → workers to add. Every idle worker takes one
# at once, so anything visible in the queue means the pool is too small right now.
SCALE_OUT_STEPS: tuple[tuple[int, int], ...] = ((1, 2), (10, 5), (50, 10))
# New tasks need about a minute to start and take work: no second step-up before that.
SCALE_OUT_COOLDOWN = Duration.minutes(2)
# Back to the minimum only after this many minutes with nothing waiting and nothing running:
# scaling in stops arbitrary workers, busy ones included.
SCALE_IN_AFTER_MINUTES = 5
# Executions waiting longer than this mean the pool is at its maximum or cannot start tasks.
STARVED_AFTER = Duration.minutes(5)
# Where ECR keeps image layers (read through the S3 gateway endpoint).
ECR_LAYERS = "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"


class SandboxWorkers(Construct):
    """The warm pool: isolated network, cluster, locked-down task definition, scaled service.

    The pool has a cluster of its own rather than the agent's: nothing else runs beside
    untrusted code, its Container Insights metrics describe the pool alone, and a policy or
    capacity setting meant for one of them cannot reach the other (a cluster costs nothing).

    Attributes:
        network, cluster, task_definition, container, service, scaling: the resources.
        queue: the queue the workers consume.
        backlog: executions waiting for a worker (the scale-out metric).
        oldest_waiting: age of the oldest waiting execution (for a starvation alarm).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: wiring.TaskContainerSpec,
        resources: Resources,
        min_workers: int | None = None,
        max_workers: int | None = None,
    ) -> None:
        """Create the pool for `spec`.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            spec: the worker container (normally `wiring.SANDBOX_TASK`); its access map must
                name exactly one queue to consume.
            resources: tables and queues, with their variables.
            min_workers: idle workers kept warm (default: the `sandbox:minWorkers` context
                value, else 2).
            max_workers: the most workers at once (default: `sandbox:maxWorkers`, else 20).

        Raises:
            ValueError: the access map names no queue to consume, or more than one; or an
                unknown resource or access; or the pool sizes are inconsistent.
        """
        super().__init__(scope, construct_id)
        self.queue = _consumed_queue(spec, resources)
        minimum = self._size(min_workers, MIN_WORKERS_CONTEXT, DEFAULT_MIN_WORKERS)
        maximum = self._size(max_workers, MAX_WORKERS_CONTEXT, DEFAULT_MAX_WORKERS)
        if not 1 <= minimum <= maximum:
            raise ValueError(f"sandbox pool: need 1 <= min ({minimum}) <= max ({maximum})")
        self.network = IsolatedNetwork(
            self,
            "Network",
            cidr=VPC_CIDR,
            purpose="Sandbox workers",
            endpoint_policies=_endpoint_policies(spec, resources),
        )
        self.cluster = ecs.CfnCluster(
            self,
            "Cluster",
            cluster_settings=[
                ecs.CfnCluster.ClusterSettingsProperty(name="containerInsights", value="enabled")
            ],
        )
        self.task_definition, self.container = self._task_definition(spec, resources)
        self.service = self._service(minimum)
        self.backlog = self.queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic="Maximum"
        )
        self.oldest_waiting = self.queue.metric_approximate_age_of_oldest_message(
            period=Duration.minutes(1), statistic="Maximum"
        )
        self.scaling = self._scaling(minimum, maximum)

    def _size(self, given: int | None, context_key: str, default: int) -> int:
        """Return the pool size given as a property, else from the context, else `default`."""
        if given is not None:
            return given
        value = self.node.try_get_context(context_key)
        return default if value is None else int(value)

    def _task_definition(
        self, spec: wiring.TaskContainerSpec, resources: Resources
    ) -> tuple[ecs.FargateTaskDefinition, ecs.ContainerDefinition]:
        task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Sandbox worker: its executions table and queue, nothing else",
        )
        for key, access in spec.access.items():
            grant_access(task_role, resources, key, access, owner=f"task {spec.key}")
        task_definition = arm64_task_definition(self, spec, task_role)
        linux = ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True)
        linux.drop_capabilities(*DROPPED_CAPABILITIES)
        log_group = logs.LogGroup(self, "TaskLogs", retention=names.LOG_RETENTION)
        container = task_definition.add_container(
            spec.key,
            container_name=spec.key,
            image=arm64_image("sandbox_task"),
            # The wiring's command, whatever the image's entry point: the same one the local
            # stack runs.
            entry_point=list(spec.command),
            user=USER,
            readonly_root_filesystem=True,
            linux_parameters=linux,
            stop_timeout=STOP_TIMEOUT,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=spec.key, log_group=log_group),
            environment={
                **resources.env,
                # The clients' region comes from the settings, whose default is not this one.
                "AWS_REGION": Aws.REGION,
                "SANDBOX_ISOLATION": ISOLATION,
                "SANDBOX_SCRATCH_ROOT": spec.scratch_path,
                "TMPDIR": spec.scratch_path,
                names.POWERTOOLS_SERVICE_ENV: f"{names.SERVICE_NAME}-{spec.key}",
                names.LOG_LEVEL_ENV: names.DEFAULT_LOG_LEVEL,
                names.METRICS_NAMESPACE_ENV: names.METRICS_NAMESPACE,
            },
        )
        mount_scratch(container, spec)
        return task_definition, container

    def _service(self, desired: int) -> ecs.CfnService:
        service = ecs.CfnService(
            self,
            "Service",
            cluster=self.cluster.ref,
            task_definition=self.task_definition.task_definition_arn,
            launch_type="FARGATE",
            platform_version="LATEST",
            desired_count=desired,
            enable_execute_command=False,  # nobody opens a shell next to untrusted code
            enable_ecs_managed_tags=True,
            propagate_tags="TASK_DEFINITION",
            network_configuration=ecs.CfnService.NetworkConfigurationProperty(
                awsvpc_configuration=ecs.CfnService.AwsVpcConfigurationProperty(
                    assign_public_ip="DISABLED",
                    subnets=self.network.subnet_ids,
                    security_groups=[self.network.security_group.attr_group_id],
                )
            ),
            # Workers exit by design after one execution, so "tasks stop" is normal here. The
            # circuit breaker judges whether tasks reach RUNNING (there is no health check),
            # which is what a broken image or a missing endpoint prevents; it then rolls the
            # deployment back. A deployment starts the new workers before it stops old ones
            # (100 %/200 %), so the pool never goes cold; the old ones finish their run first
            # (STOP_TIMEOUT).
            deployment_configuration=ecs.CfnService.DeploymentConfigurationProperty(
                minimum_healthy_percent=100,
                maximum_percent=200,
                deployment_circuit_breaker=ecs.CfnService.DeploymentCircuitBreakerProperty(
                    enable=True, rollback=True
                ),
            ),
        )
        # Tasks pull their image and write logs through the endpoints: they must exist first.
        service.node.add_dependency(self.network)
        return service

    def _scaling(self, minimum: int, maximum: int) -> appscaling.ScalableTarget:
        scaling = appscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=appscaling.ServiceNamespace.ECS,
            resource_id=Fn.join("/", ["service", self.cluster.ref, self.service.attr_name]),
            scalable_dimension="ecs:service:DesiredCount",
            min_capacity=minimum,
            max_capacity=maximum,
            # Application Auto Scaling's service-linked role for ECS, as the L2 service uses.
            role=iam.Role.from_role_arn(
                self,
                "ScalingRole",
                Stack.of(self).format_arn(
                    region="",
                    service="iam",
                    resource="role/aws-service-role/ecs.application-autoscaling.amazonaws.com",
                    resource_name="AWSServiceRoleForApplicationAutoScaling_ECSService",
                ),
            ),
        )
        first_step = SCALE_OUT_STEPS[0][0]
        scaling.scale_on_metric(
            "ScaleOutOnBacklog",
            metric=self.backlog,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            scaling_steps=[
                appscaling.ScalingInterval(upper=first_step, change=0),
                *(
                    appscaling.ScalingInterval(lower=waiting, change=added)
                    for waiting, added in SCALE_OUT_STEPS
                ),
            ],
            cooldown=SCALE_OUT_COOLDOWN,
        )
        unfinished = cloudwatch.MathExpression(
            expression="waiting + running",
            using_metrics={
                "waiting": self.backlog,
                "running": self.queue.metric_approximate_number_of_messages_not_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
            },
            period=Duration.minutes(1),
            label="Executions waiting or running",
        )
        # Removing `maximum` workers lands on the minimum: capacity never goes below it.
        scale_in = scaling.scale_on_metric(
            "ScaleInWhenIdle",
            metric=unfinished,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            scaling_steps=[
                appscaling.ScalingInterval(upper=0, change=-maximum),
                appscaling.ScalingInterval(lower=1, change=0),
            ],
            evaluation_periods=SCALE_IN_AFTER_MINUTES,
        )
        # A queue without traffic may report nothing at all: that is idle too.
        idle_alarm = scale_in.lower_alarm
        assert idle_alarm is not None
        alarm_resource = idle_alarm.node.default_child
        assert isinstance(alarm_resource, cloudwatch.CfnAlarm)
        alarm_resource.treat_missing_data = "breaching"
        return scaling


def _consumed_queue(spec: wiring.TaskContainerSpec, resources: Resources) -> sqs.Queue:
    consumed = [key for key, access in spec.access.items() if access == "consume"]
    if len(consumed) != 1 or consumed[0] not in resources.queues:
        raise ValueError(f"task {spec.key}: needs exactly one queue to consume, has {consumed}")
    return resources.queues[consumed[0]]


def _endpoint_policies(
    spec: wiring.TaskContainerSpec, resources: Resources
) -> dict[str, iam.PolicyDocument]:
    """Endpoints that lead only to this pool's data: stolen credentials of any account reach
    no other table, queue or bucket through them."""
    tables = [resources.tables[key] for key in spec.access if key in resources.tables]
    queues = [resources.queues[key] for key in spec.access if key in resources.queues]
    return {
        "s3": endpoint_policy(
            [iam.PolicyStatement(actions=["s3:GetObject"], resources=[Fn.sub(ECR_LAYERS)])]
        ),
        "dynamodb": endpoint_policy(
            [
                iam.PolicyStatement(
                    actions=["dynamodb:*"],
                    resources=[
                        arn for table in tables for arn in (table.table_arn, f"{table.table_arn}/*")
                    ],
                )
            ]
        ),
        "sqs": endpoint_policy(
            [iam.PolicyStatement(actions=["sqs:*"], resources=[q.queue_arn for q in queues])]
        ),
    }
