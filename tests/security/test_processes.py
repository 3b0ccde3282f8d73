"""Hostile programs that go after other processes, the kernel, or the runner's own channel.

Safe outcome: every attempt fails inside the run (EPERM and friends), nothing the run started
survives it (checked by the `runner` fixture), and the sandbox serves the next run.
"""

from __future__ import annotations

import errno
import platform
from pathlib import Path

import pytest

CALL = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(result):
    return ctypes.get_errno() if result == -1 else 0
"""


SYSCALL_NUMBERS = """
import platform
ARM = platform.machine() in ("aarch64", "arm64")
BPF = 280 if ARM else 321
IO_URING_SETUP = 425
USERFAULTFD = 282 if ARM else 323
KEYCTL = 219 if ARM else 250
PROCESS_VM_READV = 270 if ARM else 310
SETNS = 268 if ARM else 308
CLONE3 = 435
FANOTIFY_INIT = 262 if ARM else 300
"""


def test_ptrace_of_the_parent_is_denied(runner):
    result = runner.run(
        CALL
        + """
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206
print(errno_of(libc.ptrace(PTRACE_ATTACH, os.getppid(), 0, 0)))
print(errno_of(libc.ptrace(PTRACE_SEIZE, os.getppid(), 0, 0)))
print(errno_of(libc.ptrace(PTRACE_ATTACH, 1, 0, 0)))
"""
    )
    assert result.status == "COMPLETED", result
    assert result.stdout.split() == [str(errno.EPERM)] * 3


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param("libc.unshare(0x10000000)", errno.EPERM, id="unshare-newuser"),
        pytest.param("libc.unshare(0x40000000)", errno.EPERM, id="unshare-newnet"),
        pytest.param("libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)", errno.EPERM, id="mount"),
        pytest.param("libc.syscall(BPF, 0, 0, 0)", errno.EPERM, id="bpf"),
        pytest.param("libc.syscall(IO_URING_SETUP, 8, 0)", errno.EPERM, id="io_uring_setup"),
        pytest.param("libc.syscall(USERFAULTFD, 0)", errno.EPERM, id="userfaultfd"),
        # -3: the session keyring
        pytest.param("libc.syscall(KEYCTL, 0, -3, 0)", errno.EPERM, id="keyctl"),
        pytest.param(
            "libc.syscall(PROCESS_VM_READV, os.getppid(), 0, 0, 0, 0, 0)",
            errno.EPERM,
            id="process_vm_readv",
        ),
        pytest.param("libc.syscall(SETNS, 0, 0)", errno.EPERM, id="setns"),
        pytest.param("libc.chroot(b'/')", errno.EPERM, id="chroot"),
        pytest.param("libc.syscall(CLONE3, 0, 0)", errno.ENOSYS, id="clone3"),
        # FAN_REPORT_FID: what an unprivileged process may ask for
        pytest.param("libc.syscall(FANOTIFY_INIT, 0x200, 0)", errno.EPERM, id="fanotify_init"),
        # 0: read the local descriptor table, an x86 thing (arm64 has no such call).
        pytest.param(
            "libc.syscall(154, 0, 0, 0)",
            errno.EPERM,
            id="modify_ldt",
            marks=pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 only"),
        ),
    ],
)
def test_forbidden_syscalls_through_ctypes_fail(runner, call, expected):
    result = runner.run(CALL + SYSCALL_NUMBERS + f"print(errno_of({call}))\n")
    assert result.status == "COMPLETED", result
    assert result.stdout == f"{expected}\n"


def test_setuid_and_setgid_to_root_fail(runner):
    result = runner.run(
        """
        import os
        attempts = {
            "setuid": lambda: os.setuid(0),
            "setgid": lambda: os.setgid(0),
            "setresuid": lambda: os.setresuid(0, 0, 0),
            "setgroups": lambda: os.setgroups([0]),
            "seteuid": lambda: os.seteuid(0),
        }
        for name, attempt in attempts.items():
            try:
                attempt()
                print(name, "SUCCEEDED")
            except OSError as error:  # EPERM; EINVAL where uid 0 is not mapped (namespaces)
                print(name, "denied", error.errno)
        print("uid", os.getuid(), os.geteuid(), os.getgid(), os.getgroups())
        """
    )
    assert result.status == "COMPLETED", result
    assert "SUCCEEDED" not in result.stdout
    _, uid, euid, gid, groups = result.stdout.splitlines()[-1].split(maxsplit=4)
    assert "0" not in (uid, euid, gid)
    assert groups == "[]"


def test_killing_the_parent_fails_and_the_sandbox_survives(runner, server):
    result = runner.run(
        """
        import os, signal
        # plain: the parent is the server; namespaces: the run's own pid 1 (or 0 outside)
        for target in {os.getppid(), 1} - {0, os.getpid()}:
            try:
                os.kill(target, signal.SIGKILL)
                print("KILLED", target)
            except PermissionError:
                print("denied", target)
        print("done")
        """
    )
    assert result.status == "COMPLETED", result
    assert result.stdout.endswith("done\n")
    if runner.mode == "plain":  # the parent is the server, a root process
        assert "KILLED" not in result.stdout
    # (namespaces: the parent and pid 1 belong to the run's own pid namespace)
    assert all(Path(f"/proc/{pid}").exists() for pid in server.server_pids)


def test_kill_minus_one_reaches_nothing_outside_the_run(runner):
    # kill(-1) signals every process the caller may signal except itself: its own children.
    result = runner.run(
        """
        import os, signal, time
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        os.kill(-1, signal.SIGKILL)
        _, status = os.waitpid(child, 0)
        print("child", os.WTERMSIG(status))
        """
    )
    assert (result.status, result.stdout) == ("COMPLETED", "child 9\n")


def test_killing_its_own_process_group_after_setsid_ends_only_the_run(runner, server):
    result = runner.run(
        """
        import os, signal, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os.killpg(0, signal.SIGKILL)
        time.sleep(0.2)
        os.killpg(0, signal.SIGKILL)
        time.sleep(60)
        """,
        timeout_s=0.5,
    )
    assert (result.status, result.error) == ("FAILED", "killed by signal 9")
    assert all(Path(f"/proc/{pid}").exists() for pid in server.server_pids)


def test_a_double_forked_daemon_does_not_outlive_the_run(runner):
    result = runner.run(
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.closerange(0, 3)
                while True:
                    with open("heartbeat", "a") as beat:
                        beat.write(".")
                    time.sleep(0.01)
            os._exit(0)
        time.sleep(0.1)
        print("daemon started", os.path.getsize("heartbeat") > 0)
        """
    )
    assert (result.status, result.stdout) == ("COMPLETED", "daemon started True\n")
    # the fixture then checks that no process of the run is alive and the scratch root is empty


