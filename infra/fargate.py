"""Building blocks of the Fargate tasks (agent tasks, sandbox workers).

Images are built from the repository at deploy time: synth only fingerprints the files, Docker
runs at `cdk deploy`. Each image's Dockerfile copies its own folder, the `horizon` library and
the pinned requirements, so only those go into the build context. Every task is ARM64 with a
scratch volume (its ephemeral storage) where the read-only root file system has none.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from horizon import wiring

ROOT = Path(__file__).resolve().parent.parent
SCRATCH_VOLUME = "scratch"


def build_context(folder: str) -> list[str]:
    """Docker-style exclude patterns keeping `folder`, layers/core and the requirements."""
    return [
        "*",
        f"!{folder}",
        "!layers",
        "layers/*",
        "!layers/core",
        "!requirements.txt",
        "!constraints.txt",
        "**/__pycache__",
        "**/*.pyc",
    ]


def arm64_image(folder: str) -> ecs.ContainerImage:
    """The image of `folder`/Dockerfile for Fargate's ARM64 tasks."""
    return ecs.ContainerImage.from_asset(
        str(ROOT),
        file=f"{folder}/Dockerfile",
        exclude=build_context(folder),
        ignore_mode=IgnoreMode.DOCKER,
        platform=ecr_assets.Platform.LINUX_ARM64,
    )


def arm64_task_definition(
    scope: Construct, spec: wiring.TaskContainerSpec, task_role: iam.IRole
) -> ecs.FargateTaskDefinition:
    """An ARM64 Fargate task definition sized by `spec`, with the scratch volume."""
    return ecs.FargateTaskDefinition(
        scope,
        "TaskDefinition",
        cpu=spec.cpu,
        memory_limit_mib=spec.memory_mb,
        task_role=task_role,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=ecs.CpuArchitecture.ARM64,
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        ),
        volumes=[ecs.Volume(name=SCRATCH_VOLUME)],  # task ephemeral storage
    )


def mount_scratch(container: ecs.ContainerDefinition, spec: wiring.TaskContainerSpec) -> None:
    """Mount the scratch volume, writable, at `spec.scratch_path`."""
    container.add_mount_points(
        ecs.MountPoint(
            container_path=spec.scratch_path, source_volume=SCRATCH_VOLUME, read_only=False
        )
    )
