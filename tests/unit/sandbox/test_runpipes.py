"""The client's side of a run's pipes, without a server: the test holds the child's ends."""

from __future__ import annotations

import os
import threading
import time

from sandbox_task.connection import PendingAnswer
from sandbox_task.contract import RunLimits
from sandbox_task.runpipes import RunPipes


def test_stdin_is_fed_and_the_outputs_are_read_up_to_the_cap() -> None:
    pipes = RunPipes(RunLimits(output_bytes=5))
    stdin, stdout, stderr, status = pipes.take_child_ends()
    pending = PendingAnswer()
    try:

        def child() -> None:
            # More than a pipe holds, before reading stdin: the exchange must keep reading.
            os.write(stdout, b"o" * 200_000)
            os.write(stderr, b"err")
            os.write(status, b'{"ready": true}\n')
            for descriptor in (stdout, stderr, status):
                os.close(descriptor)

        thread = threading.Thread(target=child)
        thread.start()
        pipes.exchange(b"the input", pending, budget_s=20)
        thread.join()

        assert (bytes(pipes.stdout.data), pipes.stdout.truncated) == (b"ooooo", True)
        assert (bytes(pipes.stderr.data), pipes.stderr.truncated) == (b"err", False)
        assert bytes(pipes.status.data) == b'{"ready": true}\n'
        assert os.read(stdin, 100) == b"the input"
        assert os.read(stdin, 100) == b""  # the client closed its end
    finally:
        os.close(stdin)
        pending.close()
        pipes.close()


def test_output_held_open_by_a_survivor_stops_being_read_after_the_answer() -> None:
    pipes = RunPipes(RunLimits())
    pending = PendingAnswer()
    pending.mark_started()
    try:
        child_ends = pipes.take_child_ends()
        os.write(child_ends[1], b"before the end")
        pending.settle(answer={"id": 1, "ended": {}})
        # The test keeps every child end open, like a process the teardown missed.
        pipes.exchange(b"", pending, budget_s=20)

        assert time.monotonic() < pending.give_up_at(20), "it waited for the give-up instead"
        assert bytes(pipes.stdout.data) == b"before the end"
    finally:
        for descriptor in child_ends:
            os.close(descriptor)
        pending.close()
        pipes.close()


def test_a_run_that_started_and_never_answers_is_given_up_after_its_budget() -> None:
    pipes = RunPipes(RunLimits())
    pending = PendingAnswer()
    pending.mark_started()
    child_ends = pipes.take_child_ends()
    try:
        pipes.exchange(b"", pending, budget_s=0.01)

        assert not pending.wait(budget_s=0.01)
        pending.settle(answer={"id": 1})
        assert pending.wait(budget_s=0.01)
    finally:
        for descriptor in child_ends:
            os.close(descriptor)
        pending.close()
        pipes.close()
