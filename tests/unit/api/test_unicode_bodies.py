"""Bodies with a lone surrogate (a JSON `\\ud800` escape): a clear 422, never a 500."""

from __future__ import annotations

import pytest

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/execute", b'{"source_code": "\\ud800"}'),
        ("/code-sessions", b'{"language": "python", "code": "\\ud800"}'),
        ("/api/v1/files", b'{"file_name": "\\ud800.jsonl"}'),
        ("/code-sessions", b'{"source_code": "\\ud800"}'),
        ("/execute", b'{"language": "python", "code": "\\udfff"}'),
    ],
)
def test_a_lone_surrogate_is_a_422(client, path, body):
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
