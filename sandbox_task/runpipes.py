"""The client's side of one run's pipes: it writes the code and stdin, reads the output.

The client (the worker process), not the fork server, makes each run's pipes and hands the
child's ends to the server with the request (SCM_RIGHTS). So the code, stdin and output of a
run never enter the server's memory, which every later run's child is a copy of. Here, in
the calling thread, one selector feeds the input (non-blocking, so a large stdin cannot
deadlock against a run that prints before it reads), reads stdout and stderr up to their cap
(the rest is read and dropped, `truncated` set) and the status pipe, until every pipe has
ended. A pipe ends when every process holding it is gone, which the server's teardown
ensures; should one survive anyway, the reading stops a short grace after the server's
answer.
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import time

from sandbox_task.connection import PendingAnswer
from sandbox_task.contract import RunLimits
from sandbox_task.outcome import Capture

_READ_CHUNK = 64 * 1024
_STATUS_CAP = 64 * 1024
# After the server's answer (every process of the run is dead), how long the pipes may still
# be read from: only a descriptor smuggled to a process that survived could keep them open.
_OUTPUT_GRACE_S = 0.05


class RunPipes:
    """A run's stdin, stdout, stderr and status pipes, from the client's side."""

    def __init__(self, limits: RunLimits) -> None:
        self.stdout = Capture.with_cap(limits.output_bytes)
        self.stderr = Capture.with_cap(limits.output_bytes)
        self.status = Capture.with_cap(_STATUS_CAP)
        self._ours: list[int] = []
        self._child_ends: list[int] = []
        self._outputs: dict[int, Capture] = {}
        try:
            stdin_read, self._stdin = os.pipe2(os.O_CLOEXEC)
            self._ours.append(self._stdin)
            self._child_ends.append(stdin_read)
            for capture in (self.stdout, self.stderr, self.status):
                read_end, write_end = os.pipe2(os.O_CLOEXEC)
                self._ours.append(read_end)
                self._child_ends.append(write_end)
                self._outputs[read_end] = capture
        except OSError:
            self.close()
            raise

    def take_child_ends(self) -> list[int]:
        """The child's stdin, stdout, stderr and status ends, to send to the server.

        The caller owns them from now on and must close them once sent: the outputs can
        only end when this process holds no write end.
        """
        taken, self._child_ends = self._child_ends, []
        return taken

    def exchange(self, data: bytes, pending: PendingAnswer, budget_s: float) -> None:
        """Write `data` to stdin and read the outputs until they end or the run is over.

        Returns when every pipe has ended, when the answer came and the grace after it
        passed, or `budget_s` after the run started (`PendingAnswer.give_up_at`).
        """
        remaining = memoryview(data)
        with selectors.DefaultSelector() as selector:
            os.set_blocking(self._stdin, False)
            selector.register(self._stdin, selectors.EVENT_WRITE, "stdin")
            stdin_open = True
            for descriptor in self._outputs:
                os.set_blocking(descriptor, False)
                selector.register(descriptor, selectors.EVENT_READ, "output")
            open_outputs = set(self._outputs)
            assert pending.wake_fd is not None
            selector.register(pending.wake_fd, selectors.EVENT_READ, "answer")
            answered = False
            stop_at = math.inf
            while open_outputs or stdin_open:
                if not answered:
                    stop_at = pending.give_up_at(budget_s)
                if pending.done.is_set() and not answered:
                    answered = True
                    # The run is over: what it did not read is dropped, its output is in.
                    selector.unregister(pending.wake_fd)
                    if stdin_open:
                        self._close_stdin(selector)
                        stdin_open = False
                    stop_at = min(stop_at, time.monotonic() + _OUTPUT_GRACE_S)
                timeout = stop_at - time.monotonic()
                if timeout <= 0:
                    return
                for key, _ in selector.select(None if timeout == math.inf else timeout):
                    if key.data == "answer":  # started or settled: looked at above
                        with contextlib.suppress(BlockingIOError):
                            os.eventfd_read(key.fd)
                    elif key.data == "stdin":
                        remaining = self._write_stdin(remaining)
                        if not remaining:  # the run's stdin ends here
                            self._close_stdin(selector)
                            stdin_open = False
                    elif key.data == "output" and not self._read_output(key.fd):
                        selector.unregister(key.fd)
                        open_outputs.discard(key.fd)

    def _close_stdin(self, selector: selectors.BaseSelector) -> None:
        selector.unregister(self._stdin)
        os.close(self._stdin)
        self._ours.remove(self._stdin)

    def _write_stdin(self, remaining: memoryview) -> memoryview:
        try:
            written = os.write(self._stdin, remaining[:_READ_CHUNK])
        except BlockingIOError:
            return remaining
        except OSError:  # the run closed its stdin or ended: what it did not read is dropped
            return remaining[:0]
        return remaining[written:]

    def _read_output(self, descriptor: int) -> bool:
        """Read what is there; False once the pipe has ended."""
        try:
            chunk = os.read(descriptor, _READ_CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        self._outputs[descriptor].add(chunk)
        return True

    def close(self) -> None:
        for descriptor in self._ours + self._child_ends:
            with contextlib.suppress(OSError):
                os.close(descriptor)
        self._ours = []
        self._child_ends = []
