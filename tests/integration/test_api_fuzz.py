"""The REST API against an independent fuzzer: schemathesis reads `/openapi.json` of the
running local stack and sends generated requests, valid and not, to every operation.

Checks: no 5xx, only documented status codes, bodies matching their documented schemas, the
documented content types. Bounded (examples per operation) and derandomized, so a run is the
same every time and stays within the suite's budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from horizon.api.openapi import PUBLIC_PATHS
from tests.integration.conftest import RunningStack, start_local_stack

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 20
ADMIN_KEY = "fuzzer-admin-key-0123456789"
# Who calls: nobody on an open stack (the development tenant); on a stack with credentials,
# nobody (every answer must be a documented 401) and the admin key (every route reached).
MODES = {"open": None, "no-credential": {}, "admin-key": {"X-API-Key": ADMIN_KEY}}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) the app documents, read in-process for the test ids."""
    from horizon.api import create_app

    document = create_app().openapi()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture(scope="module")
def keyed_stack() -> Iterator[RunningStack]:
    with start_local_stack(HORIZON_ADMIN_KEY=ADMIN_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def schemas(local_stack: RunningStack, keyed_stack: RunningStack) -> dict[str, Any]:
    return {
        "open": schemathesis.openapi.from_url(f"{local_stack.rest_url}/openapi.json"),
        "keyed": schemathesis.openapi.from_url(f"{keyed_stack.rest_url}/openapi.json"),
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda value: str(value))
def test_every_operation_holds_up(
    schemas: dict[str, Any], mode: str, method: str, path: str
) -> None:
    headers = MODES[mode]
    operation = schemas["open" if headers is None else "keyed"][path][method]

    @given(operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS, headers=headers, timeout=30)
        if headers == {} and path not in PUBLIC_PATHS:
            assert response.status_code == 401, (case.method, case.formatted_path)

    fuzz()
