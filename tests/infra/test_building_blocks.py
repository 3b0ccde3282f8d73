"""Small pieces of the CDK app that need no synthesis: bundling, event names, preconditions."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from infra import bundling
from infra.context import load_context
from infra.stack import EventHorizonStack
from infra.storage import event_type


def test_pip_installs_lambda_wheels_into_the_layer(tmp_path):
    target = tmp_path / "python"
    command = bundling.pip_command(target, Path("requirements.txt"), Path("constraints.txt"))
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    pairs = dict(itertools.pairwise(command))
    assert pairs["--platform"] == "manylinux2014_aarch64"
    assert pairs["--implementation"] == "cp"
    assert pairs["--python-version"] == "3.14"
    assert pairs["--target"] == str(target)
    assert pairs["-r"] == "requirements.txt"
    assert pairs["-c"] == "constraints.txt"
    assert "--only-binary=:all:" in command


def test_pip_command_without_constraints(tmp_path):
    command = bundling.pip_command(tmp_path, Path("requirements.txt"), None)
    assert "-c" not in command


def test_layer_build_replaces_the_python_folder_then_adds_the_fast_path(tmp_path, monkeypatch):
    stale = tmp_path / "python" / "stale_package"
    stale.mkdir(parents=True)
    calls = []
    monkeypatch.setattr(bundling.subprocess, "run", lambda cmd, check: calls.append(cmd))
    monkeypatch.setattr(bundling, "build_speedups", calls.append)
    target = bundling.build(tmp_path)
    assert target == tmp_path / "python"
    assert target.is_dir() and not stale.exists()
    # After pip: `pip install --upgrade --target` must not be the last to touch the folder.
    [command, speedups_target] = calls
    assert command[command.index("--target") + 1] == str(target)
    assert speedups_target == target


def test_fast_path_is_cross_compiled_for_lambda(tmp_path, monkeypatch):
    commands = []

    def compile_(cmd, check):
        commands.append(cmd)
        Path(cmd[cmd.index("-o") + 1]).write_bytes(b"\x7fELF")

    monkeypatch.setattr(bundling.subprocess, "run", compile_)
    built = bundling.build_speedups(tmp_path)
    assert built == tmp_path / "_horizon_speedups.abi3.so"
    assert built.read_bytes() == b"\x7fELF"
    [command] = commands
    assert command[1:4] == ["-m", "ziglang", "cc"]
    assert command[command.index("-target") + 1] == "aarch64-linux-gnu.2.17"


def test_bundling_main_reports_a_pip_failure(tmp_path, monkeypatch, capsys):
    def fail(cmd, check):
        raise bundling.subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(bundling.subprocess, "run", fail)
    monkeypatch.setattr(bundling, "build_speedups", lambda target: pytest.fail("pip failed"))
    assert bundling.main(["bundling", str(tmp_path)]) == 1
    assert "failed" in capsys.readouterr().err


def test_layer_build_fails_without_the_fast_path(tmp_path, monkeypatch, capsys):
    def pip_then_broken_compiler(cmd, check):
        if "ziglang" in cmd:
            raise bundling.subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(bundling.subprocess, "run", pip_then_broken_compiler)
    assert bundling.main(["bundling", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "building the dependencies layer failed" in error
    assert "fast path" in error and "aarch64-linux-gnu.2.17" in error
    # No half-built layer is left for a deploy to pick up.
    assert not (tmp_path / "python").exists()


@pytest.mark.parametrize(
    ("name", "member"),
    [
        ("s3:ObjectCreated:*", s3.EventType.OBJECT_CREATED),
        ("s3:ObjectCreated:Put", s3.EventType.OBJECT_CREATED_PUT),
        (
            "s3:ObjectCreated:CompleteMultipartUpload",
            s3.EventType.OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD,
        ),
        ("s3:ObjectRemoved:*", s3.EventType.OBJECT_REMOVED),
    ],
)
def test_s3_event_names_map_to_cdk_members(name, member):
    assert event_type(name) is member


def test_unknown_s3_event_is_refused():
    with pytest.raises(ValueError, match="unknown S3 event"):
        event_type("s3:ObjectTeleported:*")


def test_stack_refuses_a_missing_dependencies_layer(tmp_path):
    app = cdk.App(context=load_context())
    with pytest.raises(FileNotFoundError, match="make deps-layer"):
        EventHorizonStack(app, "Missing", deps_layer_dir=tmp_path)


def test_app_tells_how_to_build_a_missing_layer(tmp_path, monkeypatch):
    import app as cdk_app

    monkeypatch.setattr(cdk_app, "ROOT", tmp_path)
    with pytest.raises(SystemExit, match="make deps-layer"):
        cdk_app.main()


def test_cdk_json_runs_the_app_with_feature_flags():
    import json

    config = json.loads(Path("cdk.json").read_text())
    assert config["app"].endswith("app.py")
    assert config["context"]["@aws-cdk/aws-iam:minimizePolicies"] is True
    assert load_context() == config["context"]
