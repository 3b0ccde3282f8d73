"""The OpenAPI document: security schemes applied where a credential is needed, one error
schema, an example for every request body and success answer (and each example valid), and
/docs behind the API Gateway stage."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from horizon.api import create_app
from horizon.api.errors import ErrorCode
from horizon.api.openapi import PUBLIC_PATHS

SCHEMES = {
    "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "BearerAuth": {"type": "http", "scheme": "bearer"},
}

# Answers in a protocol's own shape: GraphQL-over-HTTP's `errors`, and health's report of
# what failed.
OWN_SHAPES = {("/graphql", "400"), ("/health/ready", "503")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_security_schemes_are_declared(document):
    declared = document["components"]["securitySchemes"]
    for name, scheme in SCHEMES.items():
        assert scheme.items() <= declared[name].items()


def test_every_operation_but_the_public_ones_needs_either_credential(document):
    for _method, path, operation in operations(document):
        if path in PUBLIC_PATHS:
            assert "security" not in operation
        else:
            assert operation["security"] == [{"ApiKeyAuth": []}, {"BearerAuth": []}], path


def test_every_error_answer_is_the_error_body(document):
    schema = document["components"]["schemas"]["ErrorBody"]
    assert set(schema["required"]) == {"detail", "code", "request_id"}
    codes = document["components"]["schemas"]["ErrorCode"]["enum"]
    assert codes == [code.value for code in ErrorCode]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for _method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400 and (path, status) not in OWN_SHAPES:
                media = answer["content"]["application/json"]
                assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)


def _media(document: dict[str, Any]):
    for method, path, operation in operations(document):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            yield f"{method} {path} body", media
        for status, answer in operation["responses"].items():
            if status.startswith("2"):
                for media in answer.get("content", {}).values():
                    yield f"{method} {path} {status}", media


def test_every_body_and_success_answer_has_a_valid_example(document):
    components = {"components": document["components"]}
    for where, media in _media(document):
        assert "example" in media, where
        # A $ref resolves against the document's root: give the schema the components.
        validator = Draft202012Validator({**media["schema"], **components})
        errors = [error.message for error in validator.iter_errors(media["example"])]
        assert not errors, (where, errors)


def test_docs_and_openapi_answer_without_a_credential(client, admin):
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200
