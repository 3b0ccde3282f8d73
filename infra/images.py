"""Container images of the Fargate tasks, built from the repository at deploy time.

Synth only fingerprints the files; Docker runs at `cdk deploy`. Each image's Dockerfile copies
its own folder, the `horizon` library and the pinned requirements, so only those go into the
build context.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs

ROOT = Path(__file__).resolve().parent.parent


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
