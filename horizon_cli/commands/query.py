"""`horizon query`: the analytics questions (`POST /api/v1/query`), answered in a table.

Conditions are written `FIELD OP VALUE` with OP one of = != > >= < <= and `in` (a comma
list); a value is read as JSON when it is JSON (`200`, `true`, `"200"`), else as text.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer

from horizon_cli.errors import UsageProblem
from horizon_cli.output import Output
from horizon_cli.state import JsonOption, state

_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(!=|>=|<=|=|>|<|\s+in\s+)\s*(.*?)\s*$")
_OPERATORS = {"=": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "in": "in"}
METRICS = ("count", "sum", "avg", "min", "max", "p50", "p95", "p99")


def register(app: typer.Typer) -> None:
    app.command()(query)


def scalar(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_filter(
    conditions: list[str], time_from: str | None = None, time_to: str | None = None
) -> dict[str, Any] | None:
    """The API's filter object for `--where` conditions and a time range.

    Raises:
        UsageProblem: a condition that is not `FIELD OP VALUE`.
    """
    found: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        match = _CONDITION.match(condition)
        if match is None or not match.group(3):
            raise UsageProblem(
                f"cannot read the condition {condition!r}: write FIELD OP VALUE, "
                "e.g. 'http_status>=500', 'api_id=api-123' or 'error_code in 500,503'"
            )
        name, operator, value = match.group(1), _OPERATORS[match.group(2).strip()], match.group(3)
        parsed = (
            [scalar(part.strip()) for part in value.split(",")]
            if operator == "in"
            else scalar(value)
        )
        found.setdefault(name, {})[operator] = parsed
    result: dict[str, Any] = {
        name: ops["eq"] if list(ops) == ["eq"] else ops for name, ops in found.items()
    }
    if time_from or time_to:
        result["timestamp"] = {
            key: value for key, value in (("from", time_from), ("to", time_to)) if value
        }
    return result or None


def build_body(
    job_ids: list[str],
    metric: str,
    field: str | None,
    where: list[str],
    time_from: str | None,
    time_to: str | None,
    window: str | None,
    sliding: bool,
    top: int | None,
    anchors: list[str],
    within: str | None,
    anchor_jobs: list[str],
) -> dict[str, Any]:
    """The `POST /api/v1/query` body for the command's options.

    Raises:
        UsageProblem: options that do not make a question (the API checks the rest, 422).
    """
    body: dict[str, Any] = {"job_ids": job_ids, "metric": metric}
    if field:
        body["field"] = field
    condition = parse_filter(where, time_from, time_to)
    if condition:
        body["filter"] = condition
    if window:
        body["window"] = {"size": window, "mode": "sliding" if sliding else "tumbling"}
    if top is not None:
        body["top"] = top
    if anchors or within or anchor_jobs:
        if not within:
            raise UsageProblem("--after needs --within (how long after each anchor event)")
        relative: dict[str, Any] = {"duration": within, "filter": parse_filter(anchors) or {}}
        if anchor_jobs:
            relative["job_ids"] = anchor_jobs
        body["relative_to"] = relative
    return body


def query(
    ctx: typer.Context,
    job_ids: Annotated[list[str], typer.Argument(help="The jobs to ask about (up to 20).")],
    metric: Annotated[
        str, typer.Option("--metric", "-m", help=f"One of {', '.join(METRICS)}.")
    ] = "count",
    field: Annotated[
        str | None, typer.Option("--field", "-f", help="The numeric field (not for count).")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", "-w", help="A condition, e.g. 'http_status>=500' (repeatable)."),
    ] = None,
    time_from: Annotated[
        str | None, typer.Option("--from", help="Entries at or after (ISO 8601).")
    ] = None,
    time_to: Annotated[str | None, typer.Option("--to", help="Entries before (ISO 8601).")] = None,
    window: Annotated[str | None, typer.Option(help="Windows of this size: 30s, 10m, 1h.")] = None,
    sliding: Annotated[
        bool, typer.Option(help="Sliding windows instead of clock-aligned ones.")
    ] = False,
    top: Annotated[int | None, typer.Option(min=1, help="How many windows, busiest first.")] = None,
    after: Annotated[
        list[str] | None,
        typer.Option(
            help="Anchor events, e.g. 'event_type=deployment': one row per anchor (repeatable)."
        ),
    ] = None,
    within: Annotated[
        str | None, typer.Option(help="With --after: how long after each anchor, e.g. 1h.")
    ] = None,
    anchor_job: Annotated[
        list[str] | None,
        typer.Option(help="With --after: the jobs holding the anchors (default: the same)."),
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Ask an exact question of ingested logs.

    \b
    horizon query JOB -m avg -f response_time_ms -w api_id=api-123 -w 'response_time_ms>100'
    horizon query JOB --where event_type=login --window 10m --sliding --top 3
    horizon query JOB --where 'error_code>=500' --after event_type=deployment --within 1h
    """
    current = state(ctx, json_mode)
    body = build_body(
        job_ids,
        metric,
        field,
        where or [],
        time_from,
        time_to,
        window,
        sliding,
        top,
        after or [],
        within,
        anchor_job or [],
    )
    answer = current.client.post("/api/v1/query", body)
    current.output.answer(answer, lambda: render(current.output, answer))


def render(output: Output, answer: dict[str, Any]) -> None:
    """The windows or anchor rows, if any, then the answer itself."""
    what = answer["metric"] + (f"({answer['field']})" if answer.get("field") else "")
    # For count the metric is the count: one column of it is enough.
    extra = () if answer["metric"] == "count" else (what,)
    if answer.get("windows") is not None:
        size = (answer.get("window") or {}).get("size", "")
        output.table(
            ("start", "end", "count", *extra),
            (
                (w["start"], w["end"], w["count"], *((w["value"],) if extra else ()))
                for w in answer["windows"]
            ),
            title=f"busiest windows of {size}",
        )
    if answer.get("rows") is not None:
        output.table(
            ("anchor", "job_id", "line", "start", "end", "count", *extra),
            (
                (
                    row["anchor"].get("event_type") or row["anchor"].get("version_id") or "",
                    row["anchor"].get("job_id"),
                    row["anchor"].get("line"),
                    row["start"],
                    row["end"],
                    row["count"],
                    *((row["value"],) if extra else ()),
                )
                for row in answer["rows"]
            ),
            title="after each anchor event",
        )
    output.table(
        (what, "n", "source"), [(answer.get("value"), answer.get("n"), answer.get("source"))]
    )
