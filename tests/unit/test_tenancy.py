"""Tenancy: tokens from API_TOKENS and from the Secrets Manager secret; fail closed in AWS."""

import json

import boto3
import pytest

from horizon.errors import DependencyError
from horizon.settings import reset_settings
from horizon.tenancy import (
    UnauthorizedError,
    _secret_cache,
    bearer_token,
    parse_token_secret,
    resolve_owner,
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    _secret_cache.clear()
    yield
    _secret_cache.clear()


def test_open_mode_is_the_single_local_tenant(aws):
    assert resolve_owner(None) == "local"


def test_required_tokens_refuse_everyone_when_none_are_configured(aws, monkeypatch):
    monkeypatch.setenv("REQUIRE_API_TOKENS", "true")
    reset_settings()
    with pytest.raises(UnauthorizedError):
        resolve_owner(None)
    with pytest.raises(UnauthorizedError):
        resolve_owner("anything")


def test_tokens_from_the_secret(aws, monkeypatch):
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(
        Name="api-tokens",
        SecretString=json.dumps({"token": "s3cr3t", "tenant": "acme", "tokens": {"t2": "beta"}}),
    )["ARN"]
    monkeypatch.setenv("API_TOKENS_SECRET_ARN", arn)
    monkeypatch.setenv("REQUIRE_API_TOKENS", "true")
    reset_settings()
    assert resolve_owner("s3cr3t") == "acme"
    assert resolve_owner("t2") == "beta"
    with pytest.raises(UnauthorizedError):
        resolve_owner("wrong")
    with pytest.raises(UnauthorizedError):
        resolve_owner(None)


def test_unreadable_secret_is_a_dependency_error(aws, monkeypatch):
    monkeypatch.setenv(
        "API_TOKENS_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone"
    )
    reset_settings()
    with pytest.raises(DependencyError):
        resolve_owner("x")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"token": "a", "tenant": "t"}', {"a": "t"}),
        ('{"tokens": {"a": "t", "b": "u"}}', {"a": "t", "b": "u"}),
        ('{"token": "", "tenant": "t"}', {}),
    ],
)
def test_secret_shapes(raw, expected):
    assert parse_token_secret(raw) == expected


@pytest.mark.parametrize("raw", ["nope", "[1]", '{"tokens": {"a": 1}}', '{"tokens": []}'])
def test_bad_secret_shapes(raw):
    with pytest.raises(DependencyError):
        parse_token_secret(raw)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_bearer_token(header, token):
    assert bearer_token(header) == token
