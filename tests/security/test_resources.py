"""Hostile programs that try to exhaust time, processes, memory, output, disk or descriptors.

Safe outcome for each: the run ends within its limits with the status and error named below,
everything it started is gone (checked by the `runner` fixture), and the sandbox serves the
next run.
"""

from __future__ import annotations

import errno


def test_fork_bomb_times_out_and_leaves_no_process(runner):
    result = runner.run(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        timeout_s=0.5,
        processes=16,
    )
    assert result.status == "TIMEOUT"
    assert result.error.startswith("time limit exceeded")


def test_fork_bomb_hits_the_process_limit(runner):
    result = runner.run(
        """
        import os, sys
        children = []
        try:
            while True:
                pid = os.fork()
                if pid == 0:
                    import time
                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
        except OSError as error:
            print("stopped after", len(children), "errno", error.errno)
        """,
        timeout_s=2.0,
        processes=8,
    )
    assert result.status == "COMPLETED", result
    forked = int(result.stdout.split()[2])
    assert forked < 8
    assert result.stdout.split()[-1] == str(errno.EAGAIN)


def test_memory_bomb_in_one_allocation_fails_with_memory_limit(runner):
    result = runner.run("block = bytearray(64 * 1024**3)\n", memory_mb=128)
    assert result.status == "FAILED"
    assert result.error == "memory limit exceeded"


def test_memory_bomb_that_grows_fails_with_memory_limit(runner):
    result = runner.run(
        """
        hoard = []
        while True:
            hoard.append(bytearray(4 * 1024 * 1024))
        """,
        memory_mb=128,
    )
    assert result.status == "FAILED"
    assert result.error == "memory limit exceeded"


def test_memory_bomb_in_numpy_fails_with_memory_limit(runner):
    result = runner.run("import numpy as np\nnp.ones((64 * 1024, 1024, 1024))\n", memory_mb=128)
    assert result.status == "FAILED"
    assert result.error == "memory limit exceeded"


def test_infinite_loop_times_out(runner):
    result = runner.run("while True:\n    pass\n", timeout_s=0.5)
    assert result.status == "TIMEOUT"
    assert result.error.startswith("time limit exceeded")
    assert result.exit_code is None


def test_sleep_forever_times_out(runner):
    result = runner.run("import time\ntime.sleep(10**6)\n", timeout_s=0.5)
    assert result.status == "TIMEOUT"
    assert result.error.startswith("time limit exceeded")


def test_ignoring_sigterm_does_not_outlive_the_timeout(runner):
    result = runner.run(
        """
        import signal, time
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
            signal.signal(number, signal.SIG_IGN)
        while True:
            time.sleep(0.01)
        """,
        timeout_s=0.5,
    )
    assert result.status == "TIMEOUT"


def test_stopping_itself_with_sigstop_still_times_out(runner):
    result = runner.run(
        "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\nprint('resumed')\n",
        timeout_s=0.5,
    )
    assert result.status == "TIMEOUT"
    assert result.stdout == ""


def test_closing_its_output_and_hanging_still_times_out(runner):
    result = runner.run(
        "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)\n", timeout_s=0.5
    )
    assert result.status == "TIMEOUT"


def test_a_child_keeping_stdout_open_does_not_hold_the_result(runner):
    # The program exits at once; a child it leaves behind keeps the stdout pipe open.
    result = runner.run(
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(60)
        print("parent done")
        """,
        timeout_s=2.0,
    )
    assert (result.status, result.stdout) == ("COMPLETED", "parent done\n")


def test_huge_output_is_truncated(runner):
    result = runner.run(
        """
        import sys
        chunk = "x" * 65536
        while True:
            sys.stdout.write(chunk)
            sys.stderr.write(chunk)
        """,
        timeout_s=0.5,
        output_bytes=32 * 1024,
    )
    assert result.truncated
    assert 0 < len(result.stdout.encode()) <= 32 * 1024
    assert len(result.stderr.encode()) <= 32 * 1024


def test_one_huge_line_is_truncated(runner):
    result = runner.run("print('y' * 50_000_000)\n", output_bytes=16 * 1024, memory_mb=512)
    assert result.truncated
    assert result.stdout == "y" * len(result.stdout)
    assert 0 < len(result.stdout) <= 16 * 1024


def test_disk_fill_past_the_file_size_limit_fails_cleanly(runner):
    result = runner.run(
        """
        with open("fill.bin", "wb") as target:
            while True:
                target.write(b"z" * 65536)
        """,
        file_bytes=256 * 1024,
    )
    assert result.status == "FAILED"
    assert "OSError" in result.error or "signal" in result.error
    assert "File too large" in result.stderr or "signal 25" in result.error


def test_too_many_open_files_fails_cleanly(runner):
    result = runner.run(
        """
        import errno
        opened = []
        try:
            while True:
                opened.append(open("/dev/null"))
        except OSError as error:
            print(len(opened), error.errno == errno.EMFILE)
        """,
        open_files=32,
    )
    assert result.status == "COMPLETED", result
    count, emfile = result.stdout.split()
    assert int(count) < 32
    assert emfile == "True"


def test_thread_bomb_hits_the_process_limit(runner):
    result = runner.run(
        """
        import threading, time
        started = 0
        try:
            while True:
                threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
                started += 1
        except RuntimeError as error:
            print("stopped after", started)
        """,
        processes=8,
    )
    assert result.status == "COMPLETED", result
    assert int(result.stdout.split()[-1]) < 8


def test_deep_recursion_fails_with_recursion_error(runner):
    result = runner.run("def down(n):\n    return down(n + 1)\ndown(0)\n")
    assert result.status == "FAILED"
    assert "RecursionError" in result.error
    assert "RecursionError" in result.stderr


def test_recursion_past_the_c_stack_crashes_only_the_run(runner):
    # repr of nested lists recurses in C; with the limit lifted the C stack overflows.
    result = runner.run(
        """
        import sys
        sys.setrecursionlimit(10**8)
        nested = []
        for _ in range(10**6):
            nested = [nested]
        repr(nested)
        """,
        timeout_s=10,  # building and crashing takes ~2.3 s here, more on a loaded machine
    )
    assert result.status == "FAILED"
    assert result.exit_code is None
    assert result.error.startswith("killed by signal")


def test_a_huge_exception_name_gives_a_bounded_error(runner):
    result = runner.run("raise type('E' * 1_000_000, (Exception,), {})()\n")
    assert result.status == "FAILED"
    assert len(result.error) < 1000


def test_an_atexit_handler_that_never_returns_does_not_hold_the_run(runner):
    result = runner.run(
        "import atexit, time\natexit.register(time.sleep, 60)\nprint('main done')\n",
        timeout_s=0.5,
    )
    assert result.status in ("COMPLETED", "TIMEOUT")
    assert result.stdout == "main done\n"
