"""Finalizing a task whose process died without its `exit` (SIGKILL, OOM, Fargate stop).

Two ways to notice: the local launcher sees its subprocess end with a failure status, and
any read of a task whose lease lapsed (nothing renewed it for `AGENT_LEASE_S`) covers ECS,
where nobody watches the process. Either way the finalization is the task process's own
ending, done by someone else: a conditional claim on the record (`exit_claim`, so the real
exit and this one can never both be stored), then the `exit` is stored under the next seq
and pushed by a `Broadcaster` that resumes from the cursors of the last heartbeat, then the
task is closed the usual way (see horizon.agent.delivery).

Whom to send what: the task process pushes every message to every subscriber it serves
right after storing it, and records which subscriptions it serves when one comes or goes
(within 0.1 s). So a subscription it recorded has had everything stored before the crash
and gets only the `exit`; any other subscription is replayed from its `after_seq`. The
narrow windows left: a crash between storing a message and pushing it (that one message is
missing; the exit's seq shows the gap and a subscribe with `after_seq` fills it), and a
subscriber caught up less than 0.1 s before the crash (it may get repeats, same seqs).
"""

from __future__ import annotations

import logging

from horizon.agent.delivery import Broadcaster, Sender
from horizon.agent.models import TaskRecord, TaskStatus
from horizon.agent.store import TaskStore
from horizon.agent.subscriptions import TaskSubscriptions
from horizon.clock import epoch_s
from horizon.errors import ConflictError
from horizon.realtime.connections import ConnectionStore
from horizon.realtime.notifier import Notifier

logger = logging.getLogger(__name__)

STORE_ATTEMPTS = 3  # a process that is alive after all may take a seq meanwhile


def stop_reason(returncode: int) -> str:
    """Describe how a task process ended: by signal N (negative code) or with a code."""
    if returncode < 0:
        return f"the task process stopped unexpectedly (signal {-returncode})"
    return f"the task process stopped unexpectedly (exit code {returncode})"


def finalize_lost(
    owner: str,
    task_id: str,
    reason: str,
    *,
    lapsed_at: int | None = None,
    store: TaskStore | None = None,
    subscriptions: TaskSubscriptions | None = None,
    notifier: Notifier | None = None,
    connections: ConnectionStore | None = None,
) -> bool:
    """End the task as failed with `reason`, unless its process (or a reaper) already did.

    Args:
        lapsed_at: only if the lease ended before this epoch second (the read-side check);
            None when the caller knows the process is gone (the local launcher).

    Returns:
        Whether this call finalized the task.
    """
    store = store or TaskStore()
    if not store.claim_exit(owner, task_id, "reaper", TaskStatus.FAILED, lapsed_at):
        return False
    logger.warning("task %s: %s", task_id, reason)
    record = store.get(owner, task_id)
    sender = Sender(
        owner,
        task_id,
        subscriptions or TaskSubscriptions(),
        notifier or Notifier(),
        connections or ConnectionStore(),
    )
    broadcaster = Broadcaster(store, sender)
    for _ in range(STORE_ATTEMPTS):
        last = store.last_message(owner, task_id)
        seq = last.seq if last else 0
        if last is not None and last.is_exit:
            # The process stored its exit and died before closing: deliver that one (to the
            # subscribers it served too: whether it reached them is not known).
            broadcaster.resume(seq, _served(record, seq - 1))
            broadcaster.tick(force=True)
            break
        broadcaster.resume(seq, _served(record, seq))
        try:
            broadcaster.emit_exit(TaskStatus.FAILED, None, reason)
            break
        except ConflictError:
            continue
    broadcaster.close()
    return True


def _served(record: TaskRecord, seq: int) -> dict[str, tuple[str, int]]:
    """The subscriptions the task process served, as served up to `seq`."""
    return {connection_id: (token, seq) for connection_id, (token, _) in record.cursors.items()}


def finalize_if_lapsed(
    store: TaskStore,
    record: TaskRecord,
    subscriptions: TaskSubscriptions | None = None,
    notifier: Notifier | None = None,
    connections: ConnectionStore | None = None,
) -> bool:
    """Finalize the task of `record` when its lease lapsed; return whether it was."""
    now = epoch_s()
    if not record.lease_lapsed(now):
        return False
    reason = (
        "the task process stopped unexpectedly (no heartbeat since its lease ended)"
        if record.status is TaskStatus.RUNNING
        else "the task process never started"
    )
    return finalize_lost(
        record.owner,
        record.task_id,
        reason,
        lapsed_at=now,
        store=store,
        subscriptions=subscriptions,
        notifier=notifier,
        connections=connections,
    )
