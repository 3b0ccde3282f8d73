"""The janitor: a small process that forks the teardown helpers for the fork server.

A teardown helper forked from the server itself would copy, and then tear down, the page
tables of an interpreter holding pandas, numpy and scipy: milliseconds per run for nothing.
The janitor is forked before those imports, so its helpers cost a fraction of that. It takes a
run uid per message on a SOCK_SEQPACKET socket; each helper (`teardown.tear_down`) answers
`"<uid> <1|0>"` on the same socket itself when done. The janitor dies with the server.

Helpers run concurrently, one process each: a slow teardown (a run that made a million files)
delays nobody else's. With `report_dead`, each helper also answers `"<uid> dead"` as soon as
every process of the uid is gone, before it removes any file: the run's result can be sent
then, while the uid itself stays busy until its files are gone.
"""

from __future__ import annotations

import functools
import os
import resource
import signal
import socket
from typing import Literal, NamedTuple, NoReturn

from sandbox_task import namespaces
from sandbox_task.teardown import tear_down

_MESSAGE_BYTES = 64
_DEAD = b"dead"


class TeardownReport(NamedTuple):
    """What a teardown helper reported: its processes are all dead, or it is done."""

    uid: int
    stage: Literal["dead", "done"]
    succeeded: bool


class Janitor:
    """The server's handle on its janitor process."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.socket = sock
        self.pid = pid

    @classmethod
    def start(cls, scratch_root: str, *, report_dead: bool = False) -> Janitor:
        """Fork the janitor; call before the heavy imports.

        With `report_dead`, read the answers with `receive_report` (two per teardown).
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            _serve(theirs, scratch_root, report_dead)
        theirs.close()
        return cls(ours, pid)

    def request(self, uid: int) -> None:
        """Ask for the teardown of `uid`'s run; the answer comes through `receive`."""
        self.socket.send(str(uid).encode())

    def receive(self) -> tuple[int, bool] | None:
        """One finished teardown as (uid, succeeded); None when the janitor is gone."""
        report = self.receive_report()
        return None if report is None else (report.uid, report.succeeded)

    def receive_report(self) -> TeardownReport | None:
        """The next report of a teardown helper; None when the janitor is gone."""
        message = self.socket.recv(_MESSAGE_BYTES)
        if not message:
            return None
        uid, outcome = message.split()
        if outcome == _DEAD:
            return TeardownReport(int(uid), "dead", succeeded=True)
        return TeardownReport(int(uid), "done", succeeded=outcome == b"1")


def _serve(sock: socket.socket, scratch_root: str, report_dead: bool) -> NoReturn:
    namespaces.set_parent_death_signal(signal.SIGKILL)
    # Nothing of the server's is needed here (its client's socket above all: the client
    # must see it close when the server dies).
    keep = sock.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    # Helpers are reaped by the kernel; each answers for itself.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        message = sock.recv(_MESSAGE_BYTES)
        if not message:
            os._exit(0)
        uid = int(message)
        if os.fork() == 0:
            dead_message = f"{uid} dead".encode()
            on_dead = functools.partial(sock.send, dead_message) if report_dead else None
            succeeded = tear_down(uid, scratch_root, on_processes_dead=on_dead)
            sock.send(f"{uid} {int(succeeded)}".encode())
            os._exit(0)
