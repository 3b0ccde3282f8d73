"""Everything a run's child does between the fork and the user's first line.

The fork server calls `prepare_child` in a freshly forked process, ahead of the run it will
serve. In order, the child: starts a new session, closes every descriptor but stdio and its
handoff socket, makes itself the OOM killer's first choice, drops to the run's own uid and
gid, creates its private scratch directory (as that uid, so the runner never writes into a
directory user code can write), optionally enters new namespaces, empties its environment,
sets no_new_privs and the seccomp filter — and waits. When the server hands it a run (the
limits, and the run's pipes made by the client as SCM_RIGHTS descriptors), it makes the pipes
descriptors 0-3, sets rlimits, reads its code off the front of its stdin (the server never has
it) and runs it.

It reports on the status pipe (descriptor 3), one JSON object per line: `setup_error` when the
sandbox could not be set up (the client then fails the run as a sandbox error, not a user
error), `ready` just before the code runs, and `exception` for an uncaught exception. The user's
code can write to that pipe too; it can only lie about its own result.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import json
import linecache
import os
import resource
import signal
import socket
import sys
import tempfile
import threading
import traceback
import types
from dataclasses import dataclass
from typing import NoReturn

from sandbox_task import namespaces, protocol
from sandbox_task.contract import RunLimits
from sandbox_task.outcome import cpu_limit_seconds

STATUS_FD = 3
# The exit status of a child whose set-up failed (the status pipe says why).
SETUP_FAILED_EXIT = 125
CODE_FILENAME = "<code>"
# The run's private /tmp and /dev/shm (namespaces mode): enough for scratch files, bounded.
_PRIVATE_TMPFS = "size=64m,nr_inodes=4096,mode=0700"
_OOM_SCORE_ADJ = 1000
# A traceback longer than twice this shows its first and last frames only: formatting a
# million frames of deep recursion would take longer than the run's time limit.
_TRACEBACK_EDGE_FRAMES = 20
_SIGNALS_TO_RESET = (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT)


@dataclass(frozen=True)
class ChildPlan:
    """What a child needs before its run; built by the server before the fork.

    Neither the code nor the limits: the child is made ahead of its run and gets those (and
    its pipes) when the run is handed to it.
    """

    uid: int
    gid: int
    scratch_root: str
    scratch_name: str
    namespaces: bool
    # The child's end of the socket the server hands the run over on.
    handoff_fd: int
    # Descriptors naming import directories other uids cannot reach (importpaths): kept.
    import_handles: tuple[int, ...] = ()

    @property
    def scratch_path(self) -> str:
        return os.path.join(self.scratch_root, self.scratch_name)


def prepare_child(plan: ChildPlan) -> NoReturn:
    """Set the sandbox up around this process, wait for a run, run its code; never returns.

    Everything that does not depend on the run (the session, the uid, the scratch directory,
    the namespaces, the seccomp filter) is done before the run exists, so a run starts in a
    child that is ready for it. A set-up failure is reported on the run's status pipe once a
    run comes.
    """
    try:
        _detach(plan)
    except BaseException:  # nothing to report on, and no run to report to: the exit says it
        os._exit(SETUP_FAILED_EXIT)
    setup_error: str | None = None
    try:
        _confine(plan)
    except BaseException as error:  # any set-up failure is the sandbox's
        setup_error = f"{type(error).__name__}: {error}"
    try:
        limits = _take_run(plan.handoff_fd, plan.import_handles)
    except BaseException:  # the server went away, or sent no pipes: no run to report to
        os._exit(SETUP_FAILED_EXIT)
    code = ""
    if setup_error is None:
        try:
            # In namespaces mode the relay and the init are processes of the uid too.
            _set_limits(limits, helper_processes=2 if plan.namespaces else 0)
            _replace_stdio()
            code = protocol.read_code(0)
        except BaseException as error:
            setup_error = f"{type(error).__name__}: {error}"
    if setup_error is not None:
        report({"setup_error": setup_error})
        os._exit(SETUP_FAILED_EXIT)
    report({"ready": True})
    _execute(code)


def report(message: dict[str, object]) -> None:
    """Write one status line to the server; a closed pipe is ignored (the run ends anyway)."""
    with contextlib.suppress(OSError):
        os.write(STATUS_FD, json.dumps(message).encode() + b"\n")


def _detach(plan: ChildPlan) -> None:
    """A session of its own, default signals, and no descriptor but stdio and the handoff."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    for number in _SIGNALS_TO_RESET:
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    # 0-2 stay the server's own stdio until the run's pipes replace them.
    _close_all_but(STATUS_FD, (plan.handoff_fd, *plan.import_handles))


