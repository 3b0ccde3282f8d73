"""API Gateway REST emulation: HTTP request → proxy event v1, Lambda proxy response → HTTP.

Only translation lives here; the ASGI app (local/gateway/app.py) reads the socket and calls
the function. Shapes follow
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from local.lambda_runtime import ACCOUNT_ID

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
INTEGRATION_TIMEOUT_S = 29.0
PROXY_RESOURCE = "/{proxy+}"
STAGE = "local"
API_ID = "localrestapi"

# Content types API Gateway passes as text; everything else travels base64, as it does for
# binary media types (the uploads are multipart/form-data).
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/javascript",
    "application/x-ndjson",
    "application/jsonl",
)


class MalformedResponseError(ValueError):
    """The function returned something API Gateway cannot turn into an HTTP response."""


@dataclass(frozen=True)
class HttpRequest:
    """The parts of an HTTP request that make a proxy event."""

    method: str
    path: str
    query_string: bytes
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    host: str  # "127.0.0.1:PORT": the event's domainName


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def is_binary(content_type: str | None, body: bytes) -> bool:
    """Return whether a request body travels base64-encoded in the event."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind and not kind.startswith(_TEXT_TYPES) and not kind.endswith(("+json", "+xml")):
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(name, []).append(value)
    return result


def build_rest_event(request: HttpRequest) -> dict[str, Any]:
    """Return the API Gateway REST proxy event (v1) for `request` on the `/{proxy+}` resource.

    Single-value maps hold the last value of a repeated header or parameter, as API Gateway's do.
    """
    now = datetime.now(UTC)
    headers = _multi(request.headers)
    query = _multi(
        parse_qsl(request.query_string.decode("utf-8", errors="replace"), keep_blank_values=True)
    )
    content_type = headers.get("content-type", [None])[-1]
    binary = bool(request.body) and is_binary(content_type, request.body)
    if not request.body:
        body = None
    elif binary:
        body = base64.b64encode(request.body).decode("ascii")
    else:
        body = request.body.decode("utf-8")
    # The root path has no {proxy+} to match: API Gateway routes it to the "/" resource.
    resource = "/" if request.path == "/" else PROXY_RESOURCE
    path_parameters = None if request.path == "/" else {"proxy": request.path.lstrip("/")}
    request_id = str(uuid.uuid4())
    user_agent = headers.get("user-agent", [None])[-1]
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in headers.items()} or None,
        "multiValueHeaders": headers or None,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "stage": STAGE,
            "requestId": request_id,
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii"),
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
            },
            "domainName": request.host,
            "domainPrefix": request.host.split(".", 1)[0],
            "path": request.path,
            "resourcePath": resource,
            "resourceId": "local",
            "httpMethod": request.method,
            "protocol": "HTTP/1.1",
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(time.time() * 1000),
        },
        "body": body,
        "isBase64Encoded": binary,
    }


def map_proxy_response(response: Any) -> HttpResponse:
    """Turn a Lambda proxy response into HTTP, as API Gateway does.

    Values in `multiValueHeaders` win over the same name in `headers`.

    Raises:
        MalformedResponseError: not a dict, no integer statusCode, a non-string body, bad base64.
    """
    if not isinstance(response, dict):
        raise MalformedResponseError(f"response is {type(response).__name__}, not an object")
    status = response.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponseError(f"bad statusCode {status!r}")
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedResponseError("headers must be objects")
    merged: dict[str, list[str]] = {name.lower(): [str(v)] for name, v in single.items()}
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponseError(f"multiValueHeaders[{name!r}] is not a list")
        merged[name.lower()] = [str(v) for v in values]
    body = response.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise MalformedResponseError(f"body is {type(body).__name__}, not a string")
    elif response.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise MalformedResponseError("body is not valid base64") from error
    else:
        payload = body.encode("utf-8")
    headers = [(name, value) for name, values in merged.items() for value in values]
    headers = [(n, v) for n, v in headers if n not in ("content-length", "transfer-encoding")]
    headers.append(("content-length", str(len(payload))))
    return HttpResponse(status, headers, payload)


def json_error(status: int, message: str) -> HttpResponse:
    """Return API Gateway's own error response: JSON {"message": ...}, x-amzn-ErrorType set."""
    body = json.dumps({"message": message}).encode()
    error_type = {
        413: "RequestTooLongException",
        502: "InternalServerErrorException",
        504: "IntegrationTimeoutException",
    }.get(status, "Exception")
    return HttpResponse(
        status,
        [
            ("content-type", "application/json"),
            ("x-amzn-errortype", error_type),
            ("content-length", str(len(body))),
        ],
        body,
    )
