"""Hostile programs aimed at the teardown: trees too deep to walk, deep trees in the shared
directories, and directories planted by one run in another run's scratch.

Safe outcome: everything is removed, the next run with the same uid finds nothing, and the
uid serves again (it is not quarantined). The `runner` fixture also checks that the scratch
root holds nothing new and that the same server still serves.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

from sandbox_task.contract import RunResult
from tests.security.support import Runner, release_waiting_runs, wait_for_scratch_holding


def uid_of(result: RunResult) -> int:
    """The uid a run printed last."""
    assert result.status == "COMPLETED", result
    return int(result.stdout.split()[-1])


def assert_uid_serves_again(runner: Runner, uid: int) -> None:
    """A uid whose teardown failed is quarantined; one that succeeded comes back.

    Each free uid is handed out within as many runs as the sandbox has uids, in whatever
    order the server picks them, once its files are removed: that may take the janitor a while
    after the run's answer (a deep tree), so the runs go on until it is back or 30 s passed.
    """
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while uid not in seen[-len(runner.sandbox.uid_range) :] and time.monotonic() < deadline:
        seen.append(uid_of(runner.run("import os; print(os.getuid())")))
    assert uid in seen, f"uid {uid} was not handed out again: {seen[-40:]}"


def test_a_directory_chain_thousands_deep_and_closed_is_removed(runner):
    result = runner.run(
        """
        import os
        for _ in range(3000):
            os.mkdir("d")
            os.chdir("d")
        open("secret", "w").write("left")
        for _ in range(3000):
            os.chdir("..")
            os.chmod("d", 0)
        print(os.getuid())
        """,
        timeout_s=10.0,
    )

    assert_uid_serves_again(runner, uid_of(result))


def test_a_deep_tree_in_a_shared_directory_does_not_reach_the_next_run(runner):
    top = f"/tmp/{runner.tag}-deep"
    secret = "left by run 1 " + secrets.token_hex(8)
    first = runner.run(
        f"""
        import os
        os.makedirs({top!r})
        os.chdir({top!r})
        for _ in range(100):
            os.mkdir("d")
            os.chdir("d")
        open("secret", "w").write({secret!r})
        print(os.getuid())
        """
    )
    uid = uid_of(first)

    assert not os.path.lexists(top)  # plain mode: the host's /tmp
    path = os.path.join(top, *["d"] * 100, "secret")
    readers = [
        runner.run(
            f"""
            import os
            try:
                print(open({path!r}).read())
            except OSError as error:
                print(type(error).__name__)
            print(os.getuid())
            """
        )
        for _ in runner.sandbox.uid_range
    ]
    assert all(secret not in reader.stdout for reader in readers)
    assert uid in [uid_of(reader) for reader in readers]


def test_directories_planted_in_another_runs_open_scratch_are_removed(runner):
    holder_result: dict[str, RunResult] = {}

    def hold() -> None:
        holder_result["result"] = runner.run(
            """
            import os, time
            os.chmod(".", 0o777)
            open("open", "w").close()
            while not os.path.exists("release"):
                time.sleep(0.005)
            print(os.getuid())
            """,
            timeout_s=10.0,
        )

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holder_scratch = wait_for_scratch_holding(runner.scratch_root, "open")
        planter = runner.run(
            """
            import os
            planted = os.path.join(input(), "planted")
            try:
                os.makedirs(os.path.join(planted, "inner"))
                open(os.path.join(planted, "inner", "file"), "w").write("for the next run")
                os.chmod(os.path.join(planted, "inner"), 0o700)
                os.chmod(planted, 0o755)
                print("planted")
            except OSError as error:
                print(type(error).__name__)
            print(os.getuid())
            """,
            stdin=str(holder_scratch) + "\n",
        )
    finally:
        release_waiting_runs(runner.scratch_root)
        holder.join()

    holder_uid = uid_of(holder_result["result"])
    # plain mode shares the scratch root's view (namespaces mode may, depending on where the
    # scratch root lives): the plant must have happened for the test to mean anything
    if runner.mode == "plain":
        assert planter.stdout.startswith("planted"), planter
    assert uid_of(planter) != holder_uid
    assert_uid_serves_again(runner, holder_uid)
