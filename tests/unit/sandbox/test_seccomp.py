"""The run's seccomp filter: live in a forked child, and as a program for both architectures.

Live checks fork the test process, install the filter in the child, run one check there and
send its result back through a pipe; the filter never touches the test process itself. The
arguments of the syscalls tried are chosen so that, without the filter, root would get 0 or an
error other than EPERM (EFAULT, EINVAL, EBADF, ESRCH): EPERM can only come from the filter.
The pure checks run the assembled programs through a small classic-BPF interpreter.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pickle
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import pytest

from sandbox_task import seccomp
from sandbox_task.seccomp import AARCH64, X86_64, Arch, build_program

pytestmark = pytest.mark.skipif(
    os.uname().machine not in seccomp.ARCHES, reason="no seccomp table for this architecture"
)

LIBC = ctypes.CDLL(None, use_errno=True)
NATIVE = seccomp.native_arch()


def run_filtered(check: Callable[[], Any]) -> Any:
    """Run `check` in a forked child under the filter; return its result or raise its error."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        try:
            seccomp.install()
            outcome: tuple[str, Any] = ("ok", check())
        except BaseException as error:
            outcome = ("error", repr(error))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(pickle.dumps(outcome))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"child ended with {status}"
    kind, value = pickle.loads(data)
    assert kind == "ok", value
    return value


def exit_of_filtered(action: Callable[[], None]) -> int:
    """Run `action` in a forked child under the filter; its exit code (-N for signal N)."""
    pid = os.fork()
    if pid == 0:
        seccomp.install()
        action()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def syscall_errno(name: str, *args: int) -> int:
    """errno of the raw syscall `name` (0 when it succeeded)."""
    ctypes.set_errno(0)
    result = LIBC.syscall(ctypes.c_long(NATIVE.syscalls[name]), *map(ctypes.c_long, args))
    return 0 if result >= 0 else ctypes.get_errno()


def socket_errno(family: int, kind: int = socket.SOCK_STREAM, proto: int = 0) -> int:
    try:
        socket.socket(family, kind, proto).close()
    except OSError as error:
        return error.errno
    return 0


# --- sockets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "kind", "proto"),
    [
        (socket.AF_INET, socket.SOCK_STREAM, 0),
        (socket.AF_INET, socket.SOCK_DGRAM, 0),
        (socket.AF_INET6, socket.SOCK_STREAM, 0),
        (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
        (socket.AF_PACKET, socket.SOCK_RAW, 0),
        (socket.AF_NETLINK, socket.SOCK_RAW, 0),  # NETLINK_ROUTE
        (socket.AF_VSOCK, socket.SOCK_STREAM, 0),
    ],
    ids=["inet", "udp", "inet6", "raw-icmp", "packet", "netlink", "vsock"],
)
def test_non_unix_socket_families_fail_with_eafnosupport(family, kind, proto):
    assert run_filtered(lambda: socket_errno(family, kind, proto)) == errno.EAFNOSUPPORT


def test_socketpair_of_a_non_unix_family_fails_with_eafnosupport():
    def check() -> int:
        try:
            socket.socketpair(socket.AF_INET)
        except OSError as error:
            return error.errno
        return 0

    assert run_filtered(check) == errno.EAFNOSUPPORT


def test_unix_sockets_still_work():
    def check() -> bytes:
        left, right = socket.socketpair()
        left.sendall(b"ping")
        unbound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        unbound.close()
        return right.recv(4)

    assert run_filtered(check) == b"ping"


# --- denied calls ------------------------------------------------------------------------------