def _take_run(handoff_fd: int, import_handles: tuple[int, ...]) -> RunLimits:
    """Wait for the run: its limits and its four pipes, which become descriptors 0-3."""
    with socket.socket(fileno=handoff_fd) as handoff:
        data, descriptors, _, _ = socket.recv_fds(
            handoff, 64 * 1024, protocol.RUN_DESCRIPTORS, socket.MSG_CMSG_CLOEXEC
        )
    if len(descriptors) != protocol.RUN_DESCRIPTORS:
        raise ValueError("the run came without its pipes")
    stdin_fd, stdout_fd, stderr_fd, status_fd = descriptors
    # The pipes arrived as descriptors 3 or above (0-2 are open), so the stdio targets never
    # clobber a source; the status pipe is moved last.
    os.dup2(stdin_fd, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    if status_fd != STATUS_FD:
        os.dup2(status_fd, STATUS_FD)
    _close_all_but(STATUS_FD + 1, import_handles)
    return RunLimits(**json.loads(data))


def _close_all_but(low: int, kept: tuple[int, ...]) -> None:
    """Close every descriptor from `low` up, except those in `kept`."""
    for descriptor in sorted(kept):
        if descriptor >= low:
            os.closerange(low, descriptor)
            low = descriptor + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


def _confine(plan: ChildPlan) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The kernel's OOM killer picks a run first, never the worker or the server. Written as
    # root: right after the uid change /proc/self belongs to root, not yet to the run.
    with open("/proc/self/oom_score_adj", "w") as oom_score:
        oom_score.write(str(_OOM_SCORE_ADJ))
    os.setgroups([])
    os.setresgid(plan.gid, plan.gid, plan.gid)
    os.setresuid(plan.uid, plan.uid, plan.uid)
    # What the run creates is its own alone: with the usual 022, a file it wrote to a shared
    # directory (plain mode's /tmp) would be readable by a concurrent run of another uid.
    os.umask(0o077)
    # Both set after the uid change, which clears them: the run dies with the server.
    namespaces.set_parent_death_signal(signal.SIGKILL)
    namespaces.set_dumpable()
    os.mkdir(plan.scratch_path, 0o700)
    os.chdir(plan.scratch_path)
    # The seccomp filter is loaded before the run exists: its set-up (the kernel compiles it)
    # is not part of the run's start, and the child waits for its run confined already.
    if plan.namespaces:
        _enter_namespaces(plan)  # loads it before forking the init and the run's process
    else:
        _install_seccomp()
    _clear_environment(plan.scratch_path)


def _enter_namespaces(plan: ChildPlan) -> None:
    """New user, mount, network, ipc, uts and pid namespaces; private /tmp and /dev/shm.

    Only children of this process enter the new pid namespace. The first becomes its pid 1,
    a minimal init that reaps orphans (and dies with this process, which takes the whole
    namespace with it); the second returns and runs the code as pid 2, so signals behave as
    they do outside. This process relays the code's ending as its own and never returns.
    """
    namespaces.unshare(namespaces.RUN_NAMESPACES)
    namespaces.map_own_ids(plan.uid, plan.gid)
    namespaces.mount("none", "/", None, namespaces.MS_REC | namespaces.MS_PRIVATE)
    scratch_fd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    for target in ("/tmp", "/dev/shm"):  # noqa: S108 - a private tmpfs, not a shared /tmp
        namespaces.mount(
            "tmpfs", target, "tmpfs", namespaces.MS_NOSUID | namespaces.MS_NODEV, _PRIVATE_TMPFS
        )
        if os.path.commonpath((target, plan.scratch_path)) == target:
            # The tmpfs hides the scratch directory (the default scratch root is in /tmp):
            # bind it back at the same path, so HOME, TMPDIR and getcwd() stay valid.
            os.makedirs(plan.scratch_path, mode=0o700)
            namespaces.mount(
                f"/proc/self/fd/{scratch_fd}", plan.scratch_path, None, namespaces.MS_BIND
            )
            os.chdir(plan.scratch_path)
    os.close(scratch_fd)
    namespaces.drop_all_capabilities()
    # The init and this relay are processes of the run's uid too: filtered like the run, and
    # not dumpable, so that the run's code cannot write their memory through /proc/<pid>/mem
    # (and run code there, outside the filter and the rlimits).
    _install_seccomp()
    namespaces.set_dumpable(False)
    init_pid = os.fork()
    if init_pid == 0:
        _be_init()
    pid = os.fork()
    if pid == 0:
        namespaces.set_dumpable()  # the run's own process: /proc/self is the run's
        return
    _relay_ending(pid, init_pid)


def _be_init() -> NoReturn:
    """Pid 1 of the run's pid namespace: reap every orphan until the relay process dies."""
    namespaces.set_parent_death_signal(signal.SIGKILL)
    os.closerange(0, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    while True:
        signal.sigwait({signal.SIGCHLD})
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


def _relay_ending(pid: int, init_pid: int) -> NoReturn:
    os.closerange(0, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    _, status = os.waitpid(pid, 0)
    # The init would die with this process anyway: killed first, it and whatever the run
    # left in the namespace end while this process ends, not after it.
    with contextlib.suppress(OSError):
        os.kill(init_pid, signal.SIGKILL)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status))


def _clear_environment(scratch_path: str) -> None:
    os.environ.clear()
    os.environ["HOME"] = scratch_path
    os.environ["TMPDIR"] = scratch_path
    tempfile.tempdir = None
    # The server runs with -P (no start directory on sys.path) and keeps only absolute
    # entries; this guards that no file the run writes could shadow a module.
    sys.path[:] = [entry for entry in sys.path if os.path.isabs(entry) and entry != scratch_path]
    sys.argv[:] = [CODE_FILENAME]


def _set_limits(limits: RunLimits, helper_processes: int) -> None:
    # The address space limit is on top of what the preloaded interpreter already maps.
    with open("/proc/self/statm", "rb") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cpu_seconds = cpu_limit_seconds(limits)
    for limit, value in (
        (resource.RLIMIT_AS, mapped + limits.memory_mb * 1024 * 1024),
        (resource.RLIMIT_NPROC, limits.processes + helper_processes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_MEMLOCK, 0),
        (resource.RLIMIT_MSGQUEUE, 0),
    ):
        resource.setrlimit(limit, (value, value))
    # SIGXCPU at the soft limit, SIGKILL one second later if the run ignores it.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def _install_seccomp() -> None:
    from sandbox_task import seccomp  # preloaded by the server

    seccomp.install()


def _replace_stdio() -> None:
    # The server's stream objects may hold buffered bytes of its own: new ones on 0-2.
    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
        2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1
    )


