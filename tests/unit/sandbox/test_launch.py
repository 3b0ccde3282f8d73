"""The server's command line and environment, as the client builds them."""

from __future__ import annotations

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


def test_namespaces_mode_makes_the_scratch_roots_parents_searchable_in_the_private_tmp() -> None:
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
