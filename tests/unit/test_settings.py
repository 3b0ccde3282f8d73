"""The settings model: required values, defaults, token parsing, caching."""

import pytest
from pydantic import ValidationError

from horizon.settings import Settings, get_settings, reset_settings

REQUIRED = {
    "JOBS_TABLE": "jobs",
    "ENTRIES_TABLE": "entries",
    "CONNECTIONS_TABLE": "connections",
    "UPLOADS_BUCKET": "uploads",
    "INGEST_QUEUE_URL": "http://q/ingest",
    "NOTIFY_QUEUE_URL": "http://q/notify",
    "WEBSOCKET_CALLBACK_URL": "http://127.0.0.1:8000",
    "IDEMPOTENCY_TABLE": "idempotency",
    "LIMITS_TABLE": "limits",
}


@pytest.fixture
def env(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield monkeypatch
    reset_settings()


def test_required_values_have_no_default(monkeypatch):
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError) as raised:
        Settings()
    missing = {error["loc"][0] for error in raised.value.errors()}
    assert missing == set(REQUIRED)


def test_defaults_and_overrides(env):
    settings = get_settings()
    assert settings.jobs_table == "jobs"
    assert settings.max_upload_bytes == 4 * 1024 * 1024
    assert settings.ingest_line_delay_max_s == 0
    env.setenv("INGEST_LINE_DELAY_MAX_S", "0.5")
    assert get_settings().ingest_line_delay_max_s == 0  # cached until reset
    reset_settings()
    assert get_settings().ingest_line_delay_max_s == 0.5


def test_negative_delay_is_rejected(env):
    env.setenv("INGEST_LINE_DELAY_MAX_S", "-1")
    with pytest.raises(ValidationError):
        Settings()


def test_tokens_parse_pairs_and_ignore_junk(env):
    env.setenv("API_TOKENS", "alpha=tenant-a, beta = tenant-b,junk,=nobody")
    assert get_settings().tokens() == {"alpha": "tenant-a", "beta": "tenant-b"}
