"""The fork server's event loop alone, in a process of its own, without a janitor."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from sandbox_task import protocol
from sandbox_task.contract import RunLimits
from sandbox_task.launch import server_environment

# A server none of whose uids could be cleared (the start-up sweep returned none).
SERVER_WITHOUT_UIDS = """
import socket, sys
from sandbox_task.janitor import Janitor
from sandbox_task.server import ForkServer
janitor_end, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
control = socket.socket(fileno=int(sys.argv[1]))
ForkServer(control, "/nonexistent", run_uids=[], use_namespaces=False,
           janitor=Janitor(janitor_end, pid=-1)).serve()
"""


def start_server(script: str, **popen: Any) -> tuple[socket.socket, subprocess.Popen[str]]:
    """Run `script` with the server's end of a control socket; return ours and the process."""
    ours, theirs = socket.socketpair()
    server = subprocess.Popen(
        [sys.executable, "-c", script, str(theirs.fileno())],
        pass_fds=(theirs.fileno(),),
        env=server_environment(),
        text=True,
        **popen,
    )
    theirs.close()
    return ours, server


def test_a_server_without_a_uid_refuses_requests_at_once_and_keeps_no_pipe() -> None:
    ours, server = start_server(SERVER_WITHOUT_UIDS)
    ours.settimeout(10)  # a request left waiting fails the test instead of hanging it
    pipes = [os.pipe() for _ in range(protocol.RUN_DESCRIPTORS)]
    try:
        protocol.send_with_descriptors(
            ours, {"id": 7, "limits": asdict(RunLimits())}, [write for _, write in pipes]
        )
        for _, write_end in pipes:
            os.close(write_end)
        answer = protocol.receive(ours)

        assert answer == {"id": 7, "error": "no sandbox uid is left to run as"}
        # The server closed its copies: nothing holds a write end any more.
        assert [os.read(read_end, 10) for read_end, _ in pipes] == [b""] * len(pipes)
    finally:
        ours.close()
        server.wait(timeout=10)
        for read_end, _ in pipes:
            os.close(read_end)


# A server whose forks all fail (out of processes): counts the attempts over one second.
SERVER_WHOSE_FORKS_FAIL = """
import os, socket, sys
from sandbox_task import server
from sandbox_task.janitor import Janitor
attempts = 0
def failing_fork():
    global attempts
    attempts += 1
    raise BlockingIOError(11, "Resource temporarily unavailable")
server.os.fork = failing_fork
janitor_end, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
control = socket.socket(fileno=int(sys.argv[1]))
try:
    server.ForkServer(control, "/nonexistent", run_uids=[100000, 100001], use_namespaces=False,
                      janitor=Janitor(janitor_end, pid=-1)).serve()
finally:
    print(attempts, file=sys.__stdout__, flush=True)
"""


def test_a_server_that_cannot_fork_tries_again_later_not_in_a_loop() -> None:
    ours, server = start_server(
        SERVER_WHOSE_FORKS_FAIL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # One second of serving: preparing a child ahead fails at once, and the server must then
    # wait before trying again (it is not expected to exit meanwhile).
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=1.0)
    ours.close()  # the server shuts down
    stdout, stderr = server.communicate(timeout=10)

    assert int(stdout.split()[-1]) <= 2, "the server retried its fork in a loop"
    assert stderr.count("could not prepare a child") <= 2
