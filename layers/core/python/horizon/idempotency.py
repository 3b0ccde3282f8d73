"""One idempotency mechanism for every capability: Powertools' idempotency on DynamoDB.

A request that carries an `Idempotency-Key` runs at most once per (operation, owner, key)
within `EXPIRES_AFTER_S`; a repeat with the same key and an equal payload gets the first
answer back without running again. The record lives in the `idempotency` table of the wiring
(`IDEMPOTENCY_TABLE`), in Powertools' own layout (`id`, `expiration`, `status`, `data`,
`validation`, `in_progress_expiration`).

Each call makes its own persistence layer over the shared DynamoDB client: Powertools keeps the
operation's name on the layer (`configure`), which threads serving different operations at once
must not share.

https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from horizon import aws
from horizon.errors import ConflictError, DependencyError, InvalidRequestError
from horizon.settings import get_settings

# The same key within a day answers the same (the contract of `POST /batch` and `/send-email`).
EXPIRES_AFTER_S = 24 * 60 * 60
# Without a Lambda context (a direct call, a test), a first call that crashed keeps its key
# "in progress" this long, then a retry may run: longer than API Gateway's 29 s integration limit.
IN_PROGRESS_FALLBACK_MS = 60_000
MAX_KEY_LENGTH = 255


class _FallbackContext:
    """The one part of Lambda's context Powertools reads: how long the call may still run."""

    def get_remaining_time_in_millis(self) -> int:
        return IN_PROGRESS_FALLBACK_MS


def is_valid_key(key: str) -> bool:
    """Return whether `key` is 1–255 visible ASCII characters (what the header accepts)."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(33 <= ord(char) <= 126 for char in key)


def run_once(
    operation: str,
    owner: str,
    key: str | None,
    payload: Any,
    run: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
    table: str | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """Run `run()` at most once per (operation, owner, key) and return its result.

    Args:
        operation: what is made idempotent ("create-batch"); part of the stored key, so it
            must stay stable across releases.
        owner: the caller's tenant: the same key of two owners never collides.
        key: the caller's `Idempotency-Key`; None runs `run()` without any record.
        payload: the request as JSON-able data; a repeat must carry an equal one.
        run: does the work; returns a JSON-able dict (the answer to replay).
        lambda_context: the invocation's context (its remaining time bounds how long a
            crashed first call blocks its key); a fixed bound when None.
        table, client: the table name and DynamoDB client; the settings' and the shared one
            when omitted.

    Returns:
        The result of `run()`: now, or as stored by the first call with this key.

    Raises:
        ConflictError: the first call with this key is still in progress.
        InvalidRequestError: the key was used before with another payload.
        DependencyError: the idempotency table failed.
        Exception: whatever `run()` raises (the key is then released for a retry).
    """
    if key is None:
        return run()
    config = IdempotencyConfig(
        event_key_jmespath="[owner, key]",
        payload_validation_jmespath="payload",
        expires_after_seconds=EXPIRES_AFTER_S,
        raise_on_no_idempotency_key=True,
    )
    config.register_lambda_context(lambda_context or _FallbackContext())
    persistence = DynamoDBPersistenceLayer(
        table_name=table or get_settings().idempotency_table,
        boto3_client=client or aws.client("dynamodb"),
    )

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=persistence,
        config=config,
        key_prefix=operation,
    )
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return run()

    try:
        return once(request={"owner": owner, "key": key, "payload": payload})
    except IdempotencyAlreadyInProgressError as error:
        raise ConflictError(
            "a request with this Idempotency-Key is still in progress; retry shortly"
        ) from error
    except IdempotencyValidationError as error:
        raise InvalidRequestError(
            "this Idempotency-Key was already used with a different request"
        ) from error
    except IdempotencyPersistenceLayerError as error:
        raise DependencyError("could not record the Idempotency-Key") from error
