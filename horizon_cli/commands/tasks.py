"""`horizon task "TEXT"`: an agent task over the WebSocket, its output streamed live."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import signal
import sys
from typing import Annotated, Any

import typer

from horizon_cli.errors import ExitCode
from horizon_cli.output import Output
from horizon_cli.state import JsonOption, State, state
from horizon_cli.task_stream import TaskStream

# A task that ended without an exit code of its own still exits with a telling one.
STATUS_CODES = {"completed": 0, "failed": 1, "cancelled": ExitCode.INTERRUPTED, "timeout": 124}


def register(app: typer.Typer) -> None:
    app.command()(task)


def task(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The task in words, e.g. 'echo hi'.")],
    json_mode: JsonOption = False,
) -> None:
    """Run an agent task: its stdout goes to stdout and its stderr to stderr as it runs, and
    `horizon` exits with the task's exit code. Ctrl-C cancels the task (twice: stop waiting).
    A dropped connection resumes where it stopped, printing nothing twice."""
    current = state(ctx, json_mode)
    exit_message = current.run(_run(current, text))
    raise typer.Exit(exit_code_of(exit_message, current.output))


def exit_code_of(message: dict[str, Any], output: Output) -> int:
    """The task's exit code; says on stderr why a task that did not complete ended."""
    status = message.get("status", "failed")
    code = message.get("exit_code")
    if status != "completed" and not output.json_mode:
        exited = f" (exit code {code})" if isinstance(code, int) else ""
        reason = f": {message['error']}" if message.get("error") else ""
        output.note(f"task {status}{exited}{reason}", style="red")
    return code if isinstance(code, int) else STATUS_CODES.get(status, ExitCode.FAILED)


async def _run(current: State, text: str) -> dict[str, Any]:
    output = current.output
    stream = TaskStream(current.realtime, lambda m: _write(output, m), output.note)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def interrupt() -> None:
        if stream.cancelling or stream.task_id is None:
            if main is not None:
                main.cancel()  # a second Ctrl-C (or one before the task exists): stop waiting
            return
        output.note(f"cancelling task {stream.task_id} (Ctrl-C again stops waiting)")
        stream.request_cancel()

    # Outside the main thread (or without signals) Ctrl-C simply stops waiting.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        return await stream.run(text)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)


def _write(output: Output, message: dict[str, Any]) -> None:
    if output.json_mode:
        output.json_line(message)
        return
    if message.get("type") != "output":
        return
    target = sys.stderr if message.get("stream") == "stderr" else sys.stdout
    data = message.get("data") or ""
    if message.get("encoding") == "base64":
        target.flush()
        target.buffer.write(base64.b64decode(data))
        target.buffer.flush()
    else:
        target.write(data)
        target.flush()
