"""The REST client: one httpx client, every error answer turned into a `CliError`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from horizon_cli.errors import ApiError, CliError, NotFound, RateLimited, Refused, Unreachable

# Routes cap their pages at 100 (jobs, keys) to 1000 (entries): 100 is safe everywhere.
PAGE_SIZE = 100
MEDIA_TYPES = {".csv": "text/csv"}
DEFAULT_MEDIA_TYPE = "application/x-ndjson"


def detail_of(response: httpx.Response) -> str:
    """The error's `detail` in words: a sentence, or FastAPI's validation errors joined."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        parts = []
        for problem in detail:
            if isinstance(problem, dict):
                where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
                parts.append(f"{where}: {problem.get('msg')}" if where else str(problem.get("msg")))
        return "; ".join(parts) or "invalid request"
    if detail:
        return str(detail)
    return response.text.strip()[:200] or response.reason_phrase


def error_for(response: httpx.Response) -> CliError:
    """The `CliError` an error answer means (401/403 refused, 404, 429 with Retry-After)."""
    status, detail = response.status_code, detail_of(response)
    if status == 401:
        return Refused(
            f"the API refused the credential (401): {detail}. "
            "Set --api-key, HORIZON_API_KEY or api_key in the profile"
        )
    if status == 403:
        return Refused(f"this key may not do that (403): {detail}")
    if status == 404:
        return NotFound(f"not found (404): {detail}")
    if status == 429:
        retry = response.headers.get("Retry-After")
        seconds = int(retry) if retry and retry.isdigit() else None
        when = f"retry in {seconds} s" if seconds is not None else "retry later"
        return RateLimited(f"rate limited (429): {detail}; {when}", seconds)
    return ApiError(f"the API answered {status}: {detail}", status)


class ApiClient:
    """Calls the REST API with the credential as a bearer token.

    Args:
        base_url: the REST base URL (a deployed stack's includes its stage).
        api_key: sent as `Authorization: Bearer` (keys and API_TOKENS tokens alike).
        transport: an httpx transport; tests pass a `MockTransport`.
        timeout_s: per request; API Gateway answers within 29 s.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 35.0,
    ) -> None:
        self.base_url = base_url
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(transport=transport, timeout=timeout_s)

    def send(
        self,
        method: str,
        url: str,
        *,
        authorized: bool = True,
        **options: Any,
    ) -> httpx.Response:
        """Send one request and return its (successful) answer.

        `url` is a path of the API, or an absolute URL (a presigned S3 POST: `authorized`
        False, so the credential never leaves for another host).

        Raises:
            Unreachable: no answer (connection refused, DNS, timeout).
            CliError: an error answer, as `error_for` maps it.
        """
        target = url if "://" in url else self.base_url + url
        headers = {**(self._auth if authorized else {}), **options.pop("headers", {})}
        try:
            response = self._http.request(method, target, headers=headers, **options)
        except httpx.TimeoutException as error:
            raise Unreachable(
                f"no answer from {target} in time ({type(error).__name__})"
            ) from error
        except httpx.TransportError as error:
            reason = str(error) or type(error).__name__
            raise Unreachable(f"cannot reach {self.base_url}: {reason}") from error
        if response.is_error:
            raise error_for(response)
        return response

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.send("GET", path, params=params).json()

    def post(self, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        response = self.send("POST", path, json=body, headers=dict(headers or {}))
        return response.json() if response.content else None

    def post_answer(self, path: str, body: Any) -> httpx.Response:
        """POST and return the answer itself, for routes whose status matters (200 vs 202)."""
        return self.send("POST", path, json=body)

    def delete(self, path: str) -> Any:
        response = self.send("DELETE", path)
        return response.json() if response.content else None

    def pages(
        self, path: str, items_key: str, limit: int | None, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield up to `limit` items (all when None), following `next_cursor`."""
        cursor: str | None = None
        given = 0
        while limit is None or given < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - given)
            query = {**(params or {}), "limit": size, **({"cursor": cursor} if cursor else {})}
            page = self.get(path, query)
            for item in page.get(items_key) or []:
                yield item
                given += 1
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- uploads -----------------------------------------------------------------------------

    def upload_direct(self, file: Path) -> dict[str, Any]:
        """`POST /api/v1/files/upload` (multipart `file`); 413 when too large for the API."""
        media = MEDIA_TYPES.get(file.suffix.lower(), DEFAULT_MEDIA_TYPE)
        with file.open("rb") as body:
            response = self.send(
                "POST", "/api/v1/files/upload", files={"file": (file.name, body, media)}
            )
        return response.json()

    def upload_presigned(self, file: Path) -> dict[str, Any]:
        """`POST /api/v1/files` for a presigned POST, then the file straight to S3.

        The job starts when S3 has the object, so the answer is the job as first created.
        """
        size = file.stat().st_size
        media = MEDIA_TYPES.get(file.suffix.lower(), DEFAULT_MEDIA_TYPE)
        created = self.post(
            "/api/v1/files", {"file_name": file.name, "size_bytes": size, "content_type": media}
        )
        upload = created["upload"]
        # S3 reads the form fields first and the file last, in the order of the form.
        with file.open("rb") as body:
            self.send(
                "POST",
                upload["url"],
                authorized=False,
                data=upload["fields"],
                files={"file": (file.name, body, upload["fields"].get("Content-Type", media))},
                timeout=None,
            )
        return {key: value for key, value in created.items() if key != "upload"}


def compact(value: Any) -> str:
    """One-line JSON, for values shown in tables."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
