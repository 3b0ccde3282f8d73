"""CORS from the settings (allowed and refused origins, credentials never with `*`) and the
security headers on every answer."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from horizon.api.security_headers import SECURITY_HEADERS
from horizon.settings import Settings, reset_settings

APP = "https://app.example.org"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}


@pytest.fixture
def cors(aws, monkeypatch):
    """Set the CORS variables (None: unset) and return a function doing it."""

    def configure(origins: str | None, credentials: bool = False) -> None:
        monkeypatch.setenv("CORS_ALLOW_ORIGINS", origins or "")
        monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", str(credentials).lower())
        monkeypatch.setenv("CORS_MAX_AGE_S", "900")
        reset_settings()

    yield configure
    reset_settings()


def test_a_preflight_from_an_allowed_origin_is_answered_and_cached(client, cors):
    cors(f"{APP}/, https://admin.example.org", credentials=True)
    response = client.options("/execute", headers={"Origin": APP, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "x-api-key" in response.headers["Access-Control-Allow-Headers"].lower()
    assert response.headers["Access-Control-Max-Age"] == "900"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["X-Request-Id"]


def test_a_preflight_from_another_origin_is_refused_in_the_error_shape(client, cors):
    cors(APP)
    response = client.options("/execute", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response.headers
    body = response.json()
    assert body["code"] == "bad_request" and "origin" in body["detail"]
    assert body["request_id"] == response.headers["X-Request-Id"]


def test_simple_answers_name_the_allowed_origin_and_expose_the_ids(client, cors):
    cors(APP)
    allowed = client.get("/api/v1/jobs", headers={"Origin": APP})
    assert allowed.headers["Access-Control-Allow-Origin"] == APP
    assert "X-Request-Id" in allowed.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in allowed.headers  # not asked for
    other = client.get("/api/v1/jobs", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # Errors carry CORS too, or a browser's script could not read why it failed.
    missing = client.get("/api/v1/jobs/nope", headers={"Origin": APP})
    assert missing.status_code == 404
    assert missing.headers["Access-Control-Allow-Origin"] == APP


def test_without_origins_no_cors_headers_at_all(client, cors):
    cors(None)
    response = client.options("/execute", headers={"Origin": APP, **PREFLIGHT})
    assert not [name for name in response.headers if name.lower().startswith("access-control")]


def test_any_origin_without_credentials(client, cors):
    cors("*")
    response = client.get("/api/v1/jobs", headers={"Origin": APP})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_credentials_are_never_allowed_with_any_origin(aws, monkeypatch):
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://a.example, *")
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "true")
    with pytest.raises(ValidationError, match="explicit CORS_ALLOW_ORIGINS"):
        Settings()  # type: ignore[call-arg]


def test_origins_are_parsed(aws, monkeypatch):
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", " https://a.example/ ,,https://b.example:8443")
    assert Settings().cors_origins() == ("https://a.example", "https://b.example:8443")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/health"), ("GET", "/api/v1/jobs"), ("GET", "/api/v1/jobs/nope"), ("GET", "/docs")],
)
def test_security_headers_on_every_answer(client, method, path):
    response = client.request(method, path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


def test_security_headers_on_errors_of_the_router_and_on_preflights(client, cors):
    cors(APP)
    for response in (
        client.delete("/api/v1/jobs"),
        client.options("/execute", headers={"Origin": APP, **PREFLIGHT}),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
