"""Fixtures of the infra suite: one synthesized template shared by all its tests.

jsii starts a Node.js process and synthesis takes seconds, so the stack is synthesized once per
session. The dependencies layer is a temporary folder with an empty `python/`: synth never
runs pip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# jsii prints a banner about the Node.js version on every start; it says nothing about the
# project. END_OF_LIFE takes the major versions to silence. Set before jsii starts.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")


@pytest.fixture(scope="session")
def deps_layer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layer = tmp_path_factory.mktemp("deps-layer")
    (layer / "python").mkdir()
    return layer


@pytest.fixture(scope="session")
def synthesized(deps_layer_dir: Path) -> tuple[Any, Any]:
    """The stack and its template, synthesized once (without cdk-nag, see test_nag)."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra import names
    from infra.context import load_context
    from infra.stack import EventHorizonStack

    app = cdk.App(context=load_context())
    stack = EventHorizonStack(app, names.STACK_ID, deps_layer_dir=deps_layer_dir)
    return stack, Template.from_stack(stack)


@pytest.fixture(scope="session")
def template(synthesized: tuple[Any, Any]) -> Any:
    return synthesized[1]


@pytest.fixture(scope="session")
def resources(template: Any) -> dict[str, dict[str, Any]]:
    """Logical id → resource of the synthesized template."""
    return template.to_json()["Resources"]
