"""Hostile programs that look for credentials or try to talk to anything over the network.

Safe outcome: no run ever sees the fake AWS secrets the test process holds, opens a socket of
any family but AF_UNIX, reaches the metadata endpoints, a listener on 127.0.0.1 or a resolver.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

SCAN_PROC = """
import os
found = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as source:
                found.append(source.read())
        except OSError:
            pass
print(repr(b"\\n".join(found)))
"""


def assert_no_secret(result, fake_secrets):
    seen = result.stdout + result.stderr + (result.error or "")
    for value in fake_secrets.values:
        assert value not in seen


def test_the_environment_of_the_run_is_empty(runner, fake_secrets):
    result = runner.run(
        """
        import os
        print(dict(os.environ))
        print(open("/proc/self/environ", "rb").read())
        """
    )
    assert result.status == "COMPLETED", result
    assert_no_secret(result, fake_secrets)
    assert "AWS_" not in result.stdout
    assert "ECS_" not in result.stdout


def test_the_environ_of_every_visible_process_hides_the_secrets(runner, fake_secrets):
    result = runner.run(SCAN_PROC, output_bytes=4 * 1024 * 1024)
    assert result.status == "COMPLETED", result
    assert not result.truncated  # all of it was looked at
    assert_no_secret(result, fake_secrets)


def test_the_server_and_pid_1_environ_cannot_be_read(runner, server, fake_secrets):
    pids = [1, *server.server_pids]
    result = runner.run(
        f"""
        for pid in {pids!r}:
            try:
                print(pid, open(f"/proc/{{pid}}/environ", "rb").read())
            except OSError as error:
                print(pid, "denied", type(error).__name__)
        """
    )
    assert result.status == "COMPLETED", result
    assert_no_secret(result, fake_secrets)


def test_the_server_was_started_with_a_scrubbed_environment(server, fake_secrets):
    # Checked from the test process (root): whatever a run might find, the secrets are not there.
    assert server.server_pids, "no sandbox_task.server process found"
    for pid in server.server_pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        for value in fake_secrets.values:
            assert value not in environ
        assert "AWS_SECRET_ACCESS_KEY" not in environ


def test_server_memory_and_maps_cannot_be_read(runner, server, fake_secrets):
    result = runner.run(
        f"""
        import os
        for pid in {[1, *server.server_pids]!r} + [os.getppid()]:
            for name in ("mem", "maps", "fd", "cwd", "root"):
                path = f"/proc/{{pid}}/{{name}}"
                try:
                    if name == "mem":
                        with open(path, "rb") as mem:
                            mem.seek(0x400000)
                            mem.read(16)
                    elif name in ("fd", "cwd", "root"):
                        os.listdir(path)
                    else:
                        open(path).read()
                    print("READ", path)
                except OSError as error:
                    print("denied", path, type(error).__name__)
        """
    )
    assert result.status == "COMPLETED", result
    assert "READ" not in result.stdout
    assert_no_secret(result, fake_secrets)


# A bare socket and an address, no name: nothing depends on a resolver or the idna codec.
TRY_CONNECT = """
import socket
for family, host, port in {targets!r}:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as connection:
            connection.settimeout(0.5)
            connection.connect((host, port))
            connection.sendall(b"GET {path} HTTP/1.0\\r\\n\\r\\n")
            print("CONNECTED", host, port, connection.recv(100))
    except OSError as error:
        print("blocked", host, port, error.errno)
"""


def test_metadata_and_credential_endpoints_are_unreachable(runner, fake_secrets):
    targets = [
        (int(socket.AF_INET), "169.254.169.254", 80),
        (int(socket.AF_INET), "169.254.170.2", 80),
        (int(socket.AF_INET6), "fd00:ec2::254", 80),
        (int(socket.AF_INET), "8.8.8.8", 53),
    ]
    path = fake_secrets.credentials_uri
    result = runner.run(TRY_CONNECT.format(targets=targets, path=path))
    assert result.status == "COMPLETED", result
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("blocked") == len(targets)


def test_a_listener_on_localhost_sees_no_connection(runner):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        targets = [
            (int(socket.AF_INET), "127.0.0.1", port),
            (int(socket.AF_INET6), "::ffff:127.0.0.1", port),
        ]
        result = runner.run(TRY_CONNECT.format(targets=targets, path="/"))
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert result.status == "COMPLETED", result
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("blocked") == len(targets)


def test_dns_resolution_of_a_name_fails(runner):
    result = runner.run(
        """
        import socket
        try:
            # a bytes name skips the idna codec and goes straight to the resolver
            print("RESOLVED", socket.getaddrinfo(b"example.com", 443))
        except OSError as error:
            print("failed", type(error).__name__)
        """
    )
    assert result.status == "COMPLETED", result
    assert result.stdout.startswith("failed")


@pytest.mark.parametrize(
    ("family", "kind", "proto"),
    [
        ("AF_INET", "SOCK_RAW", "IPPROTO_ICMP"),
        ("AF_INET", "SOCK_DGRAM", "IPPROTO_UDP"),
        ("AF_INET6", "SOCK_STREAM", "IPPROTO_TCP"),
        ("AF_PACKET", "SOCK_RAW", "0"),
        ("AF_NETLINK", "SOCK_RAW", "0"),
        ("AF_VSOCK", "SOCK_STREAM", "0"),
    ],
)
def test_sockets_other_than_unix_cannot_be_created(runner, family, kind, proto):
    proto_expr = proto if proto == "0" else f"socket.{proto}"
    result = runner.run(
        f"""
        import socket
        try:
            socket.socket(socket.{family}, socket.{kind}, {proto_expr})
            print("CREATED")
        except OSError as error:
            print(error.errno)
        """
    )
    assert result.status == "COMPLETED", result
    assert result.stdout == f"{errno.EAFNOSUPPORT}\n"


def test_a_host_unix_socket_under_run_is_out_of_reach_with_namespaces(runner, tmp_path):
    # A read-only view of the file system does not stop connect() on a socket file: the
    # host's sockets (Docker's, D-Bus's, a database's) live under /run.
    if runner.mode != "namespaces":
        pytest.skip("plain mode shares the host's file system and unix sockets (README)")
    directory = Path("/run") / f"hz-security-{tmp_path.name}"
    try:
        directory.mkdir(mode=0o755)
    except OSError as error:
        pytest.skip(f"/run is not writable here: {error}")
    path = directory / "open.sock"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(path))
            path.chmod(0o666)
            listener.listen(8)
            result = runner.run(
                f"""
                import socket
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    client.connect({str(path)!r})
                    print("CONNECTED")
                except OSError as error:
                    print("blocked", type(error).__name__)
                """
            )
            listener.setblocking(False)
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        path.unlink(missing_ok=True)
        directory.rmdir()
    assert result.status == "COMPLETED", result
    assert result.stdout == "blocked FileNotFoundError\n"


def test_unix_sockets_still_work_inside_the_run(runner):
    result = runner.run(
        """
        import socket
        left, right = socket.socketpair()
        left.sendall(b"ping")
        print(right.recv(4).decode())
        """
    )
    assert (result.status, result.stdout) == ("COMPLETED", "ping\n")