# (syscall, arguments that would not give root EPERM without the filter)
DENIED_CALLS = [
    ("unshare", 0),  # a no-op that succeeds
    ("ptrace", 2, 0x7FFFFFFF, 0, 0),  # PTRACE_PEEKDATA of no such pid: ESRCH
    ("process_vm_readv", 0, 0, 0, 0, 0, 0),  # pid 0: ESRCH
    ("process_vm_writev", 0, 0, 0, 0, 0, 0),
    ("mount", 0, 0, 0, 0, 0),  # NULL target: EFAULT
    ("umount2", 0, 0),
    ("setns", -1, 0),  # EBADF
    ("bpf", 0x7FFF, 0, 0),  # unknown command: EINVAL
    ("io_uring_setup", 0, 0),  # EFAULT / EINVAL
    ("userfaultfd", 0x7FFF),  # unknown flags: EINVAL
    ("memfd_create", 0, 0x7FFF),  # NULL name, unknown flags: EFAULT / EINVAL
    ("keyctl", 0x7FFF, 0, 0, 0, 0),  # unknown operation: EOPNOTSUPP
    ("add_key", 0, 0, 0, 0, 0),
    ("request_key", 0, 0, 0, 0),
    ("pivot_root", 0, 0),
    ("chroot", 0),  # EFAULT
    ("perf_event_open", 0, 0, -1, -1, 0),  # EFAULT
    ("open_by_handle_at", -1, 0, 0),
    ("fsopen", 0, 0),
    ("kcmp", 0, 0, 0, 0, 0),
    ("clock_settime", 0x7FFF, 0),
    ("syslog", 0x7FFF, 0, 0),
    ("init_module", 0, 0, 0),
]


@pytest.mark.parametrize("call", DENIED_CALLS, ids=[call[0] for call in DENIED_CALLS])
def test_dangerous_calls_fail_with_eperm(call):
    name, *args = call
    assert run_filtered(lambda: syscall_errno(name, *args)) == errno.EPERM


def test_clone_into_a_new_namespace_fails_with_eperm():
    clone_newuser = seccomp.CLONE_NEWUSER | signal.SIGCHLD
    clone_newnet = seccomp.CLONE_NEWNET | signal.SIGCHLD

    def check() -> tuple[int, int]:
        # stack 0 = the child shares the caller's stack copy, as fork() does: were the filter to
        # let it through, the child would return here too, so it leaves at once.
        results = []
        for flags in (clone_newuser, clone_newnet):
            pid = LIBC.syscall(
                ctypes.c_long(NATIVE.syscalls["clone"]), ctypes.c_long(flags), 0, 0, 0, 0
            )
            if pid == 0:
                os._exit(0)
            results.append(ctypes.get_errno() if pid < 0 else 0)
        return tuple(results)

    assert run_filtered(check) == (errno.EPERM, errno.EPERM)


def test_clone3_fails_with_enosys_so_that_glibc_falls_back_to_clone():
    assert run_filtered(lambda: syscall_errno("clone3", 0, 0)) == errno.ENOSYS


def test_personality_may_only_query_or_keep_per_linux():
    addr_no_randomize = 0x0040000

    def check() -> tuple[int, int, int]:
        return (
            syscall_errno("personality", 0xFFFFFFFF),
            syscall_errno("personality", seccomp.PER_LINUX),
            syscall_errno("personality", addr_no_randomize),
        )

    assert run_filtered(check) == (0, 0, errno.EPERM)


@pytest.mark.skipif(not NATIVE.has_x32, reason="x32 exists only on x86_64")
def test_an_x32_syscall_kills_the_process():
    getpid = 39
    exit_code = exit_of_filtered(
        lambda: LIBC.syscall(ctypes.c_long(seccomp.X32_SYSCALL_BIT | getpid))
    )
    assert exit_code == -signal.SIGSYS


def test_no_new_privs_is_set():
    def check() -> str:
        with open("/proc/self/status") as status:
            return next(line for line in status if line.startswith("NoNewPrivs:")).split()[1]

    assert run_filtered(check) == "1"


# --- what a Python program still needs ---------------------------------------------------------


