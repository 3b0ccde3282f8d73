"""Structured logs that never carry secrets: Powertools' JSON Logger with masking.

Every line is masked as it is written, whatever logged it: API keys keep only their public
id (`hzn_<id>_****`), bearer tokens, JWTs, the admin key and `API_TOKENS` values become
`****`, email addresses keep their first character and domain (`a***@example.org`), and the
values of fields that hold submitted code or credentials (`code`, `source_code`, `stdin`,
`authorization`, `x-api-key`, ...) are replaced whole. A line written while a correlation id
is bound (`horizon.correlation`) carries it as `correlation_id`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from horizon import correlation
from horizon.settings import get_settings

MASK = "****"
SENSITIVE_FIELDS = frozenset(
    {"code", "source_code", "stdin", "authorization", "x-api-key", "api_key", "token", "key"}
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(hzn_[a-z0-9]{16}_)[A-Za-z0-9_-]+"), rf"\g<1>{MASK}"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), MASK),
    (re.compile(r"(?i)\b(bearer\s+)(?!\*\*\*\*)[^\s\"',;]+"), rf"\g<1>{MASK}"),
    (
        re.compile(
            r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
        ),
        r"\1***@\2",
    ),
)


def mask(text: str) -> str:
    """Return `text` with every secret and email address in it masked."""
    for secret in _configured_secrets():
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_fields(value: Any) -> Any:
    """Return `value` (a log record's fields) with the sensitive fields' values replaced."""
    if isinstance(value, dict):
        return {
            key: MASK if str(key).lower() in SENSITIVE_FIELDS and item else mask_fields(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_fields(item) for item in value]
    return value


def _configured_secrets() -> list[str]:
    try:
        settings = get_settings()
    except ValueError:  # no settings in this process (a tool, a test): nothing configured
        return []
    secrets = [*settings.tokens(), settings.horizon_admin_key or ""]
    # Longest first, so a secret containing another is masked whole.
    return sorted((secret for secret in secrets if len(secret) >= 8), key=len, reverse=True)


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, masked."""

    def format(self, record: Any) -> str:
        correlation_id = correlation.current()
        if correlation_id and not hasattr(record, correlation.ATTRIBUTE):
            setattr(record, correlation.ATTRIBUTE, correlation_id)
        for field in SENSITIVE_FIELDS & set(record.__dict__):
            if getattr(record, field):
                setattr(record, field, MASK)
        for name, value in list(record.__dict__.items()):
            if isinstance(value, dict | list):
                setattr(record, name, mask_fields(value))
        return mask(super().format(record))


@cache
def logger(service: str = "horizon") -> Logger:
    """The process's structured logger for `service` (`POWERTOOLS_SERVICE_NAME` wins)."""
    return Logger(service=service, logger_formatter=MaskingFormatter())
