"""Hostile programs that write outside their scratch, plant links for the runner, leave files
for the next run, or read what is not theirs.

Safe outcome: nothing outside the run's scratch changes or survives the run, the runner's
cleanup never follows a link the run planted, and no run reads another run's files or a file
that is not world-readable. The `runner` fixture also checks that the scratch root is empty
afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy
import pytest

from sandbox_task import seccomp
from tests.security.support import release_waiting_runs, wait_for_scratch_holding

REPOSITORY = Path(__file__).resolve().parents[2]
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


@dataclass(frozen=True)
class Victim:
    """Root-owned files outside any scratch that the runs aim at."""

    directory: Path
    file: Path
    private_file: Path
    content: str

    def snapshot(self) -> dict[str, tuple[int, int, int, str]]:
        """Owner, mode, link count and content of every entry, to compare before and after."""
        state = {}
        for path in sorted(self.directory.iterdir()):
            info = path.lstat()
            content = path.read_text() if path.is_file() and not path.is_symlink() else ""
            state[path.name] = (info.st_uid, info.st_mode, info.st_nlink, content)
        return state


@pytest.fixture
def victim() -> Iterator[Victim]:
    # /var/tmp: outside the runs' scratch, and visible (read-only) in the namespaces mode too
    directory = Path(tempfile.mkdtemp(prefix="hz-victim-", dir="/var/tmp"))
    directory.chmod(0o755)
    content = "keep " + secrets.token_hex(8)
    file = directory / "victim.txt"
    file.write_text(content)
    file.chmod(0o644)
    private_file = directory / "private.txt"
    private_file.write_text("private " + content)
    private_file.chmod(0o600)
    yield Victim(directory, file, private_file, content)
    shutil.rmtree(directory, ignore_errors=True)


def passwd_state() -> tuple[int, int, int, int]:
    info = os.lstat("/etc/passwd")
    return info.st_uid, info.st_mode, info.st_nlink, info.st_size


def test_writes_outside_scratch_do_not_persist(runner, victim):
    name = f"{runner.tag}-outside"
    directories = [
        *SHARED_WRITABLE,
        "/etc",
        "/",
        str(REPOSITORY),
        str(REPOSITORY / "sandbox_task"),
        sysconfig.get_paths()["purelib"],
        str(runner.scratch_root),
        str(runner.scratch_root.parent),
        str(victim.directory),
    ]
    targets = [os.path.join(directory, name) for directory in directories]
    result = runner.run(
        f"""
        import os
        for path in {targets!r}:
            try:
                with open(path, "w") as target:
                    target.write("planted")
                os.chmod(path, 0o666)
                print("WROTE", path)
            except OSError as error:
                print("denied", path, type(error).__name__)
        """
    )
    assert result.status == "COMPLETED", result
    survivors = [path for path in targets if os.path.lexists(path)]
    for path in survivors:
        os.unlink(path)
    assert survivors == []


def test_a_symlink_farm_in_scratch_is_not_followed_by_the_cleanup(runner, victim):
    before, passwd_before = victim.snapshot(), passwd_state()
    targets = [
        str(victim.file),
        str(victim.directory),
        "/etc/passwd",
        "/",
        str(runner.scratch_root),
    ]
    result = runner.run(
        f"""
        import os
        for number, target in enumerate({targets!r}):
            os.symlink(target, f"link{{number}}")
        os.makedirs("deep/er")
        os.symlink({str(victim.directory)!r}, "deep/er/victims")
        for path in ("link0", "link2", "deep/er/victims/victim.txt"):
            try:
                os.chmod(path, 0o777)
                print("CHMODDED", path)
            except OSError as error:
                print("denied", path, type(error).__name__)
        # the scratch directory itself becomes a link to the victims' directory
        here = os.getcwd()
        try:
            os.rename(here, here + ".moved")
            os.symlink({str(victim.directory)!r}, here)
            print("planted")
        except OSError as error:  # EBUSY where the scratch is a mount point (namespaces)
            print("not planted", type(error).__name__)
        """
    )
    assert result.status == "COMPLETED", result
    assert "CHMODDED" not in result.stdout
    assert victim.snapshot() == before
    assert passwd_state() == passwd_before


def test_hardlinks_to_root_files_change_nothing(runner, victim):
    before, passwd_before = victim.snapshot(), passwd_state()
    result = runner.run(
        f"""
        import os
        for number, target in enumerate([{str(victim.file)!r}, "/etc/passwd"]):
            try:
                os.link(target, f"hard{{number}}")
                print("LINKED", target)
                os.chmod(f"hard{{number}}", 0o777)
                print("CHMODDED", target)
            except OSError as error:
                print("denied", target, type(error).__name__)
        """
    )
    assert result.status == "COMPLETED", result
    assert "CHMODDED" not in result.stdout
    assert victim.snapshot() == before
    assert passwd_state() == passwd_before


def test_links_planted_in_shared_directories_are_not_followed(runner, victim):
    before = victim.snapshot()
    planted = [
        f"{directory}/{runner.tag}-{kind}"
        for directory in SHARED_WRITABLE
        for kind in ("file", "dir")
    ]
    result = runner.run(
        f"""
        import os
        for path in {planted!r}:
            target = {str(victim.file)!r} if path.endswith("file") else {str(victim.directory)!r}
            try:
                os.symlink(target, path)
                print("planted", path)
            except OSError as error:
                print("denied", path, type(error).__name__)
        """
    )
    assert result.status == "COMPLETED", result
    assert victim.snapshot() == before
    survivors = [path for path in planted if os.path.lexists(path)]
    for path in survivors:
        os.unlink(path)
    assert survivors == []


def test_files_left_behind_are_not_seen_by_the_next_run(runner):
    marker = "marker-" + secrets.token_hex(8)
    name = f"{runner.tag}-left"
    first = runner.run(
        f"""
        import os
        places = [os.getcwd(), os.environ.get("HOME", "."), os.environ.get("TMPDIR", "."),
                  *{list(SHARED_WRITABLE)!r}]
        for directory in places:
            try:
                path = os.path.join(directory, {name!r})
                with open(path, "w") as target:
                    target.write({marker!r})
                os.chmod(path, 0o644)
            except OSError:
                pass
        print(os.getcwd())
        """
    )
    assert first.status == "COMPLETED", first
    first_scratch = first.stdout.strip()
    leftovers = [
        os.path.join(directory, name)
        for directory in (*SHARED_WRITABLE, first_scratch)
        if os.path.lexists(os.path.join(directory, name))
    ]
    second = runner.run(
        f"""
        import os
        places = [os.getcwd(), {first_scratch!r}, *{list(SHARED_WRITABLE)!r}]
        for directory in places:
            try:
                names = os.listdir(directory)
            except OSError:
                names = []
            for entry in {{{name!r}, *(entry for entry in names if {runner.tag!r} in entry)}}:
                try:
                    print("FOUND", entry, open(os.path.join(directory, entry)).read(100))
                except OSError:
                    pass
        print("looked")
        """
    )
    for path in leftovers:
        os.unlink(path)
    assert leftovers == []
    assert (second.status, second.stdout) == ("COMPLETED", "looked\n"), second


def test_a_run_cannot_read_another_runs_scratch_while_it_runs(runner):
    secret = "concurrent-secret-" + secrets.token_hex(8)
    holder_result = {}

    def hold() -> None:
        holder_result["result"] = runner.run(
            f"""
            import os, time
            with open("secret.txt", "w") as target:
                target.write({secret!r})
            while not os.path.exists("release"):
                time.sleep(0.005)
            print("released", os.getuid())
            """,
            timeout_s=10.0,
        )

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holder_scratch = wait_for_scratch_holding(runner.scratch_root, "secret.txt")
        reader = runner.run(
            f"""
            import os
            pids = [pid for pid in os.listdir("/proc") if pid.isdigit()]
            for path in [{str(holder_scratch / "secret.txt")!r},
                         *(f"/proc/{{pid}}/cwd/secret.txt" for pid in pids)]:
                try:
                    print("READ", path, open(path).read())
                except OSError:
                    pass
            try:
                print("LISTED", *os.listdir({str(runner.scratch_root)!r}))
            except OSError as error:
                print("denied listing", type(error).__name__)
            print("uid", os.getuid())
            """
        )
    finally:
        release_waiting_runs(runner.scratch_root)
        holder.join()
    assert holder_result["result"].stdout.startswith("released ")
    holder_uid = holder_result["result"].stdout.split()[1]
    assert reader.stdout.endswith("\n") and reader.stdout.split()[-1] != holder_uid
    assert reader.status == "COMPLETED", reader
    assert not reader.truncated
    assert secret not in reader.stdout
    assert "READ" not in reader.stdout
    # the scratch root is not listable; where the run sees a private copy of its path
    # (namespaces mode with the root in /tmp) the listing holds its own directory alone
    listed = [line.split()[1:] for line in reader.stdout.splitlines() if line.startswith("LISTED")]
    assert all(holder_scratch.name not in names and len(names) <= 1 for names in listed)


def test_files_that_are_not_world_readable_cannot_be_read(runner, victim):
    result = runner.run(
        f"""
        for path in [{str(victim.private_file)!r}, "/etc/shadow", "/root/.bash_history"]:
            try:
                print("READ", path, open(path).read())
            except OSError as error:
                print("denied", path, type(error).__name__)
        """
    )
    assert result.status == "COMPLETED", result
    assert "READ" not in result.stdout
    assert victim.content not in result.stdout


def test_files_in_scratch_do_not_shadow_modules(runner):
    result = runner.run(
        """
        import os, sys
        with open("colorsys.py", "w") as module:
            module.write("print('HIJACKED')\\n")
        os.makedirs("email", exist_ok=True)
        with open("email/__init__.py", "w") as module:
            module.write("print('HIJACKED')\\n")
        import colorsys, email
        print(colorsys.__file__.startswith(os.getcwd()), email.__file__.startswith(os.getcwd()))
        print(os.getcwd() in sys.path, "" in sys.path, "." in sys.path)
        """
    )
    assert result.status == "COMPLETED", result
    assert "HIJACKED" not in result.stdout
    assert result.stdout == "False False\nFalse False False\n"


def test_a_deep_tree_of_unreadable_directories_is_removed(runner):
    result = runner.run(
        """
        import os
        for _ in range(300):
            os.mkdir("d")
            os.chdir("d")
        for number in range(200):
            open(f"f{number}", "w").close()
        os.chdir("/")
        for root, directories, files in os.walk(os.environ["HOME"], topdown=False):
            os.chmod(root, 0)
        print("built")
        """,
        timeout_s=5.0,
    )
    assert (result.status, result.stdout) == ("COMPLETED", "built\n")


def test_special_files_cannot_be_created_in_scratch(runner):
    result = runner.run(
        """
        import os, stat
        for name, mode in (("null", stat.S_IFCHR), ("disk", stat.S_IFBLK)):
            try:
                os.mknod(name, mode | 0o666, os.makedev(1, 3))
                print("MADE", name)
            except OSError as error:
                print("denied", name, type(error).__name__)
        os.mkfifo("fifo")
        print("fifo made")
        """
    )
    assert result.status == "COMPLETED", result
    assert "MADE" not in result.stdout


def test_the_runner_and_the_libraries_cannot_be_modified(runner):
    files = [
        seccomp.__file__,
        str(REPOSITORY / "sandbox_task" / "server.py"),
        numpy.__file__,
        os.path.realpath(sys.executable),
    ]
    before = {path: os.stat(path) for path in files}
    result = runner.run(
        f"""
        import os
        for path in {files!r}:
            try:
                with open(path, "a") as target:
                    target.write("# planted")
                print("MODIFIED", path)
            except OSError as error:
                print("denied", path, type(error).__name__)
            for attempt in (lambda: os.chmod(path, 0o777), lambda: os.utime(path, (0, 0))):
                try:
                    attempt()
                    print("MODIFIED", path)
                except OSError:
                    pass
        """
    )
    assert result.status == "COMPLETED", result
    assert "MODIFIED" not in result.stdout
    after = {path: os.stat(path) for path in files}
    assert {p: (s.st_size, s.st_mtime_ns, s.st_mode) for p, s in after.items()} == {
        p: (s.st_size, s.st_mtime_ns, s.st_mode) for p, s in before.items()
    }


def test_many_files_and_big_files_within_the_limits_are_all_removed(runner):
    result = runner.run(
        """
        import os
        os.makedirs("many")
        for number in range(3000):
            open(f"many/{number}", "w").close()
        block = b"b" * (1024 * 1024 - 1)
        for number in range(16):
            with open(f"big{number}", "wb") as target:
                target.write(block)
        print(len(os.listdir("many")), sum(os.path.getsize(f"big{n}") for n in range(16)))
        """,
        timeout_s=5.0,
    )
    assert (result.status, result.stdout) == ("COMPLETED", f"3000 {16 * (1024 * 1024 - 1)}\n")


def test_what_a_run_creates_is_readable_by_its_own_uid_only(runner):
    # Plain mode shares /tmp between concurrent runs: a file written there with the usual
    # umask 022 would be readable by any other run that guessed its path.
    result = runner.run(
        """
        import os, tempfile
        path = os.path.join(tempfile.gettempdir(), "report.csv")
        with open(path, "w") as report:
            report.write("mine")
        os.mkdir("cache")
        print(oct(os.stat(path).st_mode & 0o777), oct(os.stat("cache").st_mode & 0o777))
        os.remove(path)
        """
    )
    assert result.status == "COMPLETED", result
    assert result.stdout == "0o600 0o700\n"
