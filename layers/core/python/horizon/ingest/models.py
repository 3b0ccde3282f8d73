"""The LogEntry contract as a pydantic model.

It documents the contract (and feeds OpenAPI docs) and is the benchmark's "plain approach"
baseline. Ingestion itself uses the hand-written `horizon.ingest.validator`, which applies the
same rules several times faster; `tests/unit/ingest/test_validator.py` checks both agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from horizon.ingest.validator import parse_timestamp

# Strict: a bool is not an int, "200" is not an int, 12 is not a string.
# The upper bound is what DynamoDB can store (see `horizon.ingest.validator`).
StrictNumber = Annotated[
    StrictInt | Annotated[float, Field(strict=True)], Field(ge=0, le=9.9999999999999e125)
]


class LogEntry(BaseModel):
    """One line of an uploaded `.jsonl` log file.

    `timestamp` is required: ISO 8601 with a time of day; no zone means UTC. Keys other than the
    known ones are kept as attributes (`model_extra`).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    timestamp: datetime = Field(description="ISO 8601 date and time; no zone means UTC")
    level: StrictStr | None = None
    message: StrictStr | None = None
    service: StrictStr | None = None
    api_id: StrictStr | None = None
    endpoint: StrictStr | None = None
    event_type: StrictStr | None = None
    version_id: StrictStr | None = None
    http_status: StrictInt | None = Field(default=None, ge=100, le=599)
    response_time_ms: StrictNumber | None = None
    error_code: StrictInt | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso_string_with_time(cls, value: Any) -> datetime:
        if not isinstance(value, str):
            raise ValueError("timestamp must be an ISO 8601 string")
        parsed = parse_timestamp(value)
        if parsed is None:
            raise ValueError("timestamp must be ISO 8601 with a date and a time of day")
        return parsed
