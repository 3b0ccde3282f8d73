"""The GraphQL schema of `/graphql` and its execution: jobs and analytics queries.

The resolvers call the same services as the REST routers (`JobStore.get/list`, `Job.public`,
`QueryService.run` with a `QueryBody`), so the answers, owner scoping and error reasons are
those of REST. A domain error becomes a GraphQL error carrying its message and the status the
REST API would give (`extensions.status`); anything unexpected becomes "internal error" with
the trace in the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.language import ValueNode
from graphql.utilities import value_from_ast_untyped
from pydantic import ValidationError

from horizon.analytics import QueryBody, QueryService
from horizon.api.errors import status_for
from horizon.errors import HorizonError
from horizon.jobs import Job, JobStore

logger = logging.getLogger(__name__)

# A document of more tokens than this is refused before parsing completes: the schema's
# useful documents are a few hundred tokens, and parsing cost grows with the document.
MAX_TOKENS = 5_000
MAX_JOBS_PAGE = 100

# Every root field is nullable: a resolver's error nulls its field, never `data` itself, so
# `data: null` means execution never started (see `run`).
SDL = '''
"""Any JSON value (filters, anchor events, the window description)."""
scalar JSON

type Query {
  "One of the caller's jobs; another owner's job is null with a 'not found' error."
  job(id: ID!): Job
  "The caller's jobs, a page at a time (limit 1-100); pass nextCursor back as cursor."
  jobs(limit: Int = 50, cursor: String): JobPage
  "The analytics query of POST /api/v1/query."
  query(input: QueryInput!): QueryAnswer
}

type Job {
  id: ID!
  kind: String!
  status: String!
  "Whole percentage of the file consumed, 100 once finished."
  percent: Int!
  "The same as percent."
  progress: Int!
  counts: JobCounts!
  fileName: String!
  "bytes (a Float: files may exceed a 32-bit Int)"
  sizeBytes: Float!
  createdAt: String!
  startedAt: String
  finishedAt: String
  error: String
  seq: Int!
}

type JobCounts {
  lines: Int!
  valid: Int!
  invalid: Int!
}

type JobPage {
  items: [Job!]!
  nextCursor: String
}

input WindowInput {
  "a positive duration: '10m', '30s', '1h'"
  size: String!
  "tumbling (default) or sliding"
  mode: String
}

input RelativeInput {
  "default: the query's jobs"
  jobIds: [ID!]
  filter: JSON
  duration: String!
}

input QueryInput {
  jobIds: [ID!]
  "count, sum, avg, min, max, p50, p95, p99"
  metric: String!
  field: String
  filter: JSON
  window: WindowInput
  top: Int
  relativeTo: RelativeInput
}

type Window {
  start: String!
  "exclusive"
  end: String!
  count: Int!
  "the metric over the window's entries (null when none matched)"
  value: Float
}

type AnchorRow {
  anchor: JSON!
  start: String!
  "exclusive"
  end: String!
  count: Int!
  "the metric over the entries after this anchor (null when none matched)"
  value: Float
}

type QueryAnswer {
  metric: String!
  field: String
  "null when no entry matched (except count)"
  value: Float
  n: Int!
  window: JSON
  windows: [Window!]
  rows: [AnchorRow!]
  "aggregates or entries"
  source: String!
  exact: Boolean!
}
'''

# GraphQL names → the REST body's names; the rest are spelled the same.
_BODY_NAMES = {"jobIds": "job_ids", "relativeTo": "relative_to"}


@dataclass(frozen=True)
class Context:
    """What the resolvers of one request use: the caller's owner and the REST services."""

    owner: str
    jobs: JobStore
    queries: QueryService


def _json_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


def _job(job: Job) -> dict[str, Any]:
    """A job in the schema's shape, from the same `public()` view REST returns."""
    public = job.public()
    return {
        "id": public.job_id,
        "kind": public.kind,
        "status": public.status.value,
        "percent": public.percent,
        "progress": public.percent,
        "counts": {"lines": public.lines, "valid": public.valid, "invalid": public.invalid},
        "fileName": public.file_name,
        "sizeBytes": public.size_bytes,
        "createdAt": public.created_at,
        "startedAt": public.started_at,
        "finishedAt": public.finished_at,
        "error": public.error,
        "seq": public.seq,
    }


