"""REST proxy emulation: request → event v1, Lambda proxy response → HTTP."""

import base64
import json

import pytest

from local.gateway.rest import (
    HttpRequest,
    MalformedResponseError,
    build_rest_event,
    is_binary,
    json_error,
    map_proxy_response,
)
from tests.events import load_event


def _request(**overrides):
    values = {
        "method": "GET",
        "path": "/api/v1/jobs/abc",
        "query_string": b"",
        "headers": [("host", "127.0.0.1:8000"), ("user-agent", "pytest")],
        "body": b"",
        "source_ip": "127.0.0.1",
        "host": "127.0.0.1:8000",
    }
    values.update(overrides)
    return HttpRequest(**values)


def _keys(value):
    return set(value)


def test_event_has_every_key_of_an_aws_sample():
    sample = load_event("local_apigw_rest_proxy")
    event = build_rest_event(_request(query_string=b"verbose=1"))
    assert _keys(event) == _keys(sample)
    assert _keys(sample["requestContext"]) <= _keys(event["requestContext"])
    assert _keys(sample["requestContext"]["identity"]) <= _keys(event["requestContext"]["identity"])


def test_event_describes_the_request():
    event = build_rest_event(
        _request(method="POST", path="/batch", query_string=b"a=1&a=2&b=&c=x%20y")
    )
    assert event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "batch"}
    assert event["httpMethod"] == event["requestContext"]["httpMethod"] == "POST"
    assert event["queryStringParameters"] == {"a": "2", "b": "", "c": "x y"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""], "c": ["x y"]}
    assert event["requestContext"]["stage"] == "local"
    assert event["requestContext"]["domainName"] == "127.0.0.1:8000"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["identity"]["userAgent"] == "pytest"
    assert event["headers"]["user-agent"] == "pytest"
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_repeated_headers_keep_every_value_in_multi_and_the_last_in_single():
    event = build_rest_event(_request(headers=[("x-a", "1"), ("x-a", "2")]))
    assert event["headers"] == {"x-a": "2"}
    assert event["multiValueHeaders"] == {"x-a": ["1", "2"]}


def test_no_query_string_gives_none_maps():
    event = build_rest_event(_request())
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None


def test_root_path_goes_to_the_root_resource():
    event = build_rest_event(_request(path="/"))
    assert event["resource"] == "/"
    assert event["pathParameters"] is None


def test_json_body_travels_as_text():
    body = json.dumps({"language": "python", "code": "print('é')"}).encode()
    event = build_rest_event(
        _request(method="POST", headers=[("content-type", "application/json")], body=body)
    )
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"])["code"] == "print('é')"


def test_multipart_body_travels_base64():
    body = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{}\r\n--x--\r\n'
    event = build_rest_event(
        _request(
            method="POST",
            headers=[("content-type", "multipart/form-data; boundary=x")],
            body=body,
        )
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_non_utf8_body_travels_base64_whatever_its_type():
    body = b"\xff\xfe\x00binary"
    event = build_rest_event(
        _request(method="PUT", headers=[("content-type", "text/plain")], body=body)
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


@pytest.mark.parametrize(
    ("content_type", "binary"),
    [
        ("application/json", False),
        ("application/json; charset=utf-8", False),
        ("text/plain", False),
        ("application/vnd.api+json", False),
        ("application/x-www-form-urlencoded", False),
        (None, False),
        ("application/octet-stream", True),
        ("multipart/form-data; boundary=b", True),
        ("image/png", True),
    ],
)
def test_binary_media_types(content_type, binary):
    assert is_binary(content_type, b"abc") is binary


def test_response_maps_status_headers_and_body():
    response = map_proxy_response(
        {
            "statusCode": 202,
            "headers": {"Content-Type": "application/json", "X-One": "a"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"], "x-one": ["b"]},
            "body": '{"job_id": "j"}',
            "isBase64Encoded": False,
        }
    )
    assert response.status == 202
    assert response.body == b'{"job_id": "j"}'
    headers = response.headers
    assert ("set-cookie", "a=1") in headers and ("set-cookie", "b=2") in headers
    # multiValueHeaders win over headers for the same name, as in API Gateway.
    assert [v for n, v in headers if n == "x-one"] == ["b"]
    assert ("content-length", str(len(response.body))) in headers


def test_base64_response_body_is_decoded():
    payload = bytes(range(256))
    response = map_proxy_response(
        {"statusCode": 200, "body": base64.b64encode(payload).decode(), "isBase64Encoded": True}
    )
    assert response.body == payload


def test_missing_body_is_empty():
    assert map_proxy_response({"statusCode": 204}).body == b""


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "ok",
        {},
        {"statusCode": "abc"},
        {"statusCode": 99},
        {"statusCode": True},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "!!!", "isBase64Encoded": True},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "multiValueHeaders": {"x": "not-a-list"}},
    ],
)
def test_malformed_responses_raise(bad):
    with pytest.raises(MalformedResponseError):
        map_proxy_response(bad)


def test_gateway_errors_are_json_messages():
    response = json_error(413, "Request Too Long")
    assert response.status == 413
    assert json.loads(response.body) == {"message": "Request Too Long"}
    assert ("content-type", "application/json") in response.headers