def _execute(code: str) -> NoReturn:
    """Run the code as `__main__`, ending the process like `python file.py` would."""
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    linecache.cache[CODE_FILENAME] = (len(code), None, code.splitlines(True), CODE_FILENAME)
    try:
        exec(compile(code, CODE_FILENAME, "exec"), module.__dict__)  # noqa: S102 - the point
        exit_code = 0
    except SystemExit as exit_request:
        exit_code = _exit_code_of(exit_request)
    except BaseException as error:  # reported like the interpreter would
        report({"exception": type(error).__name__, "memory": isinstance(error, MemoryError)})
        _print_user_traceback(error)
        exit_code = 1
    os._exit(_finish(exit_code))


def _exit_code_of(exit_request: SystemExit) -> int:
    code = exit_request.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):  # the exit status is what matters now
        print(code, file=sys.stderr)
    return 1


def _print_user_traceback(error: BaseException) -> None:
    # The first frame is _execute's; the user sees their own frames only.
    user_frames = error.__traceback__.tb_next if error.__traceback__ else None
    with contextlib.suppress(Exception):  # e.g. no memory left to format it
        frames, tail = _count_frames(user_frames)
        if frames <= 2 * _TRACEBACK_EDGE_FRAMES:
            traceback.print_exception(type(error), error, user_frames, file=sys.stderr)
            return
        first = traceback.extract_tb(user_frames, limit=_TRACEBACK_EDGE_FRAMES)
        last = traceback.extract_tb(tail, limit=_TRACEBACK_EDGE_FRAMES)
        omitted = frames - 2 * _TRACEBACK_EDGE_FRAMES
        sys.stderr.write(
            "Traceback (most recent call last):\n"
            + "".join(first.format())
            + f"  [... {omitted} frames omitted ...]\n"
            + "".join(last.format())
            + "".join(traceback.format_exception_only(type(error), error))
        )


def _count_frames(frames: types.TracebackType | None) -> tuple[int, types.TracebackType | None]:
    """How many frames `frames` holds, and where its last _TRACEBACK_EDGE_FRAMES begin.

    A plain walk: the traceback module's own would work out every frame's positions.
    """
    tail: collections.deque[types.TracebackType] = collections.deque(maxlen=_TRACEBACK_EDGE_FRAMES)
    count = 0
    while frames is not None:
        tail.append(frames)
        count += 1
        frames = frames.tb_next
    return count, tail[0] if tail else None


def _finish(exit_code: int) -> int:
    """Wait for the code's non-daemon threads and flush its output, as interpreter exit does."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe loses the rest
            stream.flush()
    return exit_code
