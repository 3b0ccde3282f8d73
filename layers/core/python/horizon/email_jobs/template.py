"""Email templates as data: `{name}`, `{address}` and `{email}` placeholders, nothing more.

A template is parsed with `string.Formatter().parse` (the grammar users know, `{{`/`}}` for
literal braces) and checked field by field; it is rendered by plain substitution of the
parsed pieces, never with `str.format`, so no attribute, index or conversion can reach into
Python objects (`{name.__class__}`, `{0}`, `{name[0]}`, `{name!r}`, `{name:>10}` are refused).
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from horizon.email_jobs.models import DeliveryStatus, EmailJob, Recipient, SentEmail
from horizon.errors import InvalidRequestError

FIELDS = ("name", "address", "email")

Piece = tuple[str, str | None]  # literal text, then the field after it (None: none)


def parse(template: str, what: str = "template") -> list[Piece]:
    """Parse `template` into (literal, field) pieces, refusing anything but the known fields.

    Raises:
        InvalidRequestError: unbalanced braces, an unknown field, or any attribute, index,
            conversion or format spec (422).
    """
    pieces: list[Piece] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InvalidRequestError(
            f"{what} is malformed: {error} (write {{{{ for a brace)"
        ) from error
    for literal, field, spec, conversion in parsed:
        if field is None:
            pieces.append((literal, None))
            continue
        if field not in FIELDS or conversion is not None or spec:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise InvalidRequestError(
                f"{what} may use only {{name}}, {{address}} and {{email}}; found {{{shown}}}"
            )
        pieces.append((literal, field))
    return pieces


def render(pieces: list[Piece], values: Mapping[str, str]) -> str:
    """Substitute `values` into parsed pieces (plain concatenation; no formatting)."""
    return "".join(literal + (values[field] if field else "") for literal, field in pieces)


def render_text(template: str, values: Mapping[str, str]) -> str:
    """Parse and render `template` (see `parse` for what it raises)."""
    return render(parse(template), values)


def emails_for(
    job: EmailJob, recipients: list[Recipient], status: DeliveryStatus
) -> list[SentEmail]:
    """Each recipient's email of `job`, rendered, in `status` (see `parse` for what it raises)."""
    subject, body = parse(job.subject, "subject"), parse(job.template, "template")
    return [
        SentEmail(
            to=recipient.email,
            cc=job.cc,
            subject=render(subject, recipient.values()),
            body=render(body, recipient.values()),
            status=status,
        )
        for recipient in recipients
    ]
