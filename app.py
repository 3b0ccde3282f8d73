"""The CDK app: `cdk synth` / `cdk deploy` (or `make synth` / `make deploy`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# horizon.wiring describes what the stack creates; it lives in the core layer's folder.
sys.path.insert(0, str(ROOT / "layers" / "core" / "python"))

import aws_cdk as cdk  # noqa: E402  # after the path is set
import cdk_nag  # noqa: E402

from infra import names  # noqa: E402
from infra.context import load_context  # noqa: E402
from infra.stack import EventHorizonStack  # noqa: E402


def main() -> None:
    """Synthesize the stack, checked by cdk-nag's AWS Solutions rules."""
    deps = ROOT / names.DEFAULT_DEPS_LAYER_DIR
    if not (deps / "python").is_dir():
        sys.exit(f"{deps} is missing: run `make deps-layer` first (or `make synth`).")
    # The CDK CLI says where to write (CDK_OUTDIR); `python app.py` writes to cdk.out.
    app = cdk.App(
        context=load_context(), outdir=os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out")
    )
    EventHorizonStack(
        app,
        names.STACK_ID,
        deps_layer_dir=deps,
        description="Event Horizon: serverless job platform (log ingestion)",
    )
    # cdk-nag v3 is a policy-validation plugin: synth fails on any unacknowledged finding.
    # Acknowledgments are copied into the template's metadata for auditors.
    cdk.Validations.of(app).add_plugins(
        cdk_nag.AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
    app.synth()


if __name__ == "__main__":
    main()