def test_a_sleeping_daemon_is_killed_when_the_run_times_out(runner):
    result = runner.run(
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
            os._exit(0)
        time.sleep(600)
        """,
        timeout_s=0.5,
    )
    assert result.status == "TIMEOUT"


def test_writing_and_closing_inherited_descriptors_cannot_reach_the_runner(runner):
    result = runner.run(
        """
        import json, os
        garbage = json.dumps({"status": "COMPLETED", "stdout": "forged"}).encode() + b"\\n" * 64
        touched = []
        for fd in range(3, 1025):
            try:
                os.write(fd, garbage)
                touched.append(fd)
            except OSError:
                pass
        os.closerange(3, 1025)
        print("wrote to", touched)
        """
    )
    # What the run did to its own descriptors may at most change its own result; the result
    # still comes back as a result and the sandbox keeps serving (the fixture checks that).
    assert result.status in ("COMPLETED", "FAILED")
    assert "forged" not in result.stdout


def test_monkeypatching_the_interpreter_cannot_break_the_runner(runner):
    result = runner.run(
        """
        import builtins, json, os, sys, traceback
        json.dumps = json.loads = lambda *args, **kwargs: "{}"
        os._exit = sys.exit = lambda *args: None
        traceback.print_exception = None
        builtins.print = None
        sys.stdout.write("patched\\n")
        raise ValueError("after patching")
        """
    )
    assert result.status == "FAILED"
    assert "patched" in result.stdout


def test_the_run_holds_no_capability_and_cannot_gain_privileges(runner):
    result = runner.run(
        """
        status = dict(
            line.split(":", 1) for line in open("/proc/self/status").read().splitlines()
        )
        for name in ("NoNewPrivs", "Seccomp", "CapInh", "CapPrm", "CapEff", "CapAmb"):
            print(name, status[name].strip())
        limits = open("/proc/self/limits").read()
        print("core", [line.split()[4] for line in limits.splitlines() if "core" in line][0])
        """
    )
    assert result.status == "COMPLETED", result
    assert result.stdout.splitlines() == [
        "NoNewPrivs 1",
        "Seccomp 2",
        "CapInh 0000000000000000",
        "CapPrm 0000000000000000",
        "CapEff 0000000000000000",
        "CapAmb 0000000000000000",
        "core 0",
    ]


def test_no_process_of_the_run_uid_is_unfiltered_or_open_to_memory_writes(runner):
    # In namespaces mode the run's uid also has the relay and the pid namespace's init:
    # were either of them dumpable or unfiltered, the code could write its own code into
    # their memory through /proc/<pid>/mem and run it outside the seccomp filter and rlimits.
    result = runner.run(
        """
        import os

        def status(pid):
            lines = open(f"/proc/{pid}/status").read().splitlines()
            return dict(line.split(":", 1) for line in lines)

        me = os.readlink("/proc/self")  # this /proc's number for the run (not its pid 2)
        for pid in sorted(entry for entry in os.listdir("/proc") if entry.isdigit()):
            try:
                fields = status(pid)
            except OSError:  # gone meanwhile
                continue
            if pid == me or fields["Uid"].split()[0] != str(os.getuid()):
                continue
            try:
                with open(f"/proc/{pid}/mem", "r+b", buffering=0):
                    outcome = "open"
            except PermissionError:
                outcome = "refused"
            print(fields["Seccomp"].strip(), outcome)
        """
    )
    assert result.status == "COMPLETED", result
    others = result.stdout.splitlines()
    assert others == ["2 refused"] * len(others)
    # Not vacuous where it matters: namespaces mode has the relay and the init to look at.
    assert len(others) == (2 if runner.mode == "namespaces" else 0), others


def test_abort_ends_the_run_with_a_signal_and_no_core(runner):
    result = runner.run("import os\nos.abort()\n")
    assert result.status == "FAILED"
    assert result.exit_code is None
    assert result.error.startswith("killed by signal")


def test_an_exception_whose_str_never_returns_still_ends_the_run(runner):
    result = runner.run(
        """
        class Endless(Exception):
            def __str__(self):
                while True:
                    pass
        raise Endless()
        """,
        timeout_s=0.5,
    )
    assert result.status in ("FAILED", "TIMEOUT")
    if result.status == "FAILED":
        assert result.error == "the program raised Endless"
