"""`POST /graphql` (and `GET /graphql?query=...`): jobs and analytics queries over GraphQL.

Owner scoping, services and error reasons are those of the REST routers (same dependencies).
Resolver errors answer 200 with `errors`; a malformed request or document answers 400.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from horizon.analytics import QueryService
from horizon.api.deps import Jobs, Owner
from horizon.api.routers.query import Queries
from horizon.jobs import JobStore

router = APIRouter(tags=["graphql"])

MAX_BODY_BYTES = 64 * 1024


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"data": None, "errors": [{"message": message}]}, status_code=400)


async def _answer(owner: str, jobs: JobStore, queries: QueryService, payload: Any) -> JSONResponse:
    """Check the GraphQL-over-HTTP fields of `payload`, execute, and shape the response."""
    # graphql-core is imported on the first GraphQL request, not by every API instance's start.
    from horizon.api.graphql import Context, RequestError, run

    if not isinstance(payload, dict):
        return _bad_request("the body must be a JSON object with a 'query' string")
    document = payload.get("query")
    variables = payload.get("variables")
    operation = payload.get("operationName")
    if not isinstance(document, str) or not document.strip():
        return _bad_request("'query' must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        return _bad_request("'variables' must be a JSON object")
    if operation is not None and not isinstance(operation, str):
        return _bad_request("'operationName' must be a string")
    try:
        # Resolvers call DynamoDB synchronously: keep them off the event loop.
        context = Context(owner=owner, jobs=jobs, queries=queries)
        result = await run_in_threadpool(run, document, context, variables, operation)
    except RequestError as error:
        return JSONResponse(
            {"data": None, "errors": [e.formatted for e in error.errors]}, status_code=400
        )
    return JSONResponse(result)


# A malformed request or document: GraphQL's own error shape, not `{"detail"}`.
GRAPHQL_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "Malformed request or GraphQL document",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["data", "errors"],
                    "properties": {
                        "data": {"type": "null"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["message"],
                                "properties": {"message": {"type": "string"}},
                            },
                        },
                    },
                }
            }
        },
    }
}


# The body is read raw (GraphQL-over-HTTP errors, not FastAPI's 422), so it is documented here.
GRAPHQL_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["query"],
                "properties": {
                    "query": {"type": "string", "description": "A GraphQL document"},
                    "variables": {"type": ["object", "null"]},
                    "operationName": {"type": ["string", "null"]},
                },
            }
        }
    },
}


@router.post("/graphql", responses=GRAPHQL_ERRORS, openapi_extra={"requestBody": GRAPHQL_BODY})
async def graphql_post(
    request: Request, owner: Owner, jobs: Jobs, queries: Queries
) -> JSONResponse:
    """Execute `{"query", "variables"?, "operationName"?}`; the schema offers `job(id)`,
    `jobs(limit, cursor)` and `query(input)` (the body of `POST /api/v1/query`)."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return _bad_request(f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _bad_request("the body is not valid JSON")
    return await _answer(owner, jobs, queries, payload)


@router.get("/graphql", responses=GRAPHQL_ERRORS)
async def graphql_get(
    owner: Owner,
    jobs: Jobs,
    queries: Queries,
    query: Annotated[str, Query(max_length=MAX_BODY_BYTES)],
    variables: Annotated[str | None, Query(max_length=MAX_BODY_BYTES)] = None,
    operation_name: Annotated[str | None, Query(alias="operationName", max_length=200)] = None,
) -> JSONResponse:
    """The same with `?query=...&variables=<JSON>&operationName=...` (read-only: no schema
    field writes anything)."""
    parsed: Any = None
    if variables is not None:
        try:
            parsed = orjson.loads(variables)
        except orjson.JSONDecodeError:
            return _bad_request("'variables' is not valid JSON")
    payload = {"query": query, "variables": parsed, "operationName": operation_name}
    return await _answer(owner, jobs, queries, payload)
