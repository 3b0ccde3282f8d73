"""cdk-nag's AWS Solutions rules (v3, a CDK policy-validation plugin) pass on the stack.

With cdk-nag v3 an unacknowledged finding fails `synth()` with a validation report; every
acknowledgment is copied into the template metadata, where its reason can be checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_s3 as s3

from infra import names
from infra.context import load_context
from infra.stack import EventHorizonStack


def _checked_app(outdir: Path) -> cdk.App:
    app = cdk.App(context=load_context(), outdir=str(outdir))
    cdk.Validations.of(app).add_plugins(
        cdk_nag.AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
    return app


@pytest.fixture(scope="module")
def nag_assembly(deps_layer_dir, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("nag-out")
    app = _checked_app(outdir)
    EventHorizonStack(app, names.STACK_ID, deps_layer_dir=deps_layer_dir)
    app.synth()  # raises on any unacknowledged AwsSolutions error
    return outdir


def test_no_unacknowledged_findings(nag_assembly):
    report = json.loads((nag_assembly / "validation-report.json").read_text())
    violations = [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    assert violations == []


def test_every_acknowledgment_gives_a_reason(nag_assembly):
    template = json.loads((nag_assembly / f"{names.STACK_ID}.template.json").read_text())
    suppressions = [
        rule
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert suppressions  # the stack does acknowledge a few findings
    for rule in suppressions:
        assert rule["id"].startswith("AwsSolutions-")
        assert len(rule["reason"].strip()) >= 10, rule


def test_the_checks_do_fail_a_non_compliant_stack(tmp_path):
    """The plugin is live: a bucket without TLS enforcement or logging fails synth."""
    app = _checked_app(tmp_path)
    stack = cdk.Stack(app, "NonCompliant")
    s3.Bucket(stack, "Careless")
    with pytest.raises(RuntimeError, match=r"AwsSolutions-S10"):
        app.synth()