def test_fork_subprocess_and_threads_still_work():
    def check() -> tuple[int, int, list[int]]:
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        true_exit = subprocess.run(["/bin/true"], check=False).returncode
        seen: list[int] = []
        threads = [threading.Thread(target=seen.append, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return os.waitstatus_to_exitcode(status), true_exit, sorted(seen)

    assert run_filtered(check) == (7, 0, [0, 1, 2, 3])


def test_a_thread_started_before_install_is_confined_too():
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # fork copies only the calling thread, so the thread starts in the child
        started, go = threading.Event(), threading.Event()
        seen: list[int] = []

        def worker() -> None:
            started.set()
            go.wait()
            seen.append(socket_errno(socket.AF_INET))

        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        seccomp.install()
        go.set()
        thread.join()
        os.write(write_end, pickle.dumps(seen))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    assert pickle.loads(data) == [errno.EAFNOSUPPORT]


def test_multiprocessing_and_numpy_still_work():
    def check() -> tuple[list[int], float]:
        import multiprocessing

        import numpy as np

        with multiprocessing.get_context("fork").Pool(2) as pool:
            squares = pool.map(abs, [-1, -2, -3])
        return squares, float(np.linalg.inv(np.array([[2.0, 0.0], [0.0, 4.0]]))[1, 1])

    assert run_filtered(check) == ([1, 2, 3], 0.25)


# --- the programs themselves, run through a classic-BPF interpreter --------------------------


def evaluate(program: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """The action the filter returns for one syscall (only the opcodes the builder emits)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    insns = [struct.unpack_from("=HBBI", program, offset) for offset in range(0, len(program), 8)]
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == seccomp.BPF_LD_W_ABS:
            (accumulator,) = struct.unpack_from("=I", data, k)
        elif code == seccomp.BPF_JEQ_K:
            pc += jt if accumulator == k else jf
        elif code == seccomp.BPF_JSET_K:
            pc += jt if accumulator & k else jf
        elif code == seccomp.BPF_RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


EPERM = seccomp.SECCOMP_RET_ERRNO | errno.EPERM
EAFNOSUPPORT = seccomp.SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT
ALLOW = seccomp.SECCOMP_RET_ALLOW
KILL = seccomp.SECCOMP_RET_KILL_PROCESS


@pytest.mark.parametrize(
    ("nr", "arg0", "action"),
    [
        (117, 0, EPERM),  # ptrace
        (97, 0, EPERM),  # unshare
        (280, 0, EPERM),  # bpf
        (425, 0, EPERM),  # io_uring_setup
        (40, 0, EPERM),  # mount
        (270, 0, EPERM),  # process_vm_readv
        (219, 0, EPERM),  # keyctl
        (198, socket.AF_INET, EAFNOSUPPORT),  # socket
        (198, socket.AF_UNIX, ALLOW),
        (199, socket.AF_NETLINK, EAFNOSUPPORT),  # socketpair
        (220, seccomp.CLONE_NEWPID | signal.SIGCHLD, EPERM),  # clone
        (220, signal.SIGCHLD, ALLOW),
        (435, 0, seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS),  # clone3
        (63, 0, ALLOW),  # read
        (221, 0, ALLOW),  # execve
        (172, 0, ALLOW),  # getpid
    ],
)
def test_the_aarch64_program_uses_the_arm64_numbers(nr, arg0, action):
    assert evaluate(build_program(AARCH64), seccomp.AUDIT_ARCH_AARCH64, nr, arg0) == action


@pytest.mark.parametrize(
    ("nr", "arg0", "action"),
    [
        (101, 0, EPERM),  # ptrace
        (272, 0, EPERM),  # unshare
        (321, 0, EPERM),  # bpf
        (172, 0, EPERM),  # iopl
        (41, socket.AF_INET6, EAFNOSUPPORT),  # socket
        (41, socket.AF_UNIX, ALLOW),
        (56, seccomp.CLONE_NEWUSER, EPERM),  # clone
        (0x40000000 | 39, 0, KILL),  # x32 getpid
        (39, 0, ALLOW),  # getpid
        (57, 0, ALLOW),  # fork
    ],
)
def test_the_x86_64_program_uses_the_x86_64_numbers(nr, arg0, action):
    assert evaluate(build_program(X86_64), seccomp.AUDIT_ARCH_X86_64, nr, arg0) == action


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda arch: arch.name)
def test_a_foreign_architecture_is_killed(arch: Arch):
    i386 = 0x40000003
    foreign = seccomp.AUDIT_ARCH_AARCH64 if arch is X86_64 else seccomp.AUDIT_ARCH_X86_64
    for audit_arch in (i386, foreign):
        assert evaluate(build_program(arch), audit_arch, 39) == KILL


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda arch: arch.name)
def test_every_denied_call_the_arch_has_is_denied(arch: Arch):
    program = build_program(arch)
    for name in seccomp.DENIED:
        if name in arch.syscalls:
            assert evaluate(program, arch.audit_arch, arch.syscalls[name]) == EPERM, name


def test_only_legacy_x86_calls_are_missing_from_the_arm64_table():
    assert set(X86_64.syscalls) >= set(seccomp.DENIED)
    assert set(seccomp.DENIED) - set(AARCH64.syscalls) == {"iopl", "ioperm", "uselib", "modify_ldt"}
