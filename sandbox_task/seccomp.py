"""The seccomp filter of a sandboxed run: a classic BPF program built and loaded with ctypes.

No libseccomp binding is available in the image, so the program is assembled here from the
kernel's own constants (linux/filter.h, linux/seccomp.h) and syscall tables
(arch/x86/entry/syscalls/syscall_64.tbl for x86_64, include/uapi/asm-generic/unistd.h for
arm64, which is what Fargate runs). What the filter does, in order:

1. A foreign architecture (an i386 `int 0x80` from a 64-bit process, say) and, on x86_64, an
   x32-ABI syscall number kill the whole process: the tables below would not apply to them.
2. socket(2)/socketpair(2) with any domain but AF_UNIX fail with EAFNOSUPPORT, so Python
   raises a clean OSError; AF_UNIX stays for multiprocessing and friends.
3. clone(2) asking for any new namespace fails with EPERM; clone3(2) fails with ENOSYS because
   its flags live in memory BPF cannot read, and glibc then falls back to clone(2).
4. personality(2) may only query or set PER_LINUX.
5. The calls in DENIED (ptrace, mount, unshare, bpf, io_uring, keyctl, ...) fail with EPERM.
6. Everything else is allowed: the run is also confined by its uid, rlimits and namespaces, and
   the filter only removes kernel surface that a Python program has no business touching.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import struct
from dataclasses import dataclass
from typing import NoReturn

# linux/audit.h
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7

# linux/seccomp.h
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1

# linux/prctl.h
PR_SET_NO_NEW_PRIVS = 38

# linux/filter.h: the opcodes this program uses.
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = 32-bit word at offset k of seccomp_data
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K
BPF_MAXJUMP = 255  # jt/jf are 8-bit forward offsets

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
# Both supported architectures are little-endian, so an argument's low word is at +0.
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARG0_LOW = 16

X32_SYSCALL_BIT = 0x40000000
AF_UNIX = 1
PER_LINUX = 0
PERSONALITY_QUERY = 0xFFFFFFFF

# linux/sched.h. CLONE_NEWTIME (0x80) shares its bit with clone(2)'s exit-signal byte, where
# a valid signal (at most 64) never sets it, so one mask serves clone(2).
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NAMESPACE_FLAGS = (
    CLONE_NEWTIME
    | CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
)

# Denied with EPERM: debugging other processes, kernel and mount administration, namespaces,
# kernel-side programs and rings, keyrings, clocks, modules. Names an architecture lacks
# (iopl, ioperm, uselib and modify_ldt on arm64) are skipped for it.
DENIED: tuple[str, ...] = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "process_madvise",
    "kcmp",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    # Anonymous files, System V shared memory and message queues are memory outside
    # RLIMIT_AS: a run could hold gigabytes in them (Python's multiprocessing uses none).
    "memfd_create",
    "memfd_secret",
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "fanotify_init",
    "fanotify_mark",
    "modify_ldt",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "uselib",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "vhangup",
    "lookup_dcookie",
    "iopl",
    "ioperm",
)

# The calls the filter names, numbered per architecture. Calls numbered 400 and up share one
# number on every architecture since Linux 5.1.
_COMMON_NEW = {
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "open_tree_attr": 467,
}

X86_64_SYSCALLS: dict[str, int] = {
    **_COMMON_NEW,
    "shmget": 29,
    "shmat": 30,
    "shmctl": 31,
    "socket": 41,
    "socketpair": 53,
    "clone": 56,
    "semget": 64,
    "semop": 65,
    "semctl": 66,
    "shmdt": 67,
    "msgget": 68,
    "msgsnd": 69,
    "msgrcv": 70,
    "msgctl": 71,
    "ptrace": 101,
    "syslog": 103,
    "uselib": 134,
    "personality": 135,
    "vhangup": 153,
    "modify_ldt": 154,
    "adjtimex": 159,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "lookup_dcookie": 212,
    "semtimedop": 220,
    "clock_settime": 227,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "pivot_root": 155,
    "unshare": 272,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "fanotify_mark": 301,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "memfd_create": 319,
    "memfd_secret": 447,
}

AARCH64_SYSCALLS: dict[str, int] = {
    **_COMMON_NEW,
    "lookup_dcookie": 18,
    "umount2": 39,
    "mount": 40,
    "pivot_root": 41,
    "chroot": 51,
    "vhangup": 58,
    "quotactl": 60,
    "acct": 89,
    "personality": 92,
    "unshare": 97,
    "kexec_load": 104,
    "init_module": 105,
    "delete_module": 106,
    "clock_settime": 112,
    "syslog": 116,
    "ptrace": 117,
    "reboot": 142,
    "settimeofday": 170,
    "adjtimex": 171,
    "msgget": 186,
    "msgctl": 187,
    "msgrcv": 188,
    "msgsnd": 189,
    "semget": 190,
    "semctl": 191,
    "semtimedop": 192,
    "semop": 193,
    "shmget": 194,
    "shmctl": 195,
    "shmat": 196,
    "shmdt": 197,
    "socket": 198,
    "socketpair": 199,
    "add_key": 217,
    "request_key": 218,
    "keyctl": 219,
    "clone": 220,
    "swapon": 224,
    "swapoff": 225,
    "perf_event_open": 241,
    "fanotify_init": 262,
    "fanotify_mark": 263,
    "name_to_handle_at": 264,
    "open_by_handle_at": 265,
    "clock_adjtime": 266,
    "setns": 268,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "kcmp": 272,
    "finit_module": 273,
    "bpf": 280,
    "userfaultfd": 282,
    "memfd_create": 279,
    "memfd_secret": 447,
    "kexec_file_load": 294,
}


@dataclass(frozen=True)
class Arch:
    """What the filter needs to know about one architecture.

    Attributes:
        name: the machine name as os.uname() reports it.
        audit_arch: the AUDIT_ARCH_* value the kernel puts in seccomp_data.arch.
        seccomp_nr: the number of seccomp(2) itself, used to load the filter.
        syscalls: the numbers of the calls the filter names.
        has_x32: whether syscall numbers with X32_SYSCALL_BIT reach a second ABI.
    """

    name: str
    audit_arch: int
    seccomp_nr: int
    syscalls: dict[str, int]
    has_x32: bool


X86_64 = Arch("x86_64", AUDIT_ARCH_X86_64, 317, X86_64_SYSCALLS, has_x32=True)
AARCH64 = Arch("aarch64", AUDIT_ARCH_AARCH64, 277, AARCH64_SYSCALLS, has_x32=False)
ARCHES: dict[str, Arch] = {"x86_64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


@dataclass(frozen=True)
class _Jump:
    """A conditional jump whose targets are labels, resolved when the program is assembled."""

    code: int
    k: int
    if_true: str | None  # None: fall through to the next instruction
    if_false: str | None


@dataclass(frozen=True)
class _Insn:
    """An instruction without jumps (load, return)."""

    code: int
    k: int


@dataclass(frozen=True)
class _Label:
    name: str


def _errno(number: int) -> int:
    return SECCOMP_RET_ERRNO | (number & 0xFFFF)


def _source(arch: Arch) -> list[_Jump | _Insn | _Label]:
    """The filter for `arch` as instructions and labels, in program order."""
    calls = arch.syscalls
    load_nr = _Insn(BPF_LD_W_ABS, OFFSET_NR)
    load_arg0 = _Insn(BPF_LD_W_ABS, OFFSET_ARG0_LOW)
    prog: list[_Jump | _Insn | _Label] = [
        _Insn(BPF_LD_W_ABS, OFFSET_ARCH),
        _Jump(BPF_JEQ_K, arch.audit_arch, None, "kill"),
        load_nr,
    ]
    if arch.has_x32:
        prog.append(_Jump(BPF_JSET_K, X32_SYSCALL_BIT, "kill", None))
    prog += [
        _Jump(BPF_JEQ_K, calls["socket"], "socket", None),
        _Jump(BPF_JEQ_K, calls["socketpair"], "socket", None),
        _Jump(BPF_JEQ_K, calls["clone"], "clone", None),
        _Jump(BPF_JEQ_K, calls["clone3"], "enosys", None),
        _Jump(BPF_JEQ_K, calls["personality"], "personality", None),
    ]
    prog += [_Jump(BPF_JEQ_K, calls[name], "eperm", None) for name in DENIED if name in calls]
    prog += [
        _Insn(BPF_RET_K, SECCOMP_RET_ALLOW),
        _Label("socket"),
        load_arg0,
        _Jump(BPF_JEQ_K, AF_UNIX, "allow", None),
        _Insn(BPF_RET_K, _errno(errno.EAFNOSUPPORT)),
        _Label("clone"),
        load_arg0,
        _Jump(BPF_JSET_K, CLONE_NAMESPACE_FLAGS, "eperm", "allow"),
        _Label("personality"),
        load_arg0,
        _Jump(BPF_JEQ_K, PER_LINUX, "allow", None),
        _Jump(BPF_JEQ_K, PERSONALITY_QUERY, "allow", "eperm"),
        _Label("eperm"),
        _Insn(BPF_RET_K, _errno(errno.EPERM)),
        _Label("enosys"),
        _Insn(BPF_RET_K, _errno(errno.ENOSYS)),
        _Label("allow"),
        _Insn(BPF_RET_K, SECCOMP_RET_ALLOW),
        _Label("kill"),
        _Insn(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
    ]
    return prog


def _assemble(source: list[_Jump | _Insn | _Label]) -> bytes:
    """Resolve labels into forward jump offsets and pack struct sock_filter entries."""
    positions: dict[str, int] = {}
    index = 0
    for item in source:
        if isinstance(item, _Label):
            positions[item.name] = index
        else:
            index += 1
    program = bytearray()
    index = 0
    for item in source:
        if isinstance(item, _Label):
            continue
        jt = jf = 0
        if isinstance(item, _Jump):
            jt = _offset(positions, item.if_true, index)
            jf = _offset(positions, item.if_false, index)
        # struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } in native byte order
        program += struct.pack("=HBBI", item.code, jt, jf, item.k)
        index += 1
    return bytes(program)


def _offset(positions: dict[str, int], label: str | None, index: int) -> int:
    if label is None:
        return 0
    offset = positions[label] - index - 1
    if not 0 <= offset <= BPF_MAXJUMP:
        raise ValueError(f"jump to {label} out of range ({offset})")
    return offset


def build_program(arch: Arch) -> bytes:
    """The filter for `arch` as the bytes of a struct sock_filter array."""
    return _assemble(_source(arch))


def native_arch() -> Arch:
    """The architecture this process runs on.

    Raises:
        OSError: ENOSYS when the filter has no table for this machine.
    """
    machine = os.uname().machine
    try:
        return ARCHES[machine]
    except KeyError:
        raise OSError(errno.ENOSYS, f"no seccomp filter for architecture {machine}") from None


@functools.cache
def native_program() -> bytes:
    """The filter for this machine, built once per process (and inherited across fork).

    Raises:
        OSError: ENOSYS when the filter has no table for this machine.
    """
    return build_program(native_arch())


class _SockFprog(ctypes.Structure):
    """struct sock_fprog { unsigned short len; struct sock_filter *filter; }."""

    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install() -> None:
    """Set no_new_privs and load the run filter into the calling process.

    The filter is inherited by every child and cannot be removed. It is synchronised to every
    thread of the process (TSYNC), so a helper thread started earlier is confined too.

    Raises:
        OSError: the kernel refused (or the architecture is unsupported).
    """
    arch = native_arch()
    program = native_program()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0) != 0:
        _raise_errno("prctl(PR_SET_NO_NEW_PRIVS)")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    result = libc.syscall(
        ctypes.c_long(arch.seccomp_nr),
        ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
        ctypes.c_ulong(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(fprog),
    )
    if result < 0:
        _raise_errno("seccomp(SECCOMP_SET_MODE_FILTER)")
    if result > 0:
        # TSYNC names the thread it could not synchronise instead of setting errno
        raise OSError(errno.EBUSY, f"seccomp: thread {result} could not be synchronised")


def _raise_errno(call: str) -> NoReturn:
    number = ctypes.get_errno()
    raise OSError(number, f"{call}: {os.strerror(number)}")


# Built when the fork server imports this module, so a run's child does not pay for it.
with contextlib.suppress(OSError):
    native_program()
