"""`horizon exec FILE.py`: run Python in the sandbox (`POST /execute`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from horizon_cli.errors import UsageProblem
from horizon_cli.state import JsonOption, State, state

UNFINISHED = ("QUEUED", "RUNNING")
POLL_S = 0.5
# TIMEOUT without an exit code exits like `timeout(1)`; any other failure without one, 1.
STATUS_CODES = {"COMPLETED": 0, "TIMEOUT": 124}


def register(app: typer.Typer) -> None:
    app.command("exec")(execute)


def read_source(source: str) -> str:
    try:
        return sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageProblem(f"cannot read {source}: {error}") from error


def execute(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A Python file; - reads the code from stdin.")],
    stdin: Annotated[
        Path | None,
        typer.Option(
            "--stdin", exists=True, dir_okay=False, help="A file the program reads on stdin."
        ),
    ] = None,
    timeout_s: Annotated[
        float | None, typer.Option(help="Time limit of the run, in seconds.")
    ] = None,
    memory_mb: Annotated[int | None, typer.Option(help="Memory limit of the run, in MiB.")] = None,
    json_mode: JsonOption = False,
) -> None:
    """Run a Python program in the sandbox: print its stdout and stderr, exit with its code."""
    current = state(ctx, json_mode)
    body: dict[str, Any] = {"language": "python", "code": read_source(source)}
    if stdin is not None:
        body["stdin"] = stdin.read_text(encoding="utf-8")
    limits = {"timeout_s": timeout_s, "memory_mb": memory_mb}
    body.update({key: value for key, value in limits.items() if value is not None})
    answer = current.client.post_answer("/execute", body)
    result = answer.json()
    if answer.status_code == 202 or result.get("status") in UNFINISHED:
        result = wait(current, result["execution_id"])
    current.output.answer(result, lambda: show(current, result))
    code = result.get("exit_code")
    raise typer.Exit(code if isinstance(code, int) else STATUS_CODES.get(result.get("status"), 1))


def wait(current: State, execution_id: str) -> dict[str, Any]:
    """Poll `GET /executions/{id}` until the run ended (the API waits ~20 s, runs may not)."""
    while True:
        result = current.client.get(f"/executions/{execution_id}")
        if result.get("status") not in UNFINISHED:
            return result
        time.sleep(POLL_S)


def show(current: State, result: dict[str, Any]) -> None:
    sys.stdout.write(result.get("stdout") or "")
    sys.stdout.flush()
    sys.stderr.write(result.get("stderr") or "")
    sys.stderr.flush()
    if result.get("truncated"):
        current.output.note("(output truncated at the run's output limit)")
    if result.get("status") != "COMPLETED":
        reason = f": {result['error']}" if result.get("error") else ""
        current.output.note(f"execution {result.get('status', '').lower()}{reason}", style="red")
