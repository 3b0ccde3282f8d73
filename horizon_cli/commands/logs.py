"""Log ingestion: `upload`, `jobs`, `job`, `entries`, `errors`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from horizon_cli.errors import ApiError, WorkFailed
from horizon_cli.realtime import follow
from horizon_cli.state import JsonOption, State, state

# The API takes files up to MAX_UPLOAD_BYTES (4 MiB by default); larger ones go to S3
# through the presigned route. A 413 below this size (a smaller limit) switches too.
DIRECT_LIMIT_BYTES = 4 * 1024 * 1024
FIRST_INVALID = 5
FINISHED = ("completed", "failed")

JobId = Annotated[
    str, typer.Argument(help="The job's id (from `horizon upload` or `horizon jobs`)")
]
Limit = Annotated[int, typer.Option("--limit", "-n", min=1, help="How many to show at most.")]


def register(app: typer.Typer) -> None:
    app.command()(upload)
    app.command("jobs")(list_jobs)
    app.command("job")(show_job)
    app.command()(entries)
    app.command()(errors)


def upload(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help=".jsonl or .csv")
    ],
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Show the ingest's progress, then its counts.")
    ] = False,
    presigned: Annotated[
        bool, typer.Option(help="Send the file to S3 through a presigned POST (auto over 4 MiB).")
    ] = False,
    json_mode: JsonOption = False,
) -> None:
    """Upload a log file; with --watch, follow its ingest live and show the counts and the
    first invalid lines. Exits 1 when the job failed."""
    current = state(ctx, json_mode)
    accepted = send_file(current, file, presigned)
    job_id = accepted["job_id"]
    if not watch:
        current.output.answer(
            accepted,
            lambda: current.output.line(
                f"job {job_id} {accepted.get('status', 'queued')}: `horizon job {job_id}` "
                "shows its progress"
            ),
        )
        return
    watch_job(current, job_id)
    job = current.client.get(f"/api/v1/jobs/{job_id}")
    invalid = []
    if job.get("invalid"):
        invalid = list(
            current.client.pages(f"/api/v1/jobs/{job_id}/errors", "items", FIRST_INVALID)
        )
    current.output.answer(
        {"job": job, "first_invalid": invalid}, lambda: _summary(current, job, invalid)
    )
    if job.get("status") == "failed":
        raise WorkFailed(f"job {job_id} failed: {job.get('error') or 'no reason given'}")


def send_file(current: State, file: Path, presigned: bool) -> dict[str, Any]:
    if presigned or file.stat().st_size > DIRECT_LIMIT_BYTES:
        return current.client.upload_presigned(file)
    try:
        return current.client.upload_direct(file)
    except ApiError as error:
        if error.status != 413:
            raise
        current.output.note("too large for the API: sending it to S3 through a presigned POST")
        return current.client.upload_presigned(file)


def watch_job(current: State, job_id: str) -> dict[str, Any]:
    """Follow the job's progress over the WebSocket until it finished; return the last
    progress message. A progress bar on stderr unless in JSON mode."""
    last: dict[str, Any] = {"seq": -1}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[counts]}"),
        console=current.output.err,
        disable=current.output.json_mode,
        transient=False,
    ) as progress:
        bar = progress.add_task(f"job {job_id[:8]}", total=100, counts="queued")

        def handle(message: dict[str, Any]) -> bool:
            if message.get("type") != "progress" or message.get("job_id") != job_id:
                return False
            if message.get("seq", 0) < last["seq"]:
                return False  # an older snapshot racing a live update
            last.update(message)
            counts = (
                f"{message.get('status')}  lines {message.get('lines', 0)}  "
                f"valid {message.get('valid', 0)}  invalid {message.get('invalid', 0)}"
            )
            progress.update(bar, completed=message.get("percent", 0), counts=counts)
            return message.get("status") in FINISHED

        def poll() -> bool:
            job = current.client.get(f"/api/v1/jobs/{job_id}")
            return handle({**job, "type": "progress"})

        current.run(
            follow(
                current.realtime,
                {"action": "subscribe", "job_id": job_id},
                handle,
                poll,
                current.output.note,
            )
        )
    return last


def _summary(current: State, job: dict[str, Any], invalid: list[dict[str, Any]]) -> None:
    output = current.output
    output.line(
        f"job {job['job_id']} {job['status']}: {job.get('lines', 0)} lines, "
        f"{job.get('valid', 0)} valid, {job.get('invalid', 0)} invalid"
    )
    if invalid:
        output.table(
            ("line", "reason", "raw"),
            ((item["line"], item["reason"], item.get("raw", "")) for item in invalid),
            title=f"first {len(invalid)} invalid lines",
        )
        if job.get("invalid", 0) > len(invalid):
            output.note(f"all of them: horizon errors {job['job_id']}")


def list_jobs(ctx: typer.Context, limit: Limit = 50, json_mode: JsonOption = False) -> None:
    """The caller's ingest jobs."""
    current = state(ctx, json_mode)
    jobs = list(current.client.pages("/api/v1/jobs", "items", limit))
    current.output.answer(
        jobs,
        lambda: current.output.table(
            ("job_id", "file", "status", "lines", "valid", "invalid", "created"),
            (
                (
                    j["job_id"],
                    j["file_name"],
                    j["status"] if j["status"] != "processing" else f"{j['percent']}%",
                    j["lines"],
                    j["valid"],
                    j["invalid"],
                    j["created_at"][:16].replace("T", " "),
                )
                for j in jobs
            ),
        ),
    )


def show_job(ctx: typer.Context, job_id: JobId, json_mode: JsonOption = False) -> None:
    """One job: status, progress, counts, times, error."""
    current = state(ctx, json_mode)
    job = current.client.get(f"/api/v1/jobs/{job_id}")
    current.output.answer(job, lambda: current.output.fields(job))


def entries(
    ctx: typer.Context,
    job_id: JobId,
    limit: Limit = 20,
    json_mode: JsonOption = False,
) -> None:
    """The job's valid entries, in line order."""
    current = state(ctx, json_mode)
    items = list(current.client.pages(f"/api/v1/jobs/{job_id}/entries", "items", limit))
    shown = ("line", "timestamp", "level", "service", "message")
    current.output.answer(
        items,
        lambda: current.output.table(
            (*shown, "other fields"),
            (
                (
                    *(item.get(key) for key in shown),
                    {key: value for key, value in item.items() if key not in shown} or None,
                )
                for item in items
            ),
        ),
    )


def errors(
    ctx: typer.Context,
    job_id: JobId,
    limit: Limit = 20,
    json_mode: JsonOption = False,
) -> None:
    """The job's invalid lines with their reasons."""
    current = state(ctx, json_mode)
    items = list(current.client.pages(f"/api/v1/jobs/{job_id}/errors", "items", limit))
    current.output.answer(
        items,
        lambda: current.output.table(
            ("line", "reason", "raw"),
            ((item["line"], item["reason"], item.get("raw", "")) for item in items),
        ),
    )