def _body(value: dict[str, Any]) -> dict[str, Any]:
    """An input object as the REST body: REST names, unset (null) fields left out so the
    model's defaults apply. JSON scalars (filters) are passed through untouched."""
    body: dict[str, Any] = {}
    for name, item in value.items():
        if item is None:
            continue
        if isinstance(item, dict) and name in ("window", "relativeTo"):
            item = _body(item)
        body[_BODY_NAMES.get(name, name)] = item
    return body


def validation_reason(error: ValidationError) -> str:
    """The reasons of a rejected query input, one per problem, as the REST 422 gives them
    (`loc: msg`, without pydantic's "Value error, " prefix)."""
    reasons = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        reasons.append(f"{where}: {message}" if where else message)
    return "invalid query input: " + "; ".join(reasons)


def _guarded(resolve: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the service's exceptions into GraphQL errors with a clear message, never a trace."""

    def run(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        try:
            return resolve(info.context, **args)
        except HorizonError as error:
            status = status_for(error)
            if status >= 500:
                logger.error("%s: %s", type(error).__name__, error, exc_info=error)
            raise GraphQLError(str(error), extensions={"status": status}) from error
        except ValidationError as error:
            raise GraphQLError(validation_reason(error), extensions={"status": 422}) from error
        except GraphQLError:
            raise
        except Exception as error:
            logger.exception("unhandled error in the GraphQL field %s", info.field_name)
            raise GraphQLError("internal error", extensions={"status": 500}) from error

    return run


def _resolve_job(context: Context, id: str) -> dict[str, Any]:
    return _job(context.jobs.get(context.owner, id))


def _resolve_jobs(context: Context, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    if not 1 <= limit <= MAX_JOBS_PAGE:
        raise GraphQLError(
            f"limit must be between 1 and {MAX_JOBS_PAGE}", extensions={"status": 422}
        )
    found, next_cursor = context.jobs.list(context.owner, limit=limit, cursor=cursor)
    return {"items": [_job(job) for job in found], "nextCursor": next_cursor}


def _resolve_query(context: Context, input: dict[str, Any]) -> dict[str, Any]:
    answer = context.queries.run(context.owner, QueryBody.model_validate(_body(input)))
    return answer.model_dump()


def build() -> GraphQLSchema:
    """Build the schema with its resolvers and the JSON scalar's coercions."""
    schema = build_schema(SDL)
    scalar = schema.type_map["JSON"]
    assert isinstance(scalar, GraphQLScalarType)
    scalar.serialize = lambda value: value
    scalar.parse_value = lambda value: value
    scalar.parse_literal = _json_literal
    assert schema.query_type is not None
    fields = schema.query_type.fields
    fields["job"].resolve = _guarded(_resolve_job)
    fields["jobs"].resolve = _guarded(_resolve_jobs)
    fields["query"].resolve = _guarded(_resolve_query)
    return schema


SCHEMA = build()


class RequestError(Exception):
    """The request or its document is malformed (HTTP 400); `errors` are GraphQL errors."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors


def run(
    document: str,
    context: Context,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> dict[str, Any]:
    """Execute a GraphQL document.

    Args:
        document: the query text.
        context: the caller's owner and services.
        variables, operation_name: as in the GraphQL-over-HTTP request.

    Returns:
        `{"data": ..., "errors"?: [{"message", "locations", "path", "extensions"}]}`; a
        resolver's error leaves its field null and is listed in `errors`.

    Raises:
        RequestError: a syntax error, a document the schema rejects, variables that do not
            fit, or an unknown operation: nothing was executed.
    """
    try:
        parsed = parse(document, max_tokens=MAX_TOKENS)
    except GraphQLError as error:
        raise RequestError([error]) from error
    problems = validate(SCHEMA, parsed)
    if problems:
        raise RequestError(problems)
    result = execute(
        SCHEMA,
        parsed,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
    )
    assert isinstance(result, ExecutionResult)  # every resolver is synchronous
    if result.data is None and result.errors:
        # Execution never started (bad variables, unknown operation): a request error.
        raise RequestError(list(result.errors))
    return result.formatted
