"""`horizon batch FILE|-`: many tasks at once (`POST /batch`), with live counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from horizon_cli.errors import UsageProblem, WorkFailed
from horizon_cli.realtime import follow
from horizon_cli.state import JsonOption, State, state

SHOWN_FAILURES = 10


def register(app: typer.Typer) -> None:
    app.command()(batch)
    app.command("batch-status")(batch_status)


def read_tasks(text: str) -> list[Any]:
    """The tasks of a batch file: a JSON array (strings or {task, client_ref}), else one task
    per non-blank line.

    Raises:
        UsageProblem: no task, or a JSON array that does not parse.
    """
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            tasks = json.loads(stripped)
        except ValueError as error:
            raise UsageProblem(f"the batch looks like a JSON array but is not: {error}") from error
    else:
        tasks = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
    if not tasks:
        raise UsageProblem("the batch holds no task")
    return tasks


def batch(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="A file of tasks (one per line, or a JSON array); - reads stdin.")
    ],
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Show live counts until the batch completed.")
    ] = False,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Send again with the same key: the same batch, queued once.")
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Send a batch of tasks; with --watch, follow it to the end (exit 1 if a task failed)."""
    current = state(ctx, json_mode)
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageProblem(f"cannot read {source}: {error.strerror or error}") from error
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    accepted = current.client.post("/batch", read_tasks(text), headers=headers)
    batch_id = accepted["batch_id"]
    if not watch:
        current.output.answer(
            accepted,
            lambda: current.output.line(
                f"batch {batch_id}: {accepted['task_count']} tasks queued; "
                f"`horizon batch-status {batch_id}` shows them"
            ),
        )
        return
    watch_batch(current, batch_id, accepted["task_count"])
    show(current, batch_id)


def batch_status(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch's id.")],
    json_mode: JsonOption = False,
) -> None:
    """A batch's counts and its failed tasks (exit 1 if a task failed)."""
    show(state(ctx, json_mode), batch_id)


def watch_batch(current: State, batch_id: str, task_count: int) -> None:
    last = {"seq": -1}
    with Progress(
        TextColumn(f"batch {batch_id[:8]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        console=current.output.err,
        disable=current.output.json_mode,
    ) as progress:
        bar = progress.add_task("batch", total=task_count, counts="queued")

        def handle(message: dict[str, Any]) -> bool:
            if message.get("type") != "batch" or message.get("seq", 0) < last["seq"]:
                return False
            last["seq"] = message.get("seq", 0)
            counts = message.get("counts") or {}
            ended = sum(counts.get(key, 0) for key in ("completed", "failed", "timeout"))
            text = "  ".join(f"{key} {value}" for key, value in counts.items())
            progress.update(bar, completed=ended, counts=text)
            return message.get("status") == "completed"

        def poll() -> bool:
            found = current.client.get(f"/batch/{batch_id}", {"limit": 1})
            return handle({**found, "type": "batch", "seq": last["seq"]})

        current.run(
            follow(
                current.realtime,
                {"action": "subscribe", "batch_id": batch_id},
                handle,
                poll,
                current.output.note,
            )
        )


def show(current: State, batch_id: str) -> None:
    found = current.client.get(f"/batch/{batch_id}", {"limit": 1})
    counts = found["counts"]
    failures = []
    if counts.get("failed") or counts.get("timeout"):
        # The failed ones first: `?status=` takes one status at a time.
        for status in ("failed", "timeout"):
            page = current.client.get(
                f"/batch/{batch_id}", {"status": status, "limit": SHOWN_FAILURES}
            )
            failures += page.get("tasks") or []
    summary = {
        key: found.get(key)
        for key in ("batch_id", "status", "task_count", "counts", "created_at", "completed_at")
    }

    def render() -> None:
        output = current.output
        output.line(
            f"batch {batch_id} {found['status']}: "
            + ", ".join(f"{value} {key}" for key, value in counts.items())
        )
        if failures:
            output.table(
                ("index", "task", "status", "exit", "error"),
                (
                    (
                        t["index"],
                        t["task"],
                        t["status"],
                        t.get("exit_code"),
                        t.get("error") or (t.get("stderr") or "")[-200:],
                    )
                    for t in failures
                ),
                title="tasks that did not complete",
            )

    current.output.answer({**summary, "failed_tasks": failures}, render)
    if failures:
        raise WorkFailed(
            f"{counts.get('failed', 0) + counts.get('timeout', 0)} of {found['task_count']} tasks did not complete"
        )
