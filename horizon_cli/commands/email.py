"""`horizon email ...`: nonprofits and templated email jobs (`/nonprofits`, `/send-email`,
`/jobs/{id}/status`, `/jobs/{id}/emails`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from horizon_cli.errors import UsageProblem
from horizon_cli.state import JsonOption, state

app = typer.Typer(help="Nonprofits and templated email jobs.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="The email job's id (from `horizon email send`).")]
Limit = Annotated[int, typer.Option("--limit", "-n", min=1, help="How many to show at most.")]
NONPROFIT_COLUMNS = ("email", "name", "address", "created_at")
STATUS_COLUMNS = (
    "job_id",
    "status",
    "total_emails",
    "sent",
    "failed",
    "created_at",
    "completed_at",
)


def text_or_file(value: str) -> str:
    """`@path` reads the file (templates are often longer than a command line)."""
    if not value.startswith("@"):
        return value
    try:
        return Path(value[1:]).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageProblem(f"cannot read {value[1:]}: {error.strerror or error}") from error


def _rows(items: list[dict[str, Any]], columns: tuple[str, ...]) -> list[list[Any]]:
    return [[item.get(column) for column in columns] for item in items]


@app.command()
def add(
    ctx: typer.Context,
    address_email: Annotated[str, typer.Argument(metavar="EMAIL", help="The nonprofit's address.")],
    name: Annotated[str, typer.Option(help="The nonprofit's name.")],
    address: Annotated[str, typer.Option(help="Its postal address.")],
    json_mode: JsonOption = False,
) -> None:
    """Register a nonprofit."""
    current = state(ctx, json_mode)
    created = current.client.post(
        "/nonprofits", {"email": address_email, "name": name, "address": address}
    )
    current.output.answer(created, lambda: current.output.fields(created))


@app.command()
def nonprofits(
    ctx: typer.Context,
    domain: Annotated[str | None, typer.Option(help="Only addresses at this domain.")] = None,
    limit: Limit = 50,
    json_mode: JsonOption = False,
) -> None:
    """The registered nonprofits, by domain then address."""
    current = state(ctx, json_mode)
    params = {"domain": domain} if domain else None
    found = list(current.client.pages("/nonprofits", "nonprofits", limit, params))
    current.output.answer(
        found, lambda: current.output.table(NONPROFIT_COLUMNS, _rows(found, NONPROFIT_COLUMNS))
    )


@app.command()
def remove(
    ctx: typer.Context,
    address_email: Annotated[str, typer.Argument(metavar="EMAIL")],
    json_mode: JsonOption = False,
) -> None:
    """Remove a registered nonprofit."""
    current = state(ctx, json_mode)
    current.client.delete(f"/nonprofits/{quote(address_email, safe='@')}")
    current.output.answer(
        {"deleted": address_email}, lambda: current.output.line(f"removed {address_email}")
    )


@app.command()
def send(
    ctx: typer.Context,
    to: Annotated[list[str], typer.Option("--to", help="A registered nonprofit (repeatable).")],
    template: Annotated[
        str, typer.Option(help="The body, with {name} {address} {email}; @FILE reads a file.")
    ],
    subject: Annotated[str | None, typer.Option(help="The subject (same placeholders).")] = None,
    cc: Annotated[list[str] | None, typer.Option(help="A cc address (repeatable).")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Retry safely: the same job within 24 h.")
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Queue one templated email to each recipient; prints the job to follow."""
    current = state(ctx, json_mode)
    body: dict[str, Any] = {"emails": to, "template": text_or_file(template)}
    if subject is not None:
        body["subject"] = subject
    if cc:
        body["cc"] = cc
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    accepted = current.client.post("/send-email", body, headers=headers)
    current.output.answer(
        accepted,
        lambda: current.output.line(
            f"email job {accepted['job_id']} {accepted['status']}: {accepted['total_emails']} emails; "
            f"`horizon email status {accepted['job_id']}` follows it"
        ),
    )


@app.command()
def status(ctx: typer.Context, job_id: JobId, json_mode: JsonOption = False) -> None:
    """An email job's status and counts."""
    current = state(ctx, json_mode)
    found = current.client.get(f"/jobs/{job_id}/status")
    current.output.answer(found, lambda: current.output.fields(found))


@app.command()
def jobs(ctx: typer.Context, limit: Limit = 50, json_mode: JsonOption = False) -> None:
    """The caller's email jobs."""
    current = state(ctx, json_mode)
    found = list(current.client.pages("/jobs", "jobs", limit))
    current.output.answer(
        found, lambda: current.output.table(STATUS_COLUMNS, _rows(found, STATUS_COLUMNS))
    )


@app.command()
def emails(
    ctx: typer.Context, job_id: JobId, limit: Limit = 50, json_mode: JsonOption = False
) -> None:
    """Each recipient's email of a job: subject, status, message id, error."""
    current = state(ctx, json_mode)
    found = list(current.client.pages(f"/jobs/{job_id}/emails", "emails", limit))
    columns = ("to", "subject", "status", "message_id", "sent_at", "error")
    current.output.answer(found, lambda: current.output.table(columns, _rows(found, columns)))
