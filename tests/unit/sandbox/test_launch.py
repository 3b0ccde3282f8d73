"""The server's command line and environment, as the client builds them."""

from __future__ import annotations

import sys

from sandbox_task import launch
from sandbox_task.launch import server_command, server_environment
from sandbox_task.preparation import THREAD_VARIABLES


def test_the_environment_is_built_from_nothing(monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("ECS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x")

    environment = server_environment()

    assert set(environment) == {
        "PATH",
        "LANG",
        "LC_ALL",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        *THREAD_VARIABLES,
    }
    assert {environment[name] for name in THREAD_VARIABLES} == {"1"}


def test_plain_mode_runs_the_server_directly() -> None:
    argv = server_command(
        python="/py", control_fd=7, scratch_root="/s", uid_base=100_000, slots=4, bwrap=None
    )

    assert argv == [
        "/py",
        "-P",
        "-s",
        "-m",
        "sandbox_task.server",
        "--control-fd",
        "7",
        "--scratch-root",
        "/s",
        "--uid-base",
        "100000",
        "--slots",
        "4",
    ]


def test_namespaces_mode_makes_the_scratch_roots_parents_searchable_in_the_private_tmp(
    monkeypatch,
) -> None:
    # Wherever this checkout lives (a clone below /tmp adds binds of its own, tested below).
    monkeypatch.setattr(launch, "_kept_under_private_mounts", list)
    argv = server_command(
        python="/py", control_fd=7, scratch_root="/tmp/a/b/s", uid_base=1, slots=1, bwrap="/bw"
    )

    bind = argv.index("--bind")
    assert argv[0] == "/bw"
    assert argv[argv.index("--tmpfs") + 1] == "/tmp"
    assert argv[bind - 8 : bind + 3] == [
        "--perms",
        "0755",
        "--dir",
        "/tmp/a",
        "--perms",
        "0755",
        "--dir",
        "/tmp/a/b",
        "--bind",
        "/tmp/a/b/s",
        "/tmp/a/b/s",
    ]
    assert argv[argv.index("--cap-drop") : argv.index("--cap-drop") + 6] == [
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CAP_SETUID",
        "--cap-add",
        "CAP_SETGID",
    ]
    assert argv[-1] == "--namespaces"


def test_a_checkout_and_interpreter_under_tmp_stay_visible_in_namespaces_mode(monkeypatch) -> None:
    # A CI runner may clone below /tmp, which bwrap replaces with a private tmpfs.
    monkeypatch.setattr(launch, "_import_roots", lambda: ["/tmp/ci/repo", "/tmp/ci/repo/lib"])
    monkeypatch.setattr(sys, "prefix", "/tmp/ci/repo/.venv")
    monkeypatch.setattr(sys, "exec_prefix", "/tmp/ci/repo/.venv")
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    argv = launch.bwrap_prefix("/usr/bin/bwrap", "/var/scratch")
    binds = [argv[i + 1] for i, option in enumerate(argv) if option == "--ro-bind"]
    assert binds == ["/", "/tmp/ci/repo"]  # the outermost path under /tmp, read-only
    assert argv.index("--tmpfs") < argv.index("/tmp/ci/repo")  # bound after the tmpfs
    assert argv[argv.index("/tmp/ci") - 3 : argv.index("/tmp/ci") + 1] == [
        "--perms",
        "0755",
        "--dir",
        "/tmp/ci",
    ]
